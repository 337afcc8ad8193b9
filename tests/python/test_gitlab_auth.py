"""Token authentication with the real binary: GitLab's instance tokens and the IDE tokens the
gateway mints, and a company's OIDC tokens through the official `openai` client.

A small identity provider runs here on 127.0.0.1: GitLab's OIDC discovery and JWKS at its
root, an SSO provider's under /sso. Tokens are signed fresh with PyJWT and the throw-away keys
in tests/fixtures/jwt/, and the gateway fetches the public halves as it would from GitLab.
"""

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import jwt
import openai
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from conftest import Gateway, ROOT

KEYS = ROOT / "tests" / "fixtures" / "jwt"
GITLAB_FIXTURES = ROOT / "tests" / "fixtures" / "gitlab"
INSTANCE = "5c4f2d5e-7a8b-4c1d-9e0f-1a2b3c4d5e6f"
USER = "777"


def private_key(name: str):
    return load_pem_private_key((KEYS / name).read_bytes(), password=None)


def public_jwk(name: str, kid: str) -> dict:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private_key(name).public_key()))
    return jwk | {"kid": kid, "use": "sig", "alg": "RS256"}


class Provider:
    """GitLab's discovery and keys at `/`, an SSO provider's at `/sso`; JWKS GETs counted."""

    def __init__(self):
        self.keys = {"": [public_jwk("rsa_a.pem", "gitlab-a")], "/sso": [public_jwk("rsa_b.pem", "sso-1")]}
        self.jwks_hits = {"": 0, "/sso": 0}
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                for base in ("/sso", ""):
                    if self.path == f"{base}/.well-known/openid-configuration":
                        return self.reply({"issuer": f"{provider.url}{base}", "jwks_uri": f"{provider.url}{base}/keys"})
                    if self.path == f"{base}/keys":
                        provider.jwks_hits[base] += 1
                        return self.reply({"keys": provider.keys[base]})
                self.send_response(404)
                self.end_headers()

            def reply(self, body: dict):
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


MODELS = """
[[backends]]
name = "mock"
kind = "mock"
[backends.mock]
mode = "fixed"
text = " bool:\\n    return n % 2 == 0"

[[models]]
name = "echo"
backend = "mock"
capabilities = ["completion", "insert"]

[[models]]
name = "other"
backend = "mock"
"""


@pytest.fixture(scope="module")
def env():
    idp = Provider()
    gw = Gateway(
        f"""
[auth]
mode = ["gitlab", "oidc"]

[auth.gitlab]
url = "{idp.url}"
signing_key = "file:{KEYS / 'rsa_c.pem'}"

[auth.oidc]
issuer = "{idp.url}/sso"
audience = "devassist"
user_claim = "email"

[auth.oidc.groups.developers]
models = ["echo"]
{MODELS}""",
        name="gitlab-auth",
    )
    # The gateway fetches both key sets at start.
    deadline = time.monotonic() + 10
    while min(idp.jwks_hits.values()) < 1:
        assert time.monotonic() < deadline, gw.logs()
        time.sleep(0.02)
    yield gw, idp
    gw.stop()
    idp.close()


def instance_token(idp: Provider, **changes) -> str:
    """What GitLab self-managed signs for its AI gateway (Gitlab::CloudConnector::SelfIssuedToken)."""
    now = int(time.time())
    claims = {
        "jti": str(uuid.uuid4()),
        "aud": "gitlab-ai-gateway",
        "iss": idp.url,
        "sub": INSTANCE,
        "iat": now,
        "nbf": now - 5,
        "exp": now + 3600,
        "gitlab_realm": "self-managed",
        "gitlab_instance_id": INSTANCE,
        "scopes": ["complete_code", "generate_code", "duo_chat"],
    } | changes
    return jwt.encode(claims, private_key("rsa_a.pem"), algorithm="RS256", headers={"kid": "gitlab-a"})


def gitlab_headers(token: str) -> dict:
    return {
        "Authorization": f"Bearer {token}",
        "X-Gitlab-Authentication-Type": "oidc",
        "X-Gitlab-Instance-Id": INSTANCE,
        "X-Gitlab-Realm": "self-managed",
        "X-Gitlab-Global-User-Id": USER,
        "X-Request-ID": str(uuid.uuid4()),
    }


def completion_body() -> dict:
    return json.loads((GITLAB_FIXTURES / "v2_completion_self_hosted.json").read_text())


def test_a_self_managed_completion_with_a_fresh_instance_token(env):
    gw, idp = env
    r = httpx.post(f"{gw.url}/v2/code/completions", json=completion_body(), headers=gitlab_headers(instance_token(idp)))
    assert r.status_code == 200, r.text
    assert r.json()["object"] == "text_completion"
    assert r.json()["choices"][0]["text"].startswith(" bool:\n    return n % 2 == 0"), r.text

    # GitLab's words for what is wrong.
    r = httpx.post(f"{gw.url}/v2/code/completions", json=completion_body())
    assert (r.status_code, r.json()) == (401, {"error": "No authorization header presented"})
    expired = instance_token(idp, exp=int(time.time()) - 120)
    r = httpx.post(f"{gw.url}/v2/code/completions", json=completion_body(), headers=gitlab_headers(expired))
    assert (r.status_code, r.json()) == (401, {"error": "Forbidden by auth provider"})
    r = httpx.post(
        f"{gw.url}/v2/code/completions",
        json=completion_body(),
        headers=gitlab_headers(instance_token(idp)) | {"X-Gitlab-Realm": "saas"},
    )
    assert (r.status_code, r.json()) == (401, {"error": "Header mismatch 'X-Gitlab-Realm'"})
    chat_only = instance_token(idp, scopes=["duo_chat"])
    r = httpx.post(f"{gw.url}/v2/code/completions", json=completion_body(), headers=gitlab_headers(chat_only))
    assert (r.status_code, r.json()) == (403, {"detail": "Unauthorized to access code completions"})


def test_an_ide_token_minted_by_the_gateway(env):
    gw, idp = env
    r = httpx.post(f"{gw.url}/v1/code/user_access_token", headers=gitlab_headers(instance_token(idp)))
    assert r.status_code == 200, r.text
    minted = r.json()
    assert set(minted) == {"token", "expires_at"}
    assert abs(minted["expires_at"] - (time.time() + 3600)) < 60
    # The IDE sends it straight to the gateway, with the headers Rails gave it.
    r = httpx.post(f"{gw.url}/v2/completions", json=completion_body(), headers=gitlab_headers(minted["token"]))
    assert r.status_code == 200, r.text
    r = httpx.post(f"{gw.url}/v2/code/generations", json=completion_body(), headers=gitlab_headers(minted["token"]))
    assert (r.status_code, r.json()) == (403, {"detail": "Unauthorized to access code generations"})


def sso_token(idp: Provider, email: str, groups: list[str]) -> str:
    now = int(time.time())
    claims = {"iss": f"{idp.url}/sso", "aud": "devassist", "sub": email, "email": email,
              "groups": groups, "iat": now, "exp": now + 600}
    return jwt.encode(claims, private_key("rsa_b.pem"), algorithm="RS256", headers={"kid": "sso-1"})


def test_an_sso_user_through_the_openai_client(env):
    gw, idp = env
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=sso_token(idp, "ana@corp.example", ["developers"]))
    answer = client.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hello"}])
    assert answer.choices[0].message.content
    with pytest.raises(openai.PermissionDeniedError) as e:
        client.chat.completions.create(model="other", messages=[{"role": "user", "content": "hello"}])
    assert e.value.status_code == 403
    assert "user `ana@corp.example` (groups: developers) may not use model `other`" in str(e.value)

    outsider = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=sso_token(idp, "eve@corp.example", ["interns"]))
    with pytest.raises(openai.PermissionDeniedError):
        outsider.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hello"}])
    forged = jwt.encode(
        {"iss": f"{idp.url}/sso", "aud": "devassist", "email": "ana@corp.example", "groups": ["developers"],
         "exp": int(time.time()) + 600},
        private_key("rsa_c.pem"), algorithm="RS256", headers={"kid": "sso-1"},
    )
    with pytest.raises(openai.AuthenticationError) as e:
        openai.OpenAI(base_url=f"{gw.url}/v1", api_key=forged).models.list()
    assert "the signature does not match" in str(e.value)
