"""Failover never replays a request the upstream may have run.

The pipeline sends a failed request to another replica only when it cannot have reached
the first (connection refused, a full queue, a backend that did not start). A request that
was written — to an upstream that then closed the connection without an answer, or to a
backend that crashed under it — is answered with an error and never sent again.
"""

import json
import pathlib
import socket
import sys
import threading

import httpx

from conftest import Gateway

FAKE = pathlib.Path(__file__).with_name("fake_backend.py")


class Closer:
    """An upstream that reads each whole request, counts it, and closes the connection
    without a byte of an answer."""

    def __init__(self):
        self.count = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                while len(body) < length:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    body += chunk
                if head:
                    self.count += 1

    def close(self):
        self.sock.close()


def chat(gw, model="m"):
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    return httpx.post(f"{gw.url}/v1/chat/completions", json=body, timeout=30)


def test_a_request_an_upstream_read_and_dropped_is_not_sent_again():
    a, b = Closer(), Closer()
    gw = Gateway(f"""
[[backends]]
name = "a"
kind = "openai"
url = "{a.url}/v1"

[[backends]]
name = "b"
kind = "openai"
url = "{b.url}/v1"

[[models]]
name = "m"
backends = ["a", "b"]
""", "closer")
    try:
        for n in range(1, 4):
            r = chat(gw)
            assert r.status_code == 502, r.text
            assert "error" in r.json()
            assert a.count + b.count == n, f"request {n} ran {a.count + b.count - n + 1} times"
    finally:
        gw.stop()
        a.close()
        b.close()


def test_a_request_that_crashed_a_replica_is_not_sent_to_the_other(tmp_path):
    events = {name: tmp_path / f"events-{name}" for name in ("one", "two")}
    backends = "".join(f"""
[[backends]]
name = "{name}"
kind = "openai"
[backends.lifecycle]
provider = "process"
command = {json.dumps([sys.executable, str(FAKE), "--events", str(path)])}
ready_line = "fake-backend listening on "
""" for name, path in events.items())
    gw = Gateway(backends + """
[[models]]
name = "crash-now"
backends = ["one", "two"]
""", "crash")
    try:
        r = chat(gw, "crash-now")
        assert r.status_code == 502, r.text
        assert "crashed" in r.json()["error"]["message"], r.text
        stats = {name: gw.backend_stats(name) for name in events}
        assert sum(s["requests"] for s in stats.values()) == 1, stats
    finally:
        gw.stop()
