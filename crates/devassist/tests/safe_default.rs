//! The safe default, on the real binary: `serve` on a non-loopback address without
//! authentication exits with status 2 and a message naming both ways out; `keys` creates a
//! key whose secret is printed once and never listed.

use std::process::Command;

fn devassist() -> Command {
    Command::new(env!("CARGO_BIN_EXE_devassist"))
}

#[test]
fn a_network_listener_without_auth_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("devassist.toml");
    std::fs::write(&config, "[[backends]]\nname = \"m\"\nkind = \"mock\"\n[[models]]\nname = \"echo\"\nbackend = \"m\"\n").unwrap();
    let out = devassist()
        .args(["serve", "--config"])
        .arg(&config)
        .args(["--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refusing to serve 0.0.0.0:0 without authentication"),
        "{stderr}"
    );
    assert!(stderr.contains("[auth] mode = \"api_keys\""), "{stderr}");
    assert!(stderr.contains("[auth] allow_anonymous = true"), "{stderr}");
    assert!(out.stdout.is_empty(), "it never listened");
}

#[test]
fn keys_are_printed_once_and_listed_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("keys.db");
    let out = devassist()
        .args(["keys", "--keys-db"])
        .arg(&db)
        .args([
            "create",
            "--name",
            "ci",
            "--models",
            "echo,other",
            "--rpm",
            "60",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(key.starts_with("dak_") && key.len() == 60, "{key}");
    let out = devassist()
        .args(["keys", "--keys-db"])
        .arg(&db)
        .args(["list", "--json"])
        .output()
        .unwrap();
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed[0]["id"], key[..16]);
    assert_eq!(listed[0]["models"], serde_json::json!(["echo", "other"]));
    assert_eq!(listed[0]["rpm"], 60);
    assert!(
        !listed.to_string().contains(&key[17..]),
        "no secret in the list"
    );
    let bad = devassist()
        .args(["keys", "--keys-db"])
        .arg(&db)
        .args(["create", "--name", "x", "--token-budget", "5"])
        .output()
        .unwrap();
    assert!(!bad.status.success(), "a budget needs its period");
}
