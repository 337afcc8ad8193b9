//! Custom FIM templates from config: `"<fim_prefix>{prefix}<fim_suffix>{suffix}<fim_middle>"`.
//!
//! Placeholders are `{prefix}`, `{suffix}`, `{filename}`, `{language}` and `{repo_name}`.
//! Any other `{word}` is an error (a typo would otherwise reach the model verbatim); braces
//! that do not wrap a bare word (`{ x }`, `{"a": 1}`) are literal text. Parsed once at config
//! load, rendered per request.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Prefix,
    Suffix,
    FileName,
    Language,
    RepoName,
}

impl Slot {
    fn parse(name: &str) -> Option<Slot> {
        match name {
            "prefix" => Some(Slot::Prefix),
            "suffix" => Some(Slot::Suffix),
            "filename" | "file_name" => Some(Slot::FileName),
            "language" => Some(Slot::Language),
            "repo_name" | "reponame" => Some(Slot::RepoName),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Slot(Slot),
}

/// A validated custom FIM template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FimTemplate {
    source: String,
    parts: Vec<Part>,
}

/// Why a custom template was rejected. The message is meant for `devassist config check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    MissingPrefix,
    UnknownPlaceholder { name: String, offset: usize },
    DoubledBraces { name: String, offset: usize },
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::MissingPrefix => f.write_str(
                "FIM template has no {prefix} placeholder (write {prefix} and {suffix}; \
                 Go `{{ .Prompt }}` and Handlebars `{{{prefix}}}` forms are not supported)",
            ),
            TemplateError::UnknownPlaceholder { name, offset } => write!(
                f,
                "FIM template has an unknown placeholder {{{name}}} at byte {offset}; \
                 known: {{prefix}}, {{suffix}}, {{filename}}, {{language}}, {{repo_name}}"
            ),
            TemplateError::DoubledBraces { name, offset } => write!(
                f,
                "FIM template writes {{{{{name}}}}} at byte {offset}; placeholders take single \
                 braces: {{{name}}}"
            ),
        }
    }
}

impl std::error::Error for TemplateError {}

/// Values substituted into a template.
#[derive(Debug, Clone, Copy, Default)]
pub struct TemplateValues<'a> {
    pub prefix: &'a str,
    pub suffix: &'a str,
    pub file_name: &'a str,
    pub language: &'a str,
    pub repo_name: &'a str,
}

impl FimTemplate {
    pub fn parse(source: &str) -> Result<FimTemplate, TemplateError> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut rest = source;
        let mut offset = 0;
        while let Some(open) = rest.find('{') {
            let after = &rest[open + 1..];
            let name_len = after
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
                .count();
            let is_word = name_len > 0 && after[name_len..].starts_with('}');
            if !is_word {
                text.push_str(&rest[..=open]);
                offset += open + 1;
                rest = after;
                continue;
            }
            let name = &after[..name_len];
            let at = offset + open;
            let slot = Slot::parse(name).ok_or_else(|| TemplateError::UnknownPlaceholder {
                name: name.to_owned(),
                offset: at,
            })?;
            if source[..at].ends_with('{') && after[name_len + 1..].starts_with('}') {
                return Err(TemplateError::DoubledBraces {
                    name: name.to_owned(),
                    offset: at,
                });
            }
            text.push_str(&rest[..open]);
            if !text.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut text)));
            }
            parts.push(Part::Slot(slot));
            let consumed = open + 1 + name_len + 1;
            offset += consumed;
            rest = &rest[consumed..];
        }
        text.push_str(rest);
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        if !parts.contains(&Part::Slot(Slot::Prefix)) {
            return Err(TemplateError::MissingPrefix);
        }
        Ok(FimTemplate {
            source: source.to_owned(),
            parts,
        })
    }

    /// The template as written in config.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the template places the suffix; without it the model sees only the prefix.
    pub fn has_suffix(&self) -> bool {
        self.parts.contains(&Part::Slot(Slot::Suffix))
    }

    pub fn render(&self, values: &TemplateValues<'_>) -> String {
        let mut out = String::with_capacity(values.prefix.len() + values.suffix.len() + 64);
        for part in &self.parts {
            out.push_str(match part {
                Part::Text(text) => text,
                Part::Slot(Slot::Prefix) => values.prefix,
                Part::Slot(Slot::Suffix) => values.suffix,
                Part::Slot(Slot::FileName) => values.file_name,
                Part::Slot(Slot::Language) => values.language,
                Part::Slot(Slot::RepoName) => values.repo_name,
            });
        }
        out
    }

    /// The same layout as an Ollama Go template (`{{ .Prompt }}`, `{{ .Suffix }}`), for
    /// `/api/show`. Ollama has no file name or language variables, so those render empty.
    pub fn to_ollama_template(&self) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Slot(Slot::Prefix) => out.push_str("{{ .Prompt }}"),
                Part::Slot(Slot::Suffix) => out.push_str("{{ .Suffix }}"),
                Part::Slot(_) => {}
            }
        }
        out
    }
}

impl FromStr for FimTemplate {
    type Err = TemplateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FimTemplate::parse(s)
    }
}

impl fmt::Display for FimTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl Serialize for FimTemplate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for FimTemplate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let source = String::deserialize(deserializer)?;
        FimTemplate::parse(&source).map_err(serde::de::Error::custom)
    }
}
