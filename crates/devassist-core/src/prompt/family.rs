//! The closed set of prompt families and their config names.
//!
//! A family is chosen once, at config load (explicitly or by [`detect`](super::detect)),
//! never matched from strings at request time. What each family means for the prompt lives
//! in [`table`](super::table); this file only names the families.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A model family with a known prompt layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PromptFamily {
    /// Mistral FIM (Codestral): suffix first, `[SUFFIX]…[PREFIX]…`.
    Codestral,
    /// CodeGemma: `<|fim_prefix|>…<|fim_suffix|>…<|fim_middle|>`.
    CodeGemma,
    /// Code Llama: `<PRE> … <SUF>… <MID>`.
    CodeLlama,
    /// DeepSeek-Coder (v1 and v2): `<｜fim▁begin｜>…<｜fim▁hole｜>…<｜fim▁end｜>`.
    DeepSeekCoder,
    /// StarCoder and the many models sharing its tokens (stable-code, CodeQwen 1.5,
    /// Granite Code); other-file context goes in as line comments.
    StarCoder,
    /// StarCoder2: StarCoder's tokens plus the `<file_sep>` repository layout.
    StarCoder2,
    /// Qwen2.5-Coder / Qwen3-Coder: `<|fim_prefix|>` tokens plus the
    /// `<|repo_name|>`/`<|file_sep|>` repository layout.
    QwenCoder,
    /// Granite 4: `<|fim_prefix|>` tokens. (Granite 3 has no FIM tokens: use `chat`.)
    Granite,
    /// Mistral / Mixtral instruct models: chat only, no system role in older templates.
    MistralInstruct,
    /// Llama 3.x instruct models: chat only.
    Llama3,
    /// Any other chat model: chat only.
    GenericChat,
}

impl PromptFamily {
    pub const ALL: [PromptFamily; 11] = [
        PromptFamily::Codestral,
        PromptFamily::CodeGemma,
        PromptFamily::CodeLlama,
        PromptFamily::DeepSeekCoder,
        PromptFamily::StarCoder,
        PromptFamily::StarCoder2,
        PromptFamily::QwenCoder,
        PromptFamily::Granite,
        PromptFamily::MistralInstruct,
        PromptFamily::Llama3,
        PromptFamily::GenericChat,
    ];

    /// The name used in config files and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            PromptFamily::Codestral => "codestral",
            PromptFamily::CodeGemma => "codegemma",
            PromptFamily::CodeLlama => "codellama",
            PromptFamily::DeepSeekCoder => "deepseek-coder",
            PromptFamily::StarCoder => "starcoder",
            PromptFamily::StarCoder2 => "starcoder2",
            PromptFamily::QwenCoder => "qwen2.5-coder",
            PromptFamily::Granite => "granite",
            PromptFamily::MistralInstruct => "mistral",
            PromptFamily::Llama3 => "llama3",
            PromptFamily::GenericChat => "chat",
        }
    }

    /// Other spellings accepted in config, so that people can write what they think of.
    fn aliases(self) -> &'static [&'static str] {
        match self {
            PromptFamily::Codestral => &["mistral-fim"],
            PromptFamily::CodeGemma => &[],
            PromptFamily::CodeLlama => &["code-llama"],
            PromptFamily::DeepSeekCoder => &["deepseek"],
            PromptFamily::StarCoder => &["star-coder"],
            PromptFamily::StarCoder2 => &["star-coder2"],
            PromptFamily::QwenCoder => &["qwen-coder", "qwen2.5coder", "qwen3-coder"],
            PromptFamily::Granite => &["granite4", "granite-4"],
            PromptFamily::MistralInstruct => &["mistral-instruct", "mixtral"],
            PromptFamily::Llama3 => &["llama-3"],
            PromptFamily::GenericChat => &["generic", "generic-chat"],
        }
    }

    /// Whether the family has fill-in-the-middle tokens. Families without them complete code
    /// through a chat prompt that asks for the missing piece.
    pub fn is_fim(self) -> bool {
        !matches!(
            self,
            PromptFamily::MistralInstruct | PromptFamily::Llama3 | PromptFamily::GenericChat
        )
    }

    /// Whether the family's chat templates accept a `system` message. Older Mistral and Gemma
    /// templates reject one, so the instructions are folded into the user message instead.
    pub fn supports_system_role(self) -> bool {
        !matches!(
            self,
            PromptFamily::MistralInstruct | PromptFamily::Codestral | PromptFamily::CodeGemma
        )
    }
}

impl fmt::Display for PromptFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A family name that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownFamily(pub String);

impl fmt::Display for UnknownFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown prompt family '{}'; expected one of: ", self.0)?;
        for (i, family) in PromptFamily::ALL.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(family.as_str())?;
        }
        Ok(())
    }
}

impl std::error::Error for UnknownFamily {}

impl FromStr for PromptFamily {
    type Err = UnknownFamily;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        PromptFamily::ALL
            .into_iter()
            .find(|f| f.as_str() == wanted || f.aliases().contains(&wanted.as_str()))
            .ok_or_else(|| UnknownFamily(s.to_owned()))
    }
}

impl Serialize for PromptFamily {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for PromptFamily {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}
