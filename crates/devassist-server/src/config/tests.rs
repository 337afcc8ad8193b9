use super::*;

fn check(text: &str) -> Result<Settings, ConfigError> {
    from_str(text, &[], &|_| None)
}

fn paths(err: &ConfigError) -> Vec<&str> {
    err.problems.iter().map(|p| p.path.as_str()).collect()
}

#[test]
fn empty_config_gives_defaults() -> Result<(), ConfigError> {
    let s = check("")?;
    assert_eq!(s.server.listen.to_string(), "127.0.0.1:11434");
    assert_eq!(s.server.max_body_bytes, 16 * 1024 * 1024);
    assert!(s.backends.is_empty());
    Ok(())
}

#[test]
fn reports_every_problem_with_its_path() {
    let err = check(
        r#"
[server]
listen = "nope"
colour = "blue"

[[backends]]
name = "a"
kind = "openai"
connect_timeout = "soon"

[[backends]]
name = "b"
kind = "carrier-pigeon"

[[models]]
name = "m"
backend = "zzz"
"#,
    )
    .err();
    let Some(err) = err else {
        panic!("config with problems was accepted")
    };
    let paths = paths(&err);
    for expected in [
        "server.listen",
        "server.colour",
        "backends[0].url",
        "backends[0].connect_timeout",
        "backends[1].kind",
        "models[0].backend",
    ] {
        assert!(
            paths.contains(&expected),
            "{expected} missing from {paths:?}"
        );
    }
}

#[test]
fn wrong_type_names_the_key() {
    let Err(err) = check("[server]\nmax_body_bytes = \"big\"\n") else {
        panic!("accepted a string for an integer")
    };
    assert_eq!(paths(&err), vec!["server.max_body_bytes"]);
}

#[test]
fn secrets_resolve_from_env_and_unknown_env_override_is_rejected() {
    let text = "[[backends]]\nname='v'\nkind='openai'\nurl='http://x/v1'\napi_key='env:K'\n";
    let vars = vec![("DEVASSIST_SERVER__NOPE".to_string(), "1".to_string())];
    let Err(err) = from_str(text, &vars, &|n| (n == "K").then(|| "k".into())) else {
        panic!("unknown override accepted")
    };
    assert_eq!(paths(&err), vec!["server.nope"]);
    let ok = from_str(text, &[], &|n| (n == "K").then(|| "k".into()));
    assert!(ok.is_ok_and(|s| s.backends[0].api_key.as_ref().map(|k| k.expose()) == Some("k")));
}

#[test]
fn documented_example_is_valid() {
    let doc = include_str!("../../../../docs/configuration.md");
    let mut found = 0;
    for block in doc.split("```toml").skip(1) {
        let Some((toml, _)) = block.split_once("```") else {
            continue;
        };
        found += 1;
        let env = |n: &str| Some(format!("value-of-{n}"));
        if let Err(e) = from_str(toml, &[], &env) {
            panic!("docs/configuration.md example is invalid:\n{e}\n---\n{toml}");
        }
    }
    assert!(found > 0, "no toml examples in docs/configuration.md");
}

#[test]
fn server_limits_are_validated() -> Result<(), ConfigError> {
    let s = check("")?;
    assert_eq!(
        (s.server.max_connections, s.server.max_in_flight),
        (None, None),
        "sized at start-up from the descriptor limit"
    );
    assert_eq!(s.server.body_timeout, std::time::Duration::from_secs(30));
    let s =
        check("[server]\nmax_connections = 1000\nmax_in_flight = 200\nbody_timeout = \"5s\"\n")?;
    assert_eq!(
        (s.server.max_connections, s.server.max_in_flight),
        (Some(1000), Some(200))
    );
    assert_eq!(s.server.body_timeout, std::time::Duration::from_secs(5));
    for (text, path, message) in [
        (
            "max_connections = 0",
            "server.max_connections",
            "between 1 and",
        ),
        (
            "max_in_flight = 2000000",
            "server.max_in_flight",
            "between 1 and",
        ),
        (
            "max_connections = 10\nmax_in_flight = 20",
            "server.max_in_flight",
            "must not exceed server.max_connections (10)",
        ),
        (
            "body_timeout = \"0s\"",
            "server.body_timeout",
            "greater than 0",
        ),
        (
            "body_timeout = \"soon\"",
            "server.body_timeout",
            "not a duration",
        ),
        ("max_in_flight = -1", "server.max_in_flight", ""),
    ] {
        let Err(err) = check(&format!("[server]\n{text}\n")) else {
            panic!("accepted: {text}");
        };
        assert!(
            err.problems
                .iter()
                .any(|p| p.path == path && p.message.contains(message)),
            "{text}: {err}"
        );
    }
    Ok(())
}
