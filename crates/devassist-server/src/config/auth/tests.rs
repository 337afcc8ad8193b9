use super::*;
use crate::config::from_str;

const PEM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/jwt/");

fn settings(api_keys: bool, allow_anonymous: bool) -> AuthSettings {
    AuthSettings {
        api_keys,
        allow_anonymous,
        ..AuthSettings::default()
    }
}

fn problems(text: &str) -> Vec<String> {
    match from_str(text, &[], &|_| None) {
        Ok(_) => Vec::new(),
        Err(e) => e.problems.iter().map(ToString::to_string).collect(),
    }
}

fn auth(text: &str) -> AuthSettings {
    match from_str(text, &[], &|_| None) {
        Ok(s) => s.auth,
        Err(e) => panic!("{e}\n---\n{text}"),
    }
}

#[test]
fn only_an_unauthenticated_network_listener_is_refused() {
    let lo: SocketAddr = "127.0.0.1:11434".parse().unwrap();
    let lo6: SocketAddr = "[::1]:11434".parse().unwrap();
    let any: SocketAddr = "0.0.0.0:11434".parse().unwrap();
    let lan: SocketAddr = "192.168.1.5:80".parse().unwrap();
    for addr in [lo, lo6] {
        assert!(check_exposure(addr, &settings(false, false)).is_ok());
    }
    let gitlab =
        auth("[auth]\nmode = \"gitlab\"\n[auth.gitlab]\nurl = \"https://gitlab.example.com\"");
    let oidc = auth(
        "[auth]\nmode = \"oidc\"\n[auth.oidc]\nissuer = \"https://sso.example.com\"\naudience = \"devassist\"",
    );
    for addr in [any, lan] {
        let err = check_exposure(addr, &settings(false, false)).unwrap_err();
        assert!(err.contains("mode = \"api_keys\""), "{err}");
        assert!(err.contains("allow_anonymous = true"), "{err}");
        assert!(check_exposure(addr, &settings(false, true)).is_ok());
        assert!(check_exposure(addr, &settings(true, false)).is_ok());
        assert!(
            check_exposure(addr, &gitlab).is_ok(),
            "GitLab tokens are authentication"
        );
        assert!(
            check_exposure(addr, &oidc).is_ok(),
            "OIDC tokens are authentication"
        );
    }
}

#[test]
fn modes_are_one_or_a_list_and_each_token_mode_needs_its_table() {
    assert_eq!(auth("").modes(), vec![]);
    assert_eq!(auth("[auth]\nmode = \"none\"").modes(), vec![]);
    assert_eq!(
        auth("[auth]\nmode = \"api_keys\"").modes(),
        vec![AuthMode::ApiKeys]
    );
    let both = auth(
        "[auth]\nmode = [\"gitlab\", \"api_keys\"]\n[auth.gitlab]\nurl = \"https://gitlab.example.com/\"",
    );
    assert_eq!(both.modes(), vec![AuthMode::ApiKeys, AuthMode::GitLab]);
    let gitlab = both.gitlab.as_ref().unwrap();
    assert_eq!(
        gitlab.url, "https://gitlab.example.com",
        "no trailing slash"
    );
    assert_eq!(gitlab.timing.leeway, std::time::Duration::from_secs(30));
    assert_eq!(
        gitlab.timing.refetch_interval,
        std::time::Duration::from_secs(30)
    );

    for (text, expect) in [
        (
            "[auth]\nmode = \"gitlab\"",
            "auth.gitlab: `mode` includes `gitlab`, which needs",
        ),
        (
            "[auth]\nmode = \"oidc\"",
            "auth.oidc: `mode` includes `oidc`",
        ),
        (
            "[auth]\nmode = \"api_keys\"\n[auth.gitlab]\nurl = \"https://g\"",
            "auth.gitlab: is set but `mode` does not include `gitlab`",
        ),
        ("[auth]\nmode = \"jwt\"", "`jwt` is called `oidc`"),
        ("[auth]\nmode = \"basic\"", "auth.mode: `basic` is not"),
        (
            "[auth]\nmode = [\"none\", \"api_keys\"]",
            "`none` cannot be combined",
        ),
        (
            "[auth]\nmode = \"gitlab\"\n[auth.gitlab]\nurl = \"gitlab.example.com\"",
            "auth.gitlab.url: `gitlab.example.com` is not an http(s) URL",
        ),
        (
            "[auth]\nmode = \"gitlab\"\n[auth.gitlab]\nurl = \"https://g\"\nsigning_key = \"-----BEGIN\"",
            "auth.gitlab.signing_key: secrets must be given as",
        ),
        (
            "[auth]\nmode = \"gitlab\"\n[auth.gitlab]\nurl = \"https://g\"\nleeway = \"soon\"",
            "auth.gitlab.leeway",
        ),
        (
            "[auth]\nmode = \"oidc\"\n[auth.oidc]\naudience = \"d\"",
            "auth.oidc.issuer: is required",
        ),
        (
            "[auth]\nmode = \"oidc\"\n[auth.oidc]\nissuer = \"https://i\"",
            "auth.oidc.audience: is required",
        ),
    ] {
        let found = problems(text);
        assert!(
            found.iter().any(|p| p.contains(expect)),
            "{expect} in {found:?}"
        );
    }
}

#[test]
fn keys_are_checked_at_load() {
    let base = "[auth]\nmode = \"gitlab\"\n[auth.gitlab]\nurl = \"https://g\"\n";
    let ok = auth(&format!(
        "{base}signing_key = \"file:{PEM}rsa_a.pem\"\nvalidation_keys = [\"file:{PEM}rsa_b.pem\", \"file:{PEM}rsa_a.pub.pem\"]"
    ));
    let gitlab = ok.gitlab.unwrap();
    assert!(gitlab.signing_key.is_some());
    assert_eq!(gitlab.validation_keys.len(), 2);
    let found = problems(&format!("{base}signing_key = \"file:{PEM}ec_a.pem\""));
    assert!(
        found
            .iter()
            .any(|p| p.contains("auth.gitlab.signing_key: not an RSA private key")),
        "{found:?}"
    );
    let found = problems(&format!(
        "{base}validation_keys = [\"file:{PEM}README.md\"]"
    ));
    assert!(
        found
            .iter()
            .any(|p| p.contains("auth.gitlab.validation_keys[0]: not an RSA key")),
        "{found:?}"
    );
}

#[test]
fn oidc_algorithms_are_asymmetric_only_and_groups_are_policies() {
    let base = "[auth]\nmode = \"oidc\"\n[auth.oidc]\nissuer = \"https://sso.example.com\"\naudience = [\"devassist\", \"ide\"]\n";
    for bad in ["HS256", "none", "ES999"] {
        let found = problems(&format!("{base}algorithms = [\"{bad}\"]"));
        assert!(
            found
                .iter()
                .any(|p| p.contains(&format!("auth.oidc.algorithms: `{bad}` is not one of"))),
            "{bad}: {found:?}"
        );
    }
    let s = auth(&format!(
        "{base}algorithms = [\"RS256\", \"ES256\"]\nuser_claim = \"email\"\n\
         [auth.oidc.groups.dev]\nmodels = [\"echo\"]\nfeatures = [\"chat\"]\nrpm = 10\ntoken_budget = 1000\nbudget_period = \"30d\"\n\
         [auth.oidc.groups.ops]\nadmin = true\n"
    ))
    .oidc
    .unwrap();
    assert_eq!(
        s.algorithms,
        vec![
            jsonwebtoken::Algorithm::RS256,
            jsonwebtoken::Algorithm::ES256
        ]
    );
    assert_eq!(s.audience, vec!["devassist", "ide"]);
    assert_eq!(
        (s.user_claim.as_str(), s.groups_claim.as_str()),
        ("email", "groups")
    );
    let dev = &s.groups["dev"];
    assert_eq!(dev.features, Some(vec![devassist_core::Feature::Chat]));
    assert_eq!(dev.limits.rpm, Some(10));
    assert_eq!(dev.limits.token_budget.unwrap().tokens, 1000);
    assert!(s.groups["ops"].admin && s.groups["ops"].models.is_none());

    for (group, expect) in [
        (
            "features = [\"painting\"]",
            "auth.oidc.groups.g.features: `painting` is not a feature",
        ),
        ("rpm = 0", "auth.oidc.groups.g.rpm: must be greater than 0"),
        (
            "token_budget = 5",
            "auth.oidc.groups.g.budget_period: is required",
        ),
        (
            "budget_period = \"1d\"",
            "auth.oidc.groups.g.token_budget: is required",
        ),
        ("colour = \"red\"", "auth.oidc.groups.g.colour: unknown key"),
    ] {
        let found = problems(&format!("{base}[auth.oidc.groups.g]\n{group}\n"));
        assert!(
            found.iter().any(|p| p.contains(expect)),
            "{expect} in {found:?}"
        );
    }
}
