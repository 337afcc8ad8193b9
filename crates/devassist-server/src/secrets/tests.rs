//! The detector and the vault. Secrets are built at run time from pieces, so that no
//! scanner (GitHub's push protection, gitleaks) takes this file for a leak.

use super::*;
use devassist_core::prompt::{FimInput, Snippet};
use devassist_core::{GenerateRequest, Message, Prompt, Role, Task, ToolCall};

fn rep(piece: &str, n: usize) -> String {
    piece.repeat(n)
}

/// One sample of each kind, in the context it is usually found in, and the secret in it.
fn samples() -> Vec<(Kind, String, String)> {
    let aws_id = format!("AKIA{}", rep("Q3ZX", 4));
    let aws_secret = format!("wJalrXUtnFEMI/K7MDENG/{}", rep("bPxRfiCY", 2) + "EX");
    let gcp_api = format!("AIza{}", rep("SyD-9tk_", 4) + "Abc");
    let pem_body = format!(
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC{}",
        rep("bKcwggSjAgEAAoIBAQ", 3)
    );
    let pem =
        format!("-----BEGIN PRIVATE KEY-----\n{pem_body}\n{pem_body}\n-----END PRIVATE KEY-----");
    let gcp_json_key = format!(
        "-----BEGIN PRIVATE KEY-----\\n{pem_body}\\n{pem_body}\\n-----END PRIVATE KEY-----\\n"
    )
    .trim_end_matches("\\n")
    .to_owned();
    let azure = format!("{}==", rep("Zm9vYmFyYmF6", 7));
    let openai = format!("sk-proj-{}", rep("Xy7_Qw3-Lm9p", 5));
    let anthropic = format!("sk-ant-api03-{}AA", rep("Rt5uVw7xYz9A", 8));
    let slack = format!(
        "xoxb-{}-{}-{}",
        "2612345678901",
        "4512345678901",
        rep("aBcD", 6)
    );
    let stripe = format!("sk_live_{}", rep("51HxYz", 5));
    let github = format!("ghp_{}", rep("a1B2c3D4e5F6", 3));
    let github_pat = format!("github_pat_11ABCDEFG0_{}", rep("kLmN0pQr", 7));
    let gitlab = format!("glpat-{}", rep("xY9z", 5));
    let gitlab_deploy = format!("gldt-{}", rep("Aq1w", 5));
    let jwt = format!(
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.{}.{}",
        "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ",
        "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
    );
    let bearer = rep("aZ09", 8);
    let url_pass = "s3cr3t-Pa55".to_owned();
    vec![
        (
            Kind::AwsAccessKey,
            format!("aws_access_key_id = {aws_id}\n"),
            aws_id,
        ),
        (
            Kind::AwsSecretKey,
            format!("export AWS_SECRET_ACCESS_KEY={aws_secret}\n"),
            aws_secret.clone(),
        ),
        (
            Kind::AwsSecretKey,
            format!("aws_secret_access_key = \"{aws_secret}\"\n"),
            aws_secret,
        ),
        (Kind::GcpKey, format!("const KEY = '{gcp_api}';"), gcp_api),
        (
            Kind::GcpKey,
            format!("\"private_key_id\": \"{}\",", rep("0a1b2c3d", 5)),
            rep("0a1b2c3d", 5),
        ),
        (
            Kind::PrivateKey,
            format!("key file:\n{pem}\nend"),
            pem.clone(),
        ),
        (
            Kind::PrivateKey,
            format!("{{\"type\": \"service_account\", \"private_key\": \"{gcp_json_key}\\n\"}}"),
            gcp_json_key,
        ),
        (
            Kind::AzureKey,
            format!(
                "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={azure};EndpointSuffix=core.windows.net"
            ),
            azure,
        ),
        (
            Kind::OpenAiKey,
            format!("client = OpenAI(api_key=\"{openai}\")"),
            openai,
        ),
        (
            Kind::AnthropicKey,
            format!("ANTHROPIC_API_KEY={anthropic}"),
            anthropic,
        ),
        (
            Kind::SlackToken,
            format!("slack = WebClient(token=\"{slack}\")"),
            slack,
        ),
        (
            Kind::StripeKey,
            format!("stripe.api_key = \"{stripe}\""),
            stripe,
        ),
        (
            Kind::GithubToken,
            format!("git clone https://{github}@github.com/o/r"),
            github,
        ),
        (
            Kind::GithubToken,
            format!("GH_TOKEN={github_pat}"),
            github_pat,
        ),
        (
            Kind::GitlabToken,
            format!(
                "curl --header \"PRIVATE-TOKEN: {gitlab}\" https://gitlab.example.com/api/v4/projects"
            ),
            gitlab,
        ),
        (
            Kind::GitlabToken,
            format!("deploy token {gitlab_deploy} here"),
            gitlab_deploy,
        ),
        (Kind::Jwt, format!("Authorization: Bearer {jwt}"), jwt),
        (
            Kind::BearerToken,
            format!("curl -H 'Authorization: Bearer {bearer}' https://api.example.com"),
            bearer,
        ),
        (
            Kind::UrlPassword,
            format!("DATABASE_URL: postgres://app:{url_pass}@db.internal:5432/app"),
            url_pass,
        ),
        (
            Kind::Password,
            "db_password = \"hunter2-horse\"\n".into(),
            "hunter2-horse".into(),
        ),
        (
            Kind::Password,
            "{\"api_key\": \"3f9a-77c1-e02b\"}".into(),
            "3f9a-77c1-e02b".into(),
        ),
        (
            Kind::Password,
            "POSTGRES_PASSWORD=correcthorse\n".into(),
            "correcthorse".into(),
        ),
        (
            Kind::Password,
            "database:\n  password: Tr0ub4dor&3\n".into(),
            "Tr0ub4dor&3".into(),
        ),
        (
            Kind::Password,
            "Server=db;User Id=sa;Password=Pa55w0rd!;".into(),
            "Pa55w0rd!".into(),
        ),
        (
            Kind::Password,
            "mysql --user=root --password=batterystaple db".into(),
            "batterystaple".into(),
        ),
    ]
}

#[test]
fn every_pattern_compiles() {
    assert_eq!(DETECTOR.len(), detect::pattern_count());
}

#[test]
fn each_kind_is_found_with_exactly_its_secret() {
    let mut kinds_seen = std::collections::BTreeSet::new();
    for (kind, text, secret) in samples() {
        let found = DETECTOR.find(&text);
        assert_eq!(found.len(), 1, "{kind:?} in {text:?}: {found:?}");
        assert_eq!(found[0].kind, kind, "in {text:?}");
        assert_eq!(&text[found[0].range.clone()], secret, "{kind:?}");
        kinds_seen.insert(kind);
    }
    assert_eq!(kinds_seen.len(), Kind::ALL.len(), "a sample for every kind");
}

#[test]
fn a_pem_block_cut_by_the_clients_window_is_still_found() {
    let line = rep("MIIEvQIBADANBgkqhkiG9w0B", 2);
    let head = format!("let key = r#\"-----BEGIN RSA PRIVATE KEY-----\n{line}\n{line}");
    let found = DETECTOR.find(&head);
    assert_eq!(found.len(), 1);
    assert!(head[found[0].range.clone()].ends_with(&line));
    let tail = format!("{line}\n{line}\n-----END RSA PRIVATE KEY-----\"#;");
    let found = DETECTOR.find(&tail);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].range.start, 0);
}

#[test]
fn ordinary_code_has_no_secrets() {
    for (name, code) in [
        ("rust", include_str!("fixtures/ordinary.rs.txt")),
        ("python", include_str!("fixtures/ordinary.py.txt")),
    ] {
        assert!(code.lines().count() >= 200, "{name} fixture is realistic");
        let found = DETECTOR.find(code);
        let shown: Vec<&str> = found.iter().map(|f| &code[f.range.clone()]).collect();
        assert!(found.is_empty(), "{name}: {shown:?}");
    }
}

#[test]
fn placeholders_are_stable_per_secret_and_numbered_per_kind() {
    let a = format!("ghp_{}", rep("A1b2", 9));
    let b = format!("ghp_{}", rep("C3d4", 9));
    let mut text = format!("one {a}, two {b}, {a} again; password = \"open-sesame\"");
    let mut vault = Vault::new();
    assert_eq!(vault.redact(&DETECTOR, &mut text), 4);
    assert_eq!(
        text,
        "one <SECRET_GITHUB_TOKEN_1>, two <SECRET_GITHUB_TOKEN_2>, <SECRET_GITHUB_TOKEN_1> \
         again; password = \"<SECRET_PASSWORD_1>\""
    );
    let counts: Vec<(Kind, u64)> = vault.counts().collect();
    assert_eq!(counts, [(Kind::GithubToken, 3), (Kind::Password, 1)]);
    // Redacting again finds nothing: placeholders are not secrets.
    assert_eq!(vault.redact(&DETECTOR, &mut text), 0);
    assert_eq!(
        vault.restore(&text),
        format!("one {a}, two {b}, {a} again; password = \"open-sesame\"")
    );
    // A placeholder of another request, or a made-up one, stays as it is.
    assert_eq!(
        vault.restore("<SECRET_GITHUB_TOKEN_9> <SECRET_ <b>"),
        "<SECRET_GITHUB_TOKEN_9> <SECRET_ <b>"
    );
    assert!(
        !format!("{vault:?}").contains(&a),
        "Debug never shows a secret"
    );
}

#[test]
fn every_text_of_a_request_is_redacted_and_restored() {
    let token = format!("glpat-{}", rep("Zz09", 6));
    let with = |s: &str| format!("{s} {token}");
    let mut call = ToolCall {
        id: "c1".into(),
        name: "run".into(),
        arguments: serde_json::json!({"cmd": with("git push"), "n": 1}),
    };
    let mut assistant = Message::new(Role::Assistant, with("a"));
    assistant.thinking = Some(with("thought"));
    assistant.tool_calls = vec![call.clone()];
    let mut tool = Message::new(Role::Tool, with("result"));
    tool.tool_call_id = Some("c1".into());
    let mut chat = GenerateRequest::new(
        "m",
        Prompt::Chat {
            messages: vec![Message::new(Role::System, with("s")), assistant, tool],
            tools: vec![serde_json::json!({"function": {"description": with("d")}})],
        },
    );
    let before = chat.clone();
    let mut vault = Vault::new();
    assert_eq!(redact_request(&mut vault, &DETECTOR, &mut chat), 6);
    assert!(!format!("{chat:?}").contains(&token));
    restore_request(&vault, &mut chat);
    assert_eq!(chat, before);

    let mut fim = GenerateRequest::new(
        "m",
        Prompt::Completion {
            prompt: with("p"),
            suffix: Some(with("x")),
            system: Some(with("sys")),
            raw: false,
            template: None,
            images: vec![],
        },
    );
    let mut input = FimInput::new(with("prefix"), with("suffix"));
    input.snippets = vec![Snippet {
        path: "a.py".into(),
        content: with("snippet"),
    }];
    fim.task = Task::Generate {
        instruction: Some(with("do")),
        input,
    };
    let mut vault = Vault::new();
    assert_eq!(redact_request(&mut vault, &DETECTOR, &mut fim), 7);
    assert!(!format!("{fim:?}").contains(&token));
    vault.restore_json(&mut call.arguments);
    assert_eq!(call.arguments["cmd"], with("git push"));
}

/// A measurement, not a limit: prints what a 100 KB prompt costs (`--nocapture`; the
/// figure means something only in a release build on a quiet machine).
#[test]
fn measure_a_100_kb_prompt() {
    let code = include_str!("fixtures/ordinary.rs.txt");
    // Non-ASCII text too: a pattern with a Unicode `\b` would fall off the fast engine here.
    let mut prompt = String::new();
    while prompt.len() < 100 * 1024 {
        prompt.push_str(code);
        prompt.push_str("// Größe — 大小 — ок\n");
    }
    let end = (0..=100 * 1024)
        .rev()
        .find(|&i| prompt.is_char_boundary(i))
        .unwrap_or(0);
    prompt.truncate(end);
    let _ = DETECTOR.find("warm up");
    let runs = 5;
    let started = std::time::Instant::now();
    for _ in 0..runs {
        assert!(DETECTOR.find(&prompt).is_empty());
    }
    let clean = started.elapsed() / runs;
    let mut secrets = prompt.clone();
    for i in 0..20 {
        let at = secrets.len() * i / 20;
        let at = (0..=at)
            .rev()
            .find(|&j| secrets.is_char_boundary(j))
            .unwrap_or(0);
        secrets.insert_str(at, &format!("\nGITHUB_TOKEN=ghp_{}\n", rep("x1Y2", 9)));
    }
    let started = std::time::Instant::now();
    let mut n = 0;
    for _ in 0..runs {
        let mut vault = Vault::new();
        let mut text = secrets.clone();
        n = vault.redact(&DETECTOR, &mut text);
    }
    let with = started.elapsed() / runs;
    println!("100 KB prompt: {clean:?} to scan without secrets, {with:?} to redact {n} secrets");
    assert_eq!(n, 20);
}
