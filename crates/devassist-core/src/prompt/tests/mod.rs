//! Tests for the prompt module: rendered-prompt snapshots per family, budgeting properties,
//! detection and config parsing.

mod budget;
mod config;
mod detect;
mod render;

use super::{FimInput, PromptBody, RenderedPrompt, Snippet};

/// A readable, line-ending-explicit view of a rendered prompt for snapshots.
fn show(rendered: &RenderedPrompt) -> String {
    let mut out = String::new();
    match &rendered.body {
        PromptBody::Text(text) => {
            out.push_str("[raw]\n");
            out.push_str(text);
            out.push('\n');
        }
        PromptBody::Chat(messages) => {
            for message in messages {
                out.push_str(&format!(
                    "[{}]\n{}\n",
                    message.role.as_str(),
                    message.content
                ));
            }
        }
    }
    out.push_str(&format!("[stop] {:?}\n", rendered.stop));
    out.replace('\r', "\\r")
}

fn python_input() -> FimInput {
    FimInput {
        prefix: "import os\n\ndef list_files(path):\n    ".to_owned(),
        suffix: "\n    return result\n".to_owned(),
        file_name: Some("src/tools/files.py".to_owned()),
        language: Some("python".to_owned()),
        repo_name: None,
        snippets: Vec::new(),
    }
}

fn with_snippets(mut input: FimInput) -> FimInput {
    input.repo_name = Some("acme/tools".to_owned());
    input.snippets = vec![
        Snippet {
            path: "src/tools/util.py".to_owned(),
            content: "def is_hidden(name):\n\n    return name.startswith('.')".to_owned(),
        },
        Snippet {
            path: "src/tools/config.py".to_owned(),
            content: "ROOT = '/srv/data'\n".to_owned(),
        },
    ];
    input
}

fn unicode_input() -> FimInput {
    FimInput {
        prefix: "// Grüße, 世界 🦀\nfn greet(name: &str) -> String {\n    format!(\"こんにちは, {name} 👋".to_owned(),
        suffix: "\")\n}\n// façade ✓\n".to_owned(),
        file_name: Some("src/greet.rs".to_owned()),
        language: None,
        repo_name: None,
        snippets: vec![Snippet {
            path: "src/émoji.rs".to_owned(),
            content: "pub const CRAB: &str = \"🦀\"; // 蟹".to_owned(),
        }],
    }
}

fn crlf_input() -> FimInput {
    FimInput {
        prefix: "function add(a, b) {\r\n  ".to_owned(),
        suffix: "\r\n}\r\n".to_owned(),
        file_name: Some("lib/math.js".to_owned()),
        language: Some("javascript".to_owned()),
        repo_name: None,
        snippets: vec![Snippet {
            path: "lib/index.js".to_owned(),
            content: "module.exports = { add };\r\n".to_owned(),
        }],
    }
}

/// A long Python file cut at a cursor in its middle.
fn long_input() -> FimInput {
    let mut prefix = String::from("\"\"\"Inventory service.\"\"\"\nimport json\n\n");
    for i in 0..120 {
        prefix.push_str(&format!(
            "def handler_{i}(request):\n    return json.dumps({{'id': {i}, 'ok': True}})\n\n"
        ));
    }
    prefix.push_str("def current(request):\n    ");
    let mut suffix = String::from("\n\n");
    for i in 0..60 {
        suffix.push_str(&format!("def after_{i}(request):\n    return None\n\n"));
    }
    with_snippets(FimInput {
        prefix,
        suffix,
        file_name: Some("app/inventory.py".to_owned()),
        language: Some("python".to_owned()),
        repo_name: None,
        snippets: Vec::new(),
    })
}
