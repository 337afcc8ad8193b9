//! Where other-file context goes in a FIM prompt, per family.
//!
//! Qwen2.5-Coder and StarCoder2 were trained on repository layouts with file separators,
//! Codestral on `+++++ path` headers; every other family gets the snippets as line comments
//! above the prefix, which any code model reads as ordinary source.

use super::input::FimInput;
use super::table::FimTokens;

fn newline_of(text: &str) -> &'static str {
    if text.contains("\r\n") { "\r\n" } else { "\n" }
}

fn current_path(input: &FimInput) -> &str {
    input.file_name.as_deref().unwrap_or("")
}

fn repo_name(input: &FimInput) -> Option<&str> {
    input.repo_name.as_deref().filter(|r| !r.trim().is_empty())
}

/// Snippets as line comments of the file's language, each under a `Path:` header, then a
/// header naming the current file. Empty when there are no snippets or the language has no
/// line comment (block comments could be closed by the snippet's own text).
pub(crate) fn comment_block(input: &FimInput) -> String {
    if input.snippets.is_empty() {
        return String::new();
    }
    let Some(comment) = input.language_info().and_then(|l| l.line_comment) else {
        return String::new();
    };
    let nl = newline_of(&input.prefix);
    let mut out = String::new();
    let mut line = |text: &str| {
        out.push_str(comment);
        if !text.trim_end().is_empty() {
            out.push(' ');
            out.push_str(text);
        }
        out.push_str(nl);
    };
    for snippet in &input.snippets {
        line(&format!("Path: {}", snippet.path));
        for content_line in snippet.content.lines() {
            line(content_line);
        }
        line("");
    }
    if let Some(name) = input.file_name.as_deref().filter(|n| !n.is_empty()) {
        line(&format!("Path: {name}"));
    }
    out
}

/// Qwen2.5-Coder's repository layout:
/// `<|repo_name|>{repo}\n<|file_sep|>{path}\n{content}\n…<|file_sep|>{current}\n<FIM>`
/// (a content that already ends a line gets no second line break).
pub(crate) fn qwen_repo(input: &FimInput, tokens: &FimTokens) -> String {
    let mut out = String::new();
    if let Some(repo) = repo_name(input) {
        out.push_str("<|repo_name|>");
        out.push_str(repo);
        out.push('\n');
    }
    for snippet in &input.snippets {
        out.push_str("<|file_sep|>");
        out.push_str(&snippet.path);
        out.push('\n');
        out.push_str(&snippet.content);
        if !snippet.content.ends_with('\n') {
            out.push('\n');
        }
    }
    out.push_str("<|file_sep|>");
    out.push_str(current_path(input));
    out.push('\n');
    out.push_str(&tokens.wrap(&input.prefix, &input.suffix));
    out
}

/// StarCoder2's repository layout:
/// `<repo_name>{repo}<file_sep>{path}\n{content}…<file_sep>{current}\n<FIM>`.
pub(crate) fn starcoder2_repo(input: &FimInput, tokens: &FimTokens) -> String {
    let mut out = String::new();
    if let Some(repo) = repo_name(input) {
        out.push_str("<repo_name>");
        out.push_str(repo);
    }
    for snippet in &input.snippets {
        out.push_str("<file_sep>");
        out.push_str(&snippet.path);
        out.push('\n');
        out.push_str(&snippet.content);
        if !snippet.content.ends_with('\n') {
            out.push('\n');
        }
    }
    out.push_str("<file_sep>");
    out.push_str(current_path(input));
    out.push('\n');
    out.push_str(&tokens.wrap(&input.prefix, &input.suffix));
    out
}

/// The prefix part of a Codestral prompt: snippets as `+++++ path` blocks joined by a blank
/// line, then a header for the current file. Without snippets, a header with the last two
/// parts of the current path. Returns whether headers were written (they add a stop string).
pub(crate) fn codestral_prefix(input: &FimInput) -> (String, bool) {
    if !input.snippets.is_empty() {
        let mut out = String::new();
        for (i, snippet) in input.snippets.iter().enumerate() {
            if i > 0 {
                out.push_str("\n\n");
            }
            out.push_str("+++++ ");
            out.push_str(&snippet.path);
            out.push('\n');
            out.push_str(snippet.content.trim_end_matches(['\r', '\n']));
        }
        out.push_str("\n\n+++++ ");
        out.push_str(current_path(input));
        out.push('\n');
        out.push_str(&input.prefix);
        return (out, true);
    }
    match input.file_name.as_deref().filter(|n| !n.is_empty()) {
        Some(name) => (
            format!("+++++ {}\n{}", last_two_parts(name), input.prefix),
            true,
        ),
        None => (input.prefix.clone(), false),
    }
}

fn last_two_parts(path: &str) -> &str {
    let trimmed = path.trim_end_matches(['/', '\\']);
    match trimmed.rmatch_indices(['/', '\\']).nth(1) {
        Some((i, _)) => &trimmed[i + 1..],
        None => trimmed,
    }
}
