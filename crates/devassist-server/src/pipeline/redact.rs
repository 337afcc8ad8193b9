//! The redaction stage: before a prompt leaves for a backend that is not local, the
//! secrets in it (cloud keys, tokens, private keys, passwords; `secrets::detect`) are
//! replaced by per-request placeholders, and the answer gets them back where the model
//! echoes one (`secrets::restore`, around post-processing).
//!
//! It runs per try, because failover may move a request from a local replica to a remote
//! one, and before the prompt stage: the prompt stage trims a FIM prefix and suffix to the
//! context at any character, and a secret cut in half there would no longer be recognised
//! (a token without its `ghp_`, a PEM body without its header). Redacted first, the worst a
//! cut can do is halve a placeholder. The prompt stage and post-processing then work on the
//! redacted text throughout — the suffix the answer is cleaned against included — and the
//! secrets come back after them.
//!
//! Which backends it applies to is decided once, at start-up (`config/redaction.rs`):
//! `[redaction] mode` and each backend's `redact_secrets`. It counts what it replaced
//! (`devassist_secrets_redacted_total{kind}`) and logs how many, never what.

use crate::secrets::{self, DETECTOR, Vault};
use crate::state::Gateway;
use devassist_core::{EmbedRequest, GenerateRequest};
use std::sync::Arc;

/// Which pool slots get redacted prompts, by slot index.
#[derive(Debug, Clone, Default)]
pub struct Redaction {
    per_slot: Vec<bool>,
}

impl Redaction {
    pub fn new(per_slot: Vec<bool>) -> Self {
        Self { per_slot }
    }

    /// Whether prompts to slot `index` are redacted.
    pub fn applies(&self, index: usize) -> bool {
        self.per_slot.get(index).copied().unwrap_or(false)
    }
}

impl Gateway {
    /// Redacts `req` for slot `index` when its policy says so; the vault to restore the
    /// answer with, when something was replaced.
    pub(super) fn redact(&self, index: usize, req: &mut GenerateRequest) -> Option<Arc<Vault>> {
        if !self.redaction.applies(index) {
            return None;
        }
        let mut vault = Vault::new();
        secrets::redact_request(&mut vault, &DETECTOR, req);
        self.redacted(vault).map(Arc::new)
    }

    /// Redacts an embeddings request's inputs for slot `index` (nothing comes back to
    /// restore: an embedding has no text).
    pub(super) fn redact_embed(&self, index: usize, req: &mut EmbedRequest) {
        if self.redaction.applies(index) {
            let mut vault = Vault::new();
            secrets::redact_embed(&mut vault, &DETECTOR, req);
            self.redacted(vault);
        }
    }

    /// Counts and logs what `vault` replaced; `None` when nothing.
    fn redacted(&self, vault: Vault) -> Option<Vault> {
        if vault.is_empty() {
            return None;
        }
        self.telemetry.metrics.privacy.secrets_redacted(&vault);
        let kinds: Vec<&str> = vault.counts().map(|(k, _)| k.as_str()).collect();
        tracing::info!(
            secrets = vault.total(),
            kinds = %kinds.join(","),
            "Secrets replaced by placeholders before the backend"
        );
        Some(vault)
    }
}
