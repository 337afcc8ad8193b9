//! `[aliases]`: more names, or glob patterns, for models; for names a client sends that
//! the configuration cannot change (Claude Code's `claude-sonnet-4-5-20250929`) and for
//! models found in the models directory, which have no `[[models]]` entry to hold aliases.
//! The targets are checked when the gateway is built, once local models are known.

/// Checks each entry's pattern and target; returns them in the table's order.
pub fn validate(
    raw: std::collections::BTreeMap<String, String>,
    p: &mut impl FnMut(String, String),
) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(raw.len());
    for (alias, target) in raw {
        let at = format!("aliases.\"{alias}\"");
        if alias.trim().is_empty() {
            p(at, "an alias must not be empty".into());
            continue;
        }
        if target.trim().is_empty() {
            p(at, "must name a model".into());
            continue;
        }
        if crate::router::is_pattern(&alias)
            && let Err(e) = crate::router::compile_pattern(&alias)
        {
            p(at, format!("`{alias}` is not a glob pattern: {e}"));
            continue;
        }
        out.push((alias, target));
    }
    out
}
