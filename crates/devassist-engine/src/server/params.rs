//! Request fields shared by chat and completions: output length, stop strings, sampling, and
//! fitting the prompt into the slot's context.

use super::error::ApiError;
use crate::sampling::SamplingParams;
use llama_cpp_2::token::LlamaToken;
use serde::Deserialize;
use serde_json::Value as Json;

/// Tokens left for the answer when a prompt is truncated and `max_tokens` is not set.
const TRUNCATE_RESERVE: usize = 256;

/// `stop`: one string or a list.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum StopField {
    One(String),
    Many(Vec<String>),
}

/// `stream_options`.
#[derive(Debug, Default, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

/// Generation fields, OpenAI names plus llama-server's extras (`top_k`, `min_p`,
/// `repeat_penalty`, `repeat_last_n`, `n_predict`) and our `truncate`.
#[derive(Debug, Default, Deserialize)]
pub struct GenParams {
    pub max_tokens: Option<i64>,
    pub max_completion_tokens: Option<i64>,
    pub n_predict: Option<i64>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub top_k: Option<i32>,
    pub min_p: Option<f32>,
    pub repeat_penalty: Option<f32>,
    pub repeat_last_n: Option<i32>,
    pub presence_penalty: Option<f32>,
    pub frequency_penalty: Option<f32>,
    pub seed: Option<i64>,
    pub stop: Option<StopField>,
    /// Drop the start of a prompt that does not fit the context instead of failing.
    #[serde(default)]
    pub truncate: bool,
    /// Keep generating past end-of-generation tokens (llama-server's `ignore_eos`).
    #[serde(default)]
    pub ignore_eos: bool,
    /// OpenAI's structured output: `{"type": "json_object"}` or
    /// `{"type": "json_schema", "json_schema": {"schema": …}}`.
    pub response_format: Option<Json>,
}

/// Validated generation settings.
#[derive(Debug)]
pub struct GenSettings {
    pub sampling: SamplingParams,
    pub max_tokens: Option<u32>,
    pub stop: Vec<String>,
    pub truncate: bool,
}

impl GenParams {
    pub fn settings(&self) -> Result<GenSettings, ApiError> {
        let defaults = SamplingParams::default();
        let sampling = SamplingParams {
            temperature: self.temperature.unwrap_or(defaults.temperature),
            top_p: self.top_p.unwrap_or(defaults.top_p),
            top_k: self.top_k.unwrap_or(defaults.top_k),
            min_p: self.min_p.unwrap_or(defaults.min_p),
            repeat_penalty: self.repeat_penalty.unwrap_or(defaults.repeat_penalty),
            repeat_last_n: self.repeat_last_n.unwrap_or(defaults.repeat_last_n),
            presence_penalty: self.presence_penalty.unwrap_or(defaults.presence_penalty),
            frequency_penalty: self.frequency_penalty.unwrap_or(defaults.frequency_penalty),
            // A negative seed means random, as in llama-server.
            seed: self.seed.and_then(|s| u32::try_from(s).ok()),
            ignore_eos: self.ignore_eos,
            grammar: response_grammar(self.response_format.as_ref())?,
        };
        sampling.validate().map_err(ApiError::bad_request)?;
        let max = self
            .max_completion_tokens
            .or(self.max_tokens)
            .or(self.n_predict);
        let max_tokens = match max {
            None => None,
            Some(n) if n < 0 => None,
            Some(0) => {
                return Err(ApiError::bad_request("'max_tokens' must be at least 1")
                    .with_param("max_tokens"));
            }
            Some(n) => Some(u32::try_from(n).unwrap_or(u32::MAX)),
        };
        let stop = match &self.stop {
            None => Vec::new(),
            Some(StopField::One(s)) => vec![s.clone()],
            Some(StopField::Many(v)) => v.clone(),
        };
        Ok(GenSettings {
            sampling,
            max_tokens,
            stop,
            truncate: self.truncate,
        })
    }
}

/// OpenAI's `response_format` as a llama.cpp grammar: `json_object` → any JSON object,
/// `json_schema` → that schema (llama.cpp's converter: types, properties and `required`,
/// enums, arrays, string patterns, …); `text` or none → no constraint.
fn response_grammar(format: Option<&Json>) -> Result<Option<String>, ApiError> {
    let Some(schema) = response_schema(format)? else {
        return Ok(None);
    };
    llama_cpp_2::json_schema_to_grammar(&schema.to_string())
        .map(Some)
        .map_err(|e| {
            ApiError::bad_request(format!("cannot turn this JSON schema into a grammar: {e}"))
                .with_param("response_format")
        })
}

/// The JSON schema a `response_format` asks for (`{"type": "object"}` for `json_object`);
/// `None` for `text` or none.
pub fn response_schema(format: Option<&Json>) -> Result<Option<Json>, ApiError> {
    let Some(format) = format.filter(|f| !f.is_null()) else {
        return Ok(None);
    };
    let bad = |message: String| ApiError::bad_request(message).with_param("response_format");
    match format.get("type").and_then(Json::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(serde_json::json!({"type": "object"}))),
        Some("json_schema") => format
            .pointer("/json_schema/schema")
            .filter(|s| s.is_object() || s.is_boolean())
            .cloned()
            .map(Some)
            .ok_or_else(|| {
                bad("'response_format.json_schema.schema' must be a JSON schema object".to_owned())
            }),
        Some(other) => Err(bad(format!(
            "Invalid value: '{other}'. Supported values are: 'json_object', 'json_schema', and 'text'."
        ))),
        None => Err(bad("'response_format.type' is required".to_owned())),
    }
}

/// Make the prompt fit a slot of `n_ctx` tokens with room for at least one generated token.
/// Too long → a 400, or with `truncate` the start is dropped (keeping a leading BOS).
pub fn fit_context(
    tokens: Vec<LlamaToken>,
    n_ctx: usize,
    settings: &GenSettings,
    bos: Option<LlamaToken>,
) -> Result<Vec<LlamaToken>, ApiError> {
    if tokens.len() < n_ctx {
        return Ok(tokens);
    }
    if !settings.truncate {
        return Err(ApiError::bad_request(format!(
            "the prompt is {} tokens long but the context holds {n_ctx} tokens; shorten it or send \"truncate\": true",
            tokens.len()
        )));
    }
    let reserve = settings
        .max_tokens
        .map_or(TRUNCATE_RESERVE, |m| m as usize)
        .clamp(1, (n_ctx / 2).max(1));
    let keep = n_ctx.saturating_sub(reserve).max(1);
    let lead = match (bos, tokens.first()) {
        (Some(b), Some(first)) if *first == b => vec![b],
        _ => Vec::new(),
    };
    let tail = keep.saturating_sub(lead.len());
    let mut out = lead;
    out.extend_from_slice(&tokens[tokens.len() - tail..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(truncate: bool, max_tokens: Option<u32>) -> GenSettings {
        GenSettings {
            sampling: SamplingParams::default(),
            max_tokens,
            stop: vec![],
            truncate,
        }
    }

    fn toks(n: i32) -> Vec<LlamaToken> {
        (0..n).map(LlamaToken).collect()
    }

    #[test]
    fn short_prompts_pass() {
        let out = fit_context(toks(10), 11, &settings(false, None), None).ok();
        assert_eq!(out.map(|v| v.len()), Some(10));
    }

    #[test]
    fn long_prompts_fail_without_truncate() {
        let err = fit_context(toks(11), 11, &settings(false, None), None).err();
        assert_eq!(err.map(|e| e.status.as_u16()), Some(400));
    }

    #[test]
    fn truncation_keeps_the_end_and_bos() {
        let out = fit_context(toks(100), 64, &settings(true, Some(8)), Some(LlamaToken(0)))
            .ok()
            .unwrap_or_default();
        assert_eq!(out.len(), 56);
        assert_eq!(out[0], LlamaToken(0));
        assert_eq!(out[1], LlamaToken(45));
        assert_eq!(out.last(), Some(&LlamaToken(99)));
    }

    #[test]
    fn settings_map_openai_fields() {
        let p: GenParams = serde_json::from_str(
            r#"{"max_tokens": 5, "temperature": 0, "stop": "\n", "seed": 7, "top_p": null}"#,
        )
        .unwrap_or_default();
        let s = p.settings().ok();
        assert_eq!(s.as_ref().map(|s| s.max_tokens), Some(Some(5)));
        assert_eq!(
            s.as_ref().map(|s| s.stop.clone()),
            Some(vec!["\n".to_string()])
        );
        assert_eq!(s.as_ref().map(|s| s.sampling.is_greedy()), Some(true));
        assert_eq!(s.as_ref().map(|s| s.sampling.seed), Some(Some(7)));
        let bad: GenParams = serde_json::from_str(r#"{"top_p": 2}"#).unwrap_or_default();
        assert!(bad.settings().is_err());
    }
}
