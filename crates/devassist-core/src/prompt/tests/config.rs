//! Config-facing parsing: family names, custom templates, the `prompt` table.

use super::python_input;
use crate::postprocess::PostprocessOptions;
use crate::prompt::{
    FimFormat, FimTemplate, PromptConfig, PromptConfigError, PromptFamily, TemplateError,
};

#[test]
fn family_names_round_trip_and_accept_aliases() {
    for family in PromptFamily::ALL {
        assert_eq!(family.as_str().parse::<PromptFamily>(), Ok(family));
        let json = serde_json::to_string(&family).unwrap();
        assert_eq!(serde_json::from_str::<PromptFamily>(&json).unwrap(), family);
    }
    assert_eq!(" Qwen2.5-Coder ".parse(), Ok(PromptFamily::QwenCoder));
    assert_eq!("deepseek".parse(), Ok(PromptFamily::DeepSeekCoder));
    assert_eq!("mixtral".parse(), Ok(PromptFamily::MistralInstruct));
    assert_eq!("generic".parse(), Ok(PromptFamily::GenericChat));
}

#[test]
fn unknown_family_names_list_the_known_ones() {
    let err = serde_json::from_str::<PromptFamily>("\"qwen-4\"")
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown prompt family 'qwen-4'"), "{err}");
    assert!(
        err.contains("qwen2.5-coder") && err.contains("codestral"),
        "{err}"
    );
}

#[test]
fn templates_need_a_prefix_and_known_placeholders() {
    assert_eq!(
        FimTemplate::parse("{suffix}"),
        Err(TemplateError::MissingPrefix)
    );
    assert_eq!(
        FimTemplate::parse("{{ .Prompt }}"),
        Err(TemplateError::MissingPrefix)
    );
    assert_eq!(
        FimTemplate::parse("<PRE>{prefix}<SUF>{sufix}"),
        Err(TemplateError::UnknownPlaceholder {
            name: "sufix".to_owned(),
            offset: 18
        })
    );
    assert_eq!(
        FimTemplate::parse("{{{prefix}}}"),
        Err(TemplateError::DoubledBraces {
            name: "prefix".to_owned(),
            offset: 2
        })
    );
    let message = FimTemplate::parse("{suffix}").unwrap_err().to_string();
    assert!(message.contains("{prefix}"), "{message}");
}

#[test]
fn templates_keep_literal_braces_and_fill_every_placeholder() {
    let template = FimTemplate::parse(
        "{ \"repo\": \"{repo_name}\" } {filename}|{language}|{prefix}<>{suffix}",
    )
    .unwrap();
    let mut input = python_input();
    input.repo_name = Some("acme".to_owned());
    let rendered = crate::prompt::render_fim(&FimFormat::Custom(template), &input);
    assert_eq!(
        rendered.text(),
        Some(
            "{ \"repo\": \"acme\" } src/tools/files.py|python|import os\n\ndef list_files(path):\n    <>\n    return result\n"
        )
    );
}

#[test]
fn prompt_config_resolves_with_detection_and_overrides() {
    let config: PromptConfig = serde_json::from_value(serde_json::json!({
        "fim_template": "<fim_prefix>{prefix}<fim_suffix>{suffix}<fim_middle>",
        "extra_stop": ["\n\n"],
        "prefix_share": 0.9,
        "postprocess": { "max_lines": 3 }
    }))
    .unwrap();
    let profile = config.resolve("llama3.1:8b", None).unwrap();
    assert_eq!(profile.family, PromptFamily::Llama3);
    assert!(profile.is_fim());
    assert_eq!(profile.prefix_share, 0.9);
    assert_eq!(profile.postprocess.max_lines, Some(3));
    assert!(profile.postprocess.trim_suffix_overlap);
    let rendered = profile.render_fim(&python_input());
    assert_eq!(rendered.stop, vec!["```", "#- coding: utf-8", "\n\n"]);
    assert!(
        profile
            .ollama_template()
            .is_some_and(|t| t.contains("{{ .Suffix }}"))
    );

    let replaced = PromptConfig {
        stop: Some(vec!["<END>".to_owned()]),
        ..PromptConfig::default()
    }
    .resolve("codestral", None)
    .unwrap();
    assert_eq!(replaced.render_fim(&python_input()).stop, vec!["<END>"]);
}

#[test]
fn prompt_config_rejects_bad_values_with_the_field_name() {
    let bad_template = PromptConfig {
        fim_template: Some("{prefx}".to_owned()),
        ..PromptConfig::default()
    };
    let err = bad_template.resolve("x", None).unwrap_err();
    assert_eq!(err.field(), "fim_template");
    let bad_share = PromptConfig {
        prefix_share: Some(1.5),
        ..PromptConfig::default()
    };
    assert_eq!(
        bad_share.resolve("x", None),
        Err(PromptConfigError::PrefixShare(1.5))
    );
    let unknown = serde_json::from_value::<PromptConfig>(serde_json::json!({ "familly": "chat" }));
    assert!(unknown.is_err());
    let unknown =
        serde_json::from_value::<PostprocessOptions>(serde_json::json!({ "strip": true }));
    assert!(unknown.is_err());
}

proptest::proptest! {
    #[test]
    fn template_parsing_never_panics_and_round_trips(source in "(\\PC|\\{|\\}|\\{prefix\\}|\\{suffix\\}|\\{x\\}){0,40}") {
        if let Ok(template) = FimTemplate::parse(&source) {
            proptest::prop_assert_eq!(template.as_str(), source.as_str());
            let values = crate::prompt::TemplateValues { prefix: "P", suffix: "S", ..Default::default() };
            let rendered = template.render(&values);
            proptest::prop_assert!(rendered.contains('P'));
        }
    }
}
