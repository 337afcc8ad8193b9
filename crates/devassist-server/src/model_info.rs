//! What the gateway reports about a model in `/api/tags`, `/api/show`, `/api/ps` and
//! `/v1/models`. Configured remote models get what the config says; local GGUF models get
//! what their file says.

use crate::config::{Capability, ModelSettings};
use chrono::{DateTime, Utc};

#[derive(Debug, Clone)]
pub struct ModelInfo {
    /// GGUF `general.architecture`, or the family guessed from the name.
    pub architecture: String,
    pub family: String,
    pub format: String,
    pub parameter_size: String,
    pub quantization_level: String,
    pub size: u64,
    /// Bare hex, like Ollama.
    pub digest: String,
    pub modified_at: DateTime<Utc>,
    pub context_length: u32,
    pub embedding_length: Option<u32>,
    /// The Go-style template `/api/show` returns. Contains `.Suffix` iff FIM works.
    pub template: String,
    pub stop: Vec<String>,
}

impl ModelInfo {
    /// Metadata for a model served by a configured upstream: only what the config knows.
    pub fn configured(s: &ModelSettings, loaded_at: DateTime<Utc>) -> Self {
        let family = guess_family(&s.upstream);
        Self {
            architecture: family.clone(),
            family,
            format: "gguf".into(),
            parameter_size: String::new(),
            quantization_level: String::new(),
            size: 0,
            digest: digest_of(&format!("{}\0{}\0{}", s.name, s.backend, s.upstream)),
            modified_at: loaded_at,
            context_length: s.context_length,
            embedding_length: None,
            template: if s.capabilities.contains(&Capability::Insert) {
                s.prompt
                    .ollama_template()
                    .unwrap_or_else(|| template_for(true))
            } else {
                template_for(false)
            },
            stop: devassist_core::prompt::stop_words(s.prompt.family)
                .iter()
                .map(|w| w.to_string())
                .collect(),
        }
    }
}

/// The template reported by `/api/show`. Continue switches to server-side FIM when it
/// contains `.Suffix`; devassist renders the real model-family prompt itself.
pub fn template_for(fim: bool) -> String {
    if fim {
        "{{- if .Suffix }}<|fim_prefix|>{{ .Prompt }}<|fim_suffix|>{{ .Suffix }}<|fim_middle|>\
         {{- else }}{{ .Prompt }}{{- end }}"
            .into()
    } else {
        "{{- if .System }}{{ .System }}\n{{ end }}{{ .Prompt }}".into()
    }
}

fn guess_family(name: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name).to_ascii_lowercase();
    let stem: String = base
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect();
    if stem.is_empty() {
        "unknown".into()
    } else {
        stem
    }
}

/// A stable 64-hex-digit id (FNV-1a based; a label, not a security digest).
pub fn digest_of(text: &str) -> String {
    let mut out = String::with_capacity(64);
    for round in 0u64..4 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ round;
        for b in text.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        out.push_str(&format!("{h:016x}"));
    }
    out
}
