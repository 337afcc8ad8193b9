//! Chat prompts in our own wording: completion for models without FIM tokens (the "hole
//! filler") and code generation from an instruction.
//!
//! Both ask for bare code; post-processing still strips fences and chatter because chat
//! models add them anyway. Families whose templates reject a system message get the
//! instructions at the top of the user message instead.

use super::family::PromptFamily;
use super::input::{FimInput, PromptBody, RenderedPrompt};
use super::render::dedup;
use super::table;
use crate::request::{Message, Role};

/// Marks the gap in the hole-filler prompt.
pub const CURSOR_MARKER: &str = "<CURSOR>";

/// Said when the client sent no instruction (GitLab sends generations without one when the
/// intent comes from a comment in the code).
const DEFAULT_INSTRUCTION: &str = "Write the code that belongs at the insertion point, as the surrounding code and comments indicate.";

const HOLE_FILLER_RULES: &str = "\
You are a code completion engine. The user shows you a source file with one gap, marked \
<CURSOR>. Reply with exactly the text that belongs at <CURSOR>, so that the code before the \
gap, your reply and the code after the gap read as one correct file.
Rules:
- Reply with code only: no explanations, no Markdown fences, no <CURSOR> marker.
- Do not repeat code that already comes before or after the gap.
- Match the indentation and style of the surrounding code.
- If nothing belongs in the gap, reply with an empty message.";

/// The completion prompt for a chat-only family.
pub(crate) fn hole_filler(family: PromptFamily, input: &FimInput) -> RenderedPrompt {
    let mut user = related_files(input);
    user.push_str("Fill in ");
    user.push_str(CURSOR_MARKER);
    user.push_str(" in this ");
    if let Some(language) = input.language_name() {
        user.push_str(language);
        user.push(' ');
    }
    user.push_str("file");
    if let Some(name) = input.file_name.as_deref().filter(|n| !n.is_empty()) {
        user.push_str(" `");
        user.push_str(name);
        user.push('`');
    }
    user.push_str(":\n<file>\n");
    user.push_str(&input.prefix);
    user.push_str(CURSOR_MARKER);
    push_block(&mut user, &input.suffix);
    user.push_str("</file>");

    let mut stop: Vec<String> = table::stop_words(family)
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    stop.push("</file>".to_owned());
    RenderedPrompt {
        body: PromptBody::Chat(messages(family, HOLE_FILLER_RULES.to_owned(), user)),
        stop: dedup(stop),
    }
}

/// Messages asking a chat model to write code for `instruction` at the cursor of `input`.
/// An empty instruction asks for what the surrounding code and comments call for.
pub fn render_generation(
    family: PromptFamily,
    instruction: &str,
    input: &FimInput,
) -> Vec<Message> {
    let language = input.language_name();
    let mut system = String::from("You write ");
    if let Some(language) = language {
        system.push_str(language);
        system.push(' ');
    }
    system.push_str("code that is inserted into an existing file");
    if let Some(name) = input.file_name.as_deref().filter(|n| !n.is_empty()) {
        system.push_str(" (`");
        system.push_str(name);
        system.push_str("`)");
    }
    system.push_str(
        ". You are given the code before and after the insertion point and an instruction.
Rules:
- Reply with only the code to insert: no explanations, no Markdown fences.
- The code must be valid",
    );
    if let Some(language) = language {
        system.push(' ');
        system.push_str(language);
    }
    system.push_str(
        " and fit between the code before and after the insertion point.
- Reuse the names, helpers and style already in the file.
- Do not repeat code that is already there.
- If the instruction cannot be carried out, reply with an empty message.",
    );

    let mut user = related_files(input);
    for (label, tag, code) in [
        ("Code before the insertion point", "before", &input.prefix),
        ("Code after the insertion point", "after", &input.suffix),
    ] {
        if code.trim().is_empty() {
            continue;
        }
        user.push_str(&format!("{label}:\n<{tag}>\n"));
        push_block(&mut user, code);
        user.push_str(&format!("</{tag}>\n\n"));
    }
    user.push_str("Instruction: ");
    let instruction = instruction.trim();
    user.push_str(if instruction.is_empty() {
        DEFAULT_INSTRUCTION
    } else {
        instruction
    });
    messages(family, system, user)
}

fn related_files(input: &FimInput) -> String {
    if input.snippets.is_empty() {
        return String::new();
    }
    let mut out = String::from("Related code from other files:\n");
    for snippet in &input.snippets {
        out.push_str(&format!("<file path=\"{}\">\n", snippet.path));
        push_block(&mut out, &snippet.content);
        out.push_str("</file>\n");
    }
    out.push('\n');
    out
}

/// Appends `text` and ends it with a line break, so the closing tag gets a line of its own.
fn push_block(out: &mut String, text: &str) {
    out.push_str(text);
    if !text.ends_with('\n') {
        out.push('\n');
    }
}

fn messages(family: PromptFamily, system: String, user: String) -> Vec<Message> {
    if family.supports_system_role() {
        vec![
            Message::new(Role::System, system),
            Message::new(Role::User, user),
        ]
    } else {
        vec![Message::new(Role::User, format!("{system}\n\n{user}"))]
    }
}
