//! `[features]`: which model serves each coding-assistant feature, per-feature defaults, and
//! features switched off.

use devassist_core::Feature;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// One `[features.<name>]` table.
#[derive(Debug, Default, Deserialize)]
pub struct RawFeature {
    /// Set false to turn the feature off: its requests get 403.
    pub enabled: Option<bool>,
    /// The model that serves the feature when the client names none (GitLab) or names one
    /// the configuration does not know.
    pub model: Option<String>,
    /// Default maximum tokens to generate when the request sets none.
    pub max_tokens: Option<u32>,
    /// Default temperature when the request sets none.
    pub temperature: Option<f64>,
    /// Longest a whole generation of this feature may take.
    pub timeout: Option<String>,
}

/// The `[features]` table.
#[derive(Debug, Default, Deserialize)]
pub struct RawFeatures {
    pub code_completion: Option<RawFeature>,
    pub code_generation: Option<RawFeature>,
    pub chat: Option<RawFeature>,
    pub embeddings: Option<RawFeature>,
    pub docs_search: Option<RawFeature>,
}

/// Validated settings of one feature.
#[derive(Debug, Clone, Default)]
pub struct FeatureSettings {
    pub enabled: bool,
    pub model: Option<String>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub timeout: Option<Duration>,
}

/// Every feature's settings; features not mentioned are on, with no defaults.
#[derive(Debug, Clone)]
pub struct Features(BTreeMap<Feature, FeatureSettings>);

impl Default for Features {
    fn default() -> Self {
        Features(
            Feature::ALL
                .iter()
                .map(|&f| {
                    (
                        f,
                        FeatureSettings {
                            enabled: true,
                            ..FeatureSettings::default()
                        },
                    )
                })
                .collect(),
        )
    }
}

impl Features {
    pub fn get(&self, feature: Feature) -> &FeatureSettings {
        static OFF: FeatureSettings = FeatureSettings {
            enabled: false,
            model: None,
            max_tokens: None,
            temperature: None,
            timeout: None,
        };
        self.0.get(&feature).unwrap_or(&OFF)
    }
}

pub fn validate(
    raw: RawFeatures,
    model_names: &[String],
    p: &mut impl FnMut(String, String),
) -> Features {
    let mut out = Features::default();
    let entries = [
        (Feature::CodeCompletion, raw.code_completion),
        (Feature::CodeGeneration, raw.code_generation),
        (Feature::Chat, raw.chat),
        (Feature::Embeddings, raw.embeddings),
        (Feature::DocsSearch, raw.docs_search),
    ];
    for (feature, raw) in entries {
        let Some(r) = raw else { continue };
        let at = |k: &str| format!("features.{feature}.{k}");
        let timeout = r.timeout.as_deref().and_then(|t| {
            humantime::parse_duration(t)
                .map_err(|e| p(at("timeout"), format!("`{t}` is not a duration: {e}")))
                .ok()
        });
        if let Some(t) = r.temperature
            && !(0.0..=2.0).contains(&t)
        {
            p(
                at("temperature"),
                format!("must be between 0 and 2, got {t}"),
            );
        }
        if r.max_tokens == Some(0) {
            p(at("max_tokens"), "must be greater than 0".into());
        }
        // Local GGUF models are discovered at start-up, so a name that is not configured is
        // checked again when the gateway is built.
        if let Some(m) = &r.model
            && !model_names.is_empty()
            && !model_names
                .iter()
                .any(|n| crate::router::normalize(n) == crate::router::normalize(m))
        {
            p(at("model"), format!("no model named `{m}` in [[models]]"));
        }
        out.0.insert(
            feature,
            FeatureSettings {
                enabled: r.enabled.unwrap_or(true),
                model: r.model,
                max_tokens: r.max_tokens,
                temperature: r.temperature,
                timeout,
            },
        );
    }
    out
}
