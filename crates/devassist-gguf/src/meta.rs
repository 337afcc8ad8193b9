//! `ModelMeta`: the facts about one model file that the gateway reports (`/api/tags`,
//! `/api/show`) and that the engine needs (chat template, special and FIM tokens).

use crate::error::GgufError;
use crate::fim::{self, FimTokens, Token};
use crate::ftype::{file_type_name, human_parameter_count};
use crate::reader::{GgufFile, parse};
use crate::value::MetaValue;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// What a GGUF file says about its model.
#[derive(Debug, Clone)]
pub struct ModelMeta {
    pub path: PathBuf,
    pub file_size: u64,
    /// The file's modification time (Ollama's `modified_at`).
    pub modified: Option<SystemTime>,
    pub gguf_version: u32,
    /// `general.architecture` (`llama`, `qwen2`, ...), Ollama's `family`; `unknown` if absent.
    pub architecture: String,
    /// `general.name`, e.g. `SmolLM2 135M Instruct`.
    pub name: Option<String>,
    /// `general.basename`, e.g. `SmolLM2`.
    pub basename: Option<String>,
    /// `general.size_label`, e.g. `135M`.
    pub size_label: Option<String>,
    /// `general.finetune`, e.g. `Instruct`.
    pub finetune: Option<String>,
    /// `general.license`.
    pub license: Option<String>,
    /// Sum of the tensors' element counts (falls back to `general.parameter_count`).
    pub parameter_count: u64,
    /// `general.file_type` (llama.cpp's `llama_ftype`).
    pub file_type: Option<u64>,
    /// Quantization level as Ollama prints it (`Q4_1`, `Q4_K_M`), `unknown` if not known.
    pub quantization: String,
    /// `<arch>.context_length`: the context the model was trained for.
    pub context_length: Option<u64>,
    /// `<arch>.embedding_length`.
    pub embedding_length: Option<u64>,
    /// `<arch>.block_count`.
    pub block_count: Option<u64>,
    /// `tokenizer.chat_template` (Jinja).
    pub chat_template: Option<String>,
    pub bos_token: Option<Token>,
    pub eos_token: Option<Token>,
    /// End-of-turn token, when distinct (`tokenizer.ggml.eot_token_id`).
    pub eot_token: Option<Token>,
    /// `tokenizer.ggml.add_bos_token`.
    pub add_bos_token: Option<bool>,
    /// Fill-in-the-middle tokens, when the vocabulary has them.
    pub fim: Option<FimTokens>,
    /// An embedding model (has `<arch>.pooling_type`, or non-causal attention): no text generation.
    pub is_embedding: bool,
    /// Vocabulary size (length of `tokenizer.ggml.tokens`).
    pub vocab_size: Option<u64>,
    pub tensor_count: u64,
    /// All metadata key/values; large arrays carry only their length (see `GgufFile`).
    pub metadata: BTreeMap<String, MetaValue>,
}

/// What a model can do, as Ollama's `/api/show` `capabilities` lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Capability {
    Completion,
    Insert,
    Tools,
    Embedding,
}

impl Capability {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completion => "completion",
            Self::Insert => "insert",
            Self::Tools => "tools",
            Self::Embedding => "embedding",
        }
    }
}

impl ModelMeta {
    /// Read the metadata of the GGUF file at `path` (header, metadata and tensor infos only).
    pub fn read(path: &Path) -> Result<Self, GgufError> {
        let io = |source| GgufError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let modified = file.metadata().and_then(|m| m.modified()).ok();
        let gguf = parse(file, path)?;
        let mut meta = Self::from_gguf(gguf, path);
        meta.modified = modified;
        Ok(meta)
    }

    /// Derive the model facts from a parsed file.
    pub fn from_gguf(gguf: GgufFile, path: &Path) -> Self {
        let md = &gguf.metadata;
        let s = |key: &str| md.get(key).and_then(MetaValue::as_str).map(str::to_string);
        let u = |key: &str| md.get(key).and_then(MetaValue::as_u64);
        let architecture = s("general.architecture").unwrap_or_else(|| "unknown".to_string());
        let arch_u = |suffix: &str| u(&format!("{architecture}.{suffix}"));

        let tensor_params: u64 = gguf
            .tensors
            .iter()
            .fold(0u64, |acc, t| acc.saturating_add(t.elements()));
        let parameter_count = if tensor_params > 0 {
            tensor_params
        } else {
            u("general.parameter_count").unwrap_or(0)
        };
        let file_type = u("general.file_type");
        let quantization = file_type
            .and_then(file_type_name)
            .unwrap_or("unknown")
            .to_string();

        let tokens = gguf.tokens.as_deref().unwrap_or(&[]);
        let special = |key: &str| fim::from_keys(md, tokens, &[key]);
        let bos_token = special("tokenizer.ggml.bos_token_id");
        let eos_token = special("tokenizer.ggml.eos_token_id");
        let eot_token = special("tokenizer.ggml.eot_token_id");
        let fim = fim::detect(md, gguf.tokens.as_deref());

        let causal = md
            .get(&format!("{architecture}.attention.causal"))
            .and_then(MetaValue::as_bool);
        let is_embedding =
            md.contains_key(&format!("{architecture}.pooling_type")) || causal == Some(false);

        Self {
            path: path.to_path_buf(),
            file_size: gguf.file_size,
            modified: None,
            gguf_version: gguf.version,
            name: s("general.name"),
            basename: s("general.basename"),
            size_label: s("general.size_label"),
            finetune: s("general.finetune"),
            license: s("general.license"),
            parameter_count,
            file_type,
            quantization,
            context_length: arch_u("context_length"),
            embedding_length: arch_u("embedding_length"),
            block_count: arch_u("block_count"),
            chat_template: s("tokenizer.chat_template"),
            bos_token,
            eos_token,
            eot_token,
            add_bos_token: md
                .get("tokenizer.ggml.add_bos_token")
                .and_then(MetaValue::as_bool),
            fim,
            is_embedding,
            vocab_size: gguf.tokens.as_ref().map(|t| t.len() as u64),
            tensor_count: gguf.tensors.len() as u64,
            architecture,
            metadata: gguf.metadata,
        }
    }

    /// Parameter size as Ollama prints it (`134.52M`, `7.6B`).
    pub fn parameter_size(&self) -> String {
        human_parameter_count(self.parameter_count)
    }

    /// Whether the chat template mentions tools (Ollama's `tools` capability).
    pub fn supports_tools(&self) -> bool {
        self.chat_template
            .as_deref()
            .is_some_and(|t| t.contains("tools"))
    }

    /// Capabilities in Ollama's order: `completion` (or `embedding`), `tools`, `insert`.
    pub fn capabilities(&self) -> Vec<Capability> {
        if self.is_embedding {
            return vec![Capability::Embedding];
        }
        let mut caps = vec![Capability::Completion];
        if self.supports_tools() {
            caps.push(Capability::Tools);
        }
        if self.fim.is_some() {
            caps.push(Capability::Insert);
        }
        caps
    }
}
