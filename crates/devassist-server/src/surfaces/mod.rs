//! Surfaces: one module per wire dialect. A surface only translates — wire JSON to neutral
//! requests, neutral events to wire frames, errors to its dialect's body.

pub mod anthropic;
pub mod dialect;
pub mod docs;
pub mod extract;
pub mod gitlab;
pub mod ollama;
pub mod openai;
pub mod stream;

pub use dialect::{Dialect, OllamaDialect, OpenAiDialect, Surface};
pub use extract::WireJson;

/// The caller's identity, when authentication put one on the request (not on open routes):
/// what the model lists filter by.
pub type Who = Option<axum::Extension<std::sync::Arc<devassist_core::Caller>>>;

/// The caller in `who`, if any.
pub fn caller(who: &Who) -> Option<&devassist_core::Caller> {
    who.as_ref().map(|axum::Extension(c)| c.as_ref())
}

#[cfg(test)]
mod fuzz_tests;

#[cfg(test)]
mod layering_tests {
    /// Surfaces only translate: they reach models through the pipeline (`Gateway::route`,
    /// `generate`, `embed`…), never the pool or a backend client directly.
    #[test]
    fn surfaces_never_touch_the_pool_or_backends() {
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    out.push(path);
                }
            }
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/surfaces");
        let mut files = Vec::new();
        walk(&root, &mut files);
        assert!(files.len() > 20, "found the surfaces' sources");
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            let code = text.split("mod layering_tests").next().unwrap_or_default();
            for banned in [".pool", "crate::pool", "devassist_backends"] {
                assert!(
                    !code.contains(banned),
                    "{} uses `{banned}`: go through the pipeline",
                    file.display()
                );
            }
        }
    }
}
