//! The shared gateway state handed to every handler. What happens to a request lives in
//! `pipeline/`, as methods on [`Gateway`].

use crate::config::{FeatureSettings, Features, Settings};
use crate::pool::Pool;
use crate::router::Router;
use devassist_core::{Feature, GatewayError};
use std::sync::Arc;
use std::time::Instant;

/// Cheap to clone; handlers receive it through axum's `State`.
#[derive(Clone)]
pub struct AppState(pub Arc<Gateway>);

impl std::ops::Deref for AppState {
    type Target = Gateway;

    fn deref(&self) -> &Gateway {
        &self.0
    }
}

pub struct Gateway {
    pub router: Router,
    pub pool: Pool,
    pub features: Features,
    /// The GitLab surface's allow-listed endpoints and their clients.
    pub gitlab: crate::surfaces::gitlab::GitLabState,
    /// Loaded docs indexes (possibly none) and how chat is grounded in them.
    pub docs: Arc<devassist_search::api::DocsIndexes>,
    pub docs_settings: crate::config::DocsSettings,
    pub max_body_bytes: usize,
    /// System-prompt lines removed before the prompt is built (`pipeline/volatile.rs`).
    pub volatile_lines: Vec<regex::Regex>,
    pub started_at: Instant,
    /// Metrics and usage records (`telemetry/`).
    pub telemetry: Arc<crate::telemetry::Telemetry>,
    /// Who may call: key store, per-caller limits (`auth/`).
    pub auth: crate::auth::Auth,
    /// Which backends get prompts with secrets replaced (`pipeline/redact.rs`).
    pub redaction: crate::pipeline::Redaction,
}

impl Gateway {
    pub fn new(settings: &Settings, router: Router, pool: Pool) -> Self {
        let labels = crate::telemetry::Labels::new(
            router.models().iter().map(|m| m.name()),
            pool.slots().iter().map(|s| s.name.as_str()),
        );
        let telemetry = Arc::new(crate::telemetry::Telemetry::new(
            labels,
            settings.metrics.listen.is_none(),
        ));
        Self {
            router,
            pool,
            features: settings.features.clone(),
            gitlab: crate::surfaces::gitlab::GitLabState::new(settings.gitlab.clone()),
            docs: Arc::new(devassist_search::api::DocsIndexes::new()),
            docs_settings: settings.docs.clone(),
            max_body_bytes: settings.server.max_body_bytes,
            volatile_lines: settings.prompt_cache.volatile_lines.clone(),
            started_at: Instant::now(),
            telemetry,
            auth: crate::auth::Auth::off(),
            redaction: crate::pipeline::Redaction::default(),
        }
    }

    /// 403 naming the feature when the admin turned it off.
    pub fn check_feature(&self, feature: Feature) -> Result<&FeatureSettings, GatewayError> {
        let f = self.features.get(feature);
        if f.enabled {
            Ok(f)
        } else {
            Err(GatewayError::forbidden(format!(
                "the {feature} feature is turned off on this gateway"
            )))
        }
    }
}
