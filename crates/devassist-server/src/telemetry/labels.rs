//! The label values metrics and usage records use for models and backends: the configured
//! names, shared (`Arc<str>`), so a request's labels are clones of a pointer. A name that is
//! not configured becomes `other`; no model at all (a listing, a refused request) is `none`.

use std::collections::HashMap;
use std::sync::Arc;

/// The label of requests that concern no model.
pub const NONE: &str = "none";
/// The label of a model or backend name the configuration does not have.
pub const OTHER: &str = "other";

#[derive(Debug, Clone)]
pub struct Labels {
    models: HashMap<Box<str>, Arc<str>>,
    backends: Vec<Arc<str>>,
    none: Arc<str>,
    other: Arc<str>,
}

impl Labels {
    /// Labels for these configured model names and backend names (in pool order).
    pub fn new<'a>(
        models: impl IntoIterator<Item = &'a str>,
        backends: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        Self {
            models: models
                .into_iter()
                .map(|m| (Box::from(m), Arc::from(m)))
                .collect(),
            backends: backends.into_iter().map(Arc::from).collect(),
            none: Arc::from(NONE),
            other: Arc::from(OTHER),
        }
    }

    /// The label of a configured model's name; `other` for any other name.
    pub fn model(&self, name: &str) -> Arc<str> {
        self.models
            .get(name)
            .cloned()
            .unwrap_or_else(|| self.other.clone())
    }

    /// The label of backend `index` of the pool; `other` past its end.
    pub fn backend(&self, index: usize) -> Arc<str> {
        self.backends
            .get(index)
            .cloned()
            .unwrap_or_else(|| self.other.clone())
    }

    pub fn none(&self) -> Arc<str> {
        self.none.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_configured_names_become_labels() {
        let l = Labels::new(["coder:7b"], ["gpu"]);
        assert_eq!(&*l.model("coder:7b"), "coder:7b");
        assert_eq!(&*l.model("made-up-by-a-client"), OTHER);
        assert!(
            Arc::ptr_eq(&l.model("coder:7b"), &l.model("coder:7b")),
            "shared, not allocated per request"
        );
        assert_eq!(&*l.backend(0), "gpu");
        assert_eq!(&*l.backend(7), OTHER);
    }
}
