//! The series about what the gateway keeps out of backends and logs: secrets replaced by
//! placeholders before a prompt left (`pipeline/redact.rs`), and expanded-log records
//! written or dropped (`telemetry/expanded`). The kinds are a closed set
//! (`secrets::Kind`), so the label cannot grow.

use crate::secrets::{Kind, Vault};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

pub struct PrivacyMetrics {
    secrets: Family<KindLabels, Counter>,
    expanded_written: Counter,
    expanded_dropped: Counter,
}

impl PrivacyMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let secrets = Family::default();
        let expanded_written = Counter::default();
        let expanded_dropped = Counter::default();
        registry.register(
            "secrets_redacted",
            "Secrets replaced by placeholders in prompts before they reached a backend, by kind",
            secrets.clone(),
        );
        registry.register(
            "expanded_log_records_written",
            "Expanded-log records (full prompt and answer, redacted) written",
            expanded_written.clone(),
        );
        registry.register(
            "expanded_log_records_dropped",
            "Expanded-log records lost: the writer was behind (its queue full) or stopped, or \
             the file refused them",
            expanded_dropped.clone(),
        );
        // Every kind shows, at 0, from the start: a dashboard can tell "none" from "not
        // running".
        for kind in Kind::ALL {
            drop(secrets.get_or_create(&KindLabels {
                kind: kind.as_str(),
            }));
        }
        Self {
            secrets,
            expanded_written,
            expanded_dropped,
        }
    }

    /// Counts what a request's vault replaced.
    pub fn secrets_redacted(&self, vault: &Vault) {
        for (kind, n) in vault.counts() {
            self.secrets
                .get_or_create(&KindLabels {
                    kind: kind.as_str(),
                })
                .inc_by(n);
        }
    }

    pub fn expanded_written(&self, n: u64) {
        self.expanded_written.inc_by(n);
    }

    pub fn expanded_dropped(&self, n: u64) {
        self.expanded_dropped.inc_by(n);
    }
}
