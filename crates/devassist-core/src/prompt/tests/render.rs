//! Snapshot tests of the rendered prompt for every family and case.

use super::{crlf_input, long_input, python_input, show, unicode_input, with_snippets};
use crate::prompt::{
    BudgetLimits, EstimatingCounter, FimFormat, FimInput, FimTemplate, PromptFamily, TokenCounter,
    budget, ollama_template, render_fim, render_generation,
};

/// Every case, rendered for one format, as one snapshot document.
fn all_cases(format: &FimFormat) -> String {
    let counter = EstimatingCounter::default();
    let limits = BudgetLimits::new(400, 64);
    let long = budget(format, &long_input(), &counter, &limits);
    let long_rendered = render_fim(format, &long);
    let cases: Vec<(&str, String)> = vec![
        ("basic", show(&render_fim(format, &python_input()))),
        (
            "empty prefix and suffix",
            show(&render_fim(format, &FimInput::new("", ""))),
        ),
        (
            "snippets and repo name",
            show(&render_fim(format, &with_snippets(python_input()))),
        ),
        ("unicode", show(&render_fim(format, &unicode_input()))),
        ("crlf", show(&render_fim(format, &crlf_input()))),
        (
            "long prefix and suffix, budgeted to 400 - 64 tokens",
            format!(
                "tokens: {} (limit {})\n{}",
                long_rendered.count_tokens(&counter),
                limits.input_limit(),
                show(&long_rendered)
            ),
        ),
    ];
    cases
        .into_iter()
        .map(|(name, text)| format!("===== {name} =====\n{text}"))
        .collect()
}

#[test]
fn every_family_renders_every_case() {
    for family in PromptFamily::ALL {
        let rendered = all_cases(&FimFormat::Family(family));
        insta::assert_snapshot!(format!("family_{}", family.as_str()), rendered);
    }
}

#[test]
fn custom_template_renders_every_case() {
    let template = FimTemplate::parse("<PRE>{filename} ({language})\n{prefix}<SUF>{suffix}<MID>")
        .expect("valid template");
    insta::assert_snapshot!(all_cases(&FimFormat::Custom(template)));
}

#[test]
fn budgeted_long_prompts_fit_the_limit_for_every_family() {
    let counter = EstimatingCounter::default();
    let limits = BudgetLimits::new(400, 64);
    for family in PromptFamily::ALL {
        let format = FimFormat::Family(family);
        let cut = budget(&format, &long_input(), &counter, &limits);
        let tokens = render_fim(&format, &cut).count_tokens(&counter);
        assert!(tokens <= limits.input_limit(), "{family}: {tokens}");
        // Code near the cursor survives; the file's far ends do not.
        assert!(
            cut.prefix.ends_with("def current(request):\n    "),
            "{family}"
        );
        assert!(
            cut.suffix.starts_with("\n\ndef after_0(request):"),
            "{family}"
        );
        assert!(!cut.prefix.contains("Inventory service"), "{family}");
        assert!(!cut.suffix.contains("after_59"), "{family}");
        assert!(
            counter.count(&cut.prefix) > counter.count(&cut.suffix),
            "{family}"
        );
    }
}

#[test]
fn ollama_templates_mention_suffix_only_for_fim_formats() {
    let mut out = String::new();
    for family in PromptFamily::ALL {
        let template = ollama_template(&FimFormat::Family(family));
        assert_eq!(template.is_some(), family.is_fim(), "{family}");
        if let Some(t) = &template {
            assert!(t.contains(".Suffix"), "{family}");
        }
        out.push_str(&format!("{family}: {template:?}\n"));
    }
    let custom = FimTemplate::parse("<a>{prefix}<b>{suffix}<c>").expect("valid template");
    out.push_str(&format!("custom: {:?}\n", ollama_template(&custom.into())));
    let prefix_only = FimTemplate::parse("{filename}\n{prefix}").expect("valid template");
    assert_eq!(ollama_template(&prefix_only.into()), None);
    insta::assert_snapshot!(out);
}

#[test]
fn generation_prompts() {
    let mut out = String::new();
    for (family, instruction, input) in [
        (
            PromptFamily::QwenCoder,
            "Return the file names, sorted.",
            python_input(),
        ),
        (
            PromptFamily::MistralInstruct,
            "Return the file names, sorted.",
            with_snippets(python_input()),
        ),
        (PromptFamily::Llama3, "   ", FimInput::new("x = 1", "")),
    ] {
        out.push_str(&format!("===== {family} =====\n"));
        for message in render_generation(family, instruction, &input) {
            out.push_str(&format!(
                "[{}]\n{}\n",
                message.role.as_str(),
                message.content
            ));
        }
    }
    insta::assert_snapshot!(out);
}

#[test]
fn markdown_files_do_not_stop_at_fences() {
    let mut input = python_input();
    input.file_name = Some("README.md".to_owned());
    input.language = None;
    let rendered = render_fim(&FimFormat::Family(PromptFamily::QwenCoder), &input);
    assert!(!rendered.stop.iter().any(|s| s.contains("```")));
    let rendered = render_fim(&FimFormat::Family(PromptFamily::QwenCoder), &python_input());
    assert!(rendered.stop.iter().any(|s| s == "```"));
}

#[test]
fn chat_families_render_messages_and_fim_families_raw_text() {
    for family in PromptFamily::ALL {
        let rendered = render_fim(&FimFormat::Family(family), &python_input());
        assert_eq!(rendered.is_chat(), !family.is_fim(), "{family}");
        match rendered.into_prompt() {
            crate::Prompt::Completion { raw, suffix, .. } => {
                assert!(raw && suffix.is_none(), "{family}");
            }
            crate::Prompt::Chat { messages, .. } => {
                assert!(
                    messages
                        .last()
                        .is_some_and(|m| m.content.contains("<CURSOR>"))
                );
            }
        }
    }
}
