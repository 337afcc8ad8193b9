//! The Ollama Go template that describes a FIM layout, for `/api/show`.
//!
//! Continue decides between server-side and client-side FIM by looking for `.Suffix` in the
//! template `/api/show` returns, so FIM-capable models must report one that uses it.

use super::render::FimFormat;
use super::table::{self, FimOrder};

/// A template rendering `{{ .Prompt }}`/`{{ .Suffix }}` in the model's FIM layout, and the
/// plain prompt when there is no suffix. `None` when the format has no FIM (chat families,
/// custom templates without `{suffix}`).
pub fn ollama_template(format: &FimFormat) -> Option<String> {
    let fim = match format {
        FimFormat::Family(family) => {
            let tokens = table::fim_tokens(*family)?;
            match tokens.order {
                FimOrder::PrefixSuffixMiddle => format!(
                    "{}{{{{ .Prompt }}}}{}{{{{ .Suffix }}}}{}",
                    tokens.prefix, tokens.suffix, tokens.middle
                ),
                FimOrder::SuffixPrefixMiddle => format!(
                    "{}{{{{ .Suffix }}}}{}{{{{ .Prompt }}}}{}",
                    tokens.suffix, tokens.prefix, tokens.middle
                ),
            }
        }
        FimFormat::Custom(template) if template.has_suffix() => template.to_ollama_template(),
        FimFormat::Custom(_) => return None,
    };
    Some(format!(
        "{{{{- if .Suffix }}}}{fim}{{{{- else }}}}{{{{ .Prompt }}}}{{{{- end }}}}"
    ))
}
