//! Family detection from model names and GGUF architectures.

use crate::prompt::{PromptFamily, detect};

#[test]
fn names_map_to_families() {
    use PromptFamily::*;
    let cases: &[(&str, Option<&str>, PromptFamily)] = &[
        ("qwen2.5-coder:1.5b-base", None, QwenCoder),
        ("Qwen/Qwen2.5-Coder-7B", None, QwenCoder),
        ("qwen2.5-coder:7b-instruct-q4_K_M", None, QwenCoder),
        (
            "hf.co/bartowski/Qwen2.5-Coder-1.5B-GGUF:Q4_K_M",
            None,
            QwenCoder,
        ),
        ("qwen3-coder:30b", None, QwenCoder),
        (
            "/models/qwen2.5-coder-0.5b-q8_0.gguf",
            Some("qwen2"),
            QwenCoder,
        ),
        ("qwen2.5:7b", Some("qwen2"), GenericChat),
        ("codeqwen:7b", None, StarCoder),
        ("codestral-22b", None, Codestral),
        ("mistralai/Codestral-22B-v0.1", None, Codestral),
        ("codestral:latest", None, Codestral),
        ("deepseek-coder-6.7b-base", None, DeepSeekCoder),
        ("deepseek-coder-v2:16b-lite-base-q4_0", None, DeepSeekCoder),
        ("deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", None, GenericChat),
        ("starcoder2:3b", None, StarCoder2),
        ("bigcode/starcoder2-15b", None, StarCoder2),
        ("bigcode/starcoder", None, StarCoder),
        ("stable-code:3b-code-q4_0", None, StarCoder),
        ("codegemma:2b", None, CodeGemma),
        ("google/codegemma-7b", None, CodeGemma),
        ("codellama:7b-code", None, CodeLlama),
        ("TheBloke/CodeLlama-13B-GGUF", None, CodeLlama),
        ("granite4:micro", None, Granite),
        ("ibm-granite/granite-4.0-h-tiny", None, Granite),
        ("granite3.3:8b", None, GenericChat),
        ("granite-3.1-8b-instruct", None, GenericChat),
        ("granite-code:8b", None, StarCoder),
        ("ibm-granite/granite-34b-code-base", None, StarCoder),
        ("granite-3b-code-base", None, StarCoder),
        ("mistral:7b-instruct", None, MistralInstruct),
        ("mixtral:8x7b", None, MistralInstruct),
        ("llama3.1:8b", None, Llama3),
        ("meta-llama/Meta-Llama-3-8B-Instruct", None, Llama3),
        ("gpt-4o", None, GenericChat),
        ("my-finetune", Some("starcoder2"), StarCoder2),
        ("my-finetune", Some("starcoder"), StarCoder),
        ("my-finetune", Some("granitehybrid"), Granite),
        ("my-finetune", Some("llama"), GenericChat),
        ("phi3:mini", None, GenericChat),
        ("", None, GenericChat),
    ];
    for (name, arch, expected) in cases {
        assert_eq!(detect(name, *arch), *expected, "{name} / {arch:?}");
    }
}

#[test]
fn the_name_wins_over_the_architecture() {
    assert_eq!(
        detect("codestral", Some("starcoder2")),
        PromptFamily::Codestral
    );
}
