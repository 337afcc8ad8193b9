//! Post-processing of model output before a surface encodes it: stop strings, text that
//! repeats the suffix, whitespace and line limits for completions; fences and chatter for
//! generations. Pure functions over text; each step can be switched off per model.

mod generation;
mod options;
mod stop;
mod suffix;

#[cfg(test)]
mod tests;

pub use generation::{strip_chatter, strip_markdown_fences};
pub use options::PostprocessOptions;
pub use stop::{StreamStopper, cut_at_stop, find_stop};
pub use suffix::trim_suffix_overlap;

/// What a completion is cleaned against.
#[derive(Debug, Clone, Copy, Default)]
pub struct CompletionContext<'a> {
    /// The text after the cursor, as sent to the model.
    pub suffix: &'a str,
    /// The stop strings of the rendered prompt plus the client's own.
    pub stop: &'a [String],
    /// The completion came from a chat-only family's hole-filler prompt, so it may be fenced
    /// and wrapped in prose.
    pub chat: bool,
}

/// Cleans a whole completion. For streams, run a [`StreamStopper`] over the chunks; the other
/// steps need the whole text.
pub fn postprocess_completion(
    text: &str,
    ctx: &CompletionContext<'_>,
    options: &PostprocessOptions,
) -> String {
    let mut out = if options.stop_at_stop_words {
        cut_at_stop(text, ctx.stop).to_owned()
    } else {
        text.to_owned()
    };
    if ctx.chat {
        out = clean_chat_answer(&out, options);
    }
    if options.trim_suffix_overlap {
        out.truncate(trim_suffix_overlap(&out, ctx.suffix).len());
    }
    if let Some(max) = options.max_lines {
        out = limit_lines(&out, max);
    }
    if options.trim_trailing_whitespace {
        out.truncate(out.trim_end().len());
    }
    out
}

/// Cleans a generation (code written from an instruction by a chat model). When the prefix
/// does not end a line, the code is moved to a line of its own, as the model wrote it.
pub fn postprocess_generation(text: &str, prefix: &str, options: &PostprocessOptions) -> String {
    let mut out = clean_chat_answer(text, options);
    if options.trim_trailing_whitespace {
        out.truncate(out.trim_end().len());
    }
    if !out.trim().is_empty()
        && !prefix.is_empty()
        && !prefix.ends_with('\n')
        && !out.starts_with('\n')
        && !out.starts_with("\r\n")
    {
        out.insert(0, '\n');
    }
    out
}

fn clean_chat_answer(text: &str, options: &PostprocessOptions) -> String {
    let mut out = if options.strip_chatter {
        strip_chatter(text)
    } else {
        text.to_owned()
    };
    if options.strip_markdown_fences {
        out = strip_markdown_fences(&out);
    }
    out
}

/// The first `max` lines of `text`, without the line break after the last one.
fn limit_lines(text: &str, max: usize) -> String {
    if max == 0 {
        return String::new();
    }
    match text.match_indices('\n').nth(max - 1) {
        Some((at, _)) => text[..at]
            .strip_suffix('\r')
            .unwrap_or(&text[..at])
            .to_owned(),
        None => text.to_owned(),
    }
}
