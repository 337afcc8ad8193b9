//! The volatile-lines stage: system-prompt lines that change on every request (Claude
//! Code's `x-anthropic-billing-header: …; cch=<nonce>;`) are removed before the prompt is
//! built, so that the next turn of a conversation starts with the same tokens and the
//! backend reuses its cached prefix (the engine's slots, vLLM's and llama.cpp's prefix
//! caches). It runs first in `Gateway::generate`, for every surface, before the affinity
//! key is taken from the prompt's start.
//!
//! The patterns are `[prompt_cache] volatile_lines` (docs/configuration.md). A line is
//! removed when any pattern matches it (without its line ending); blank lines left at the
//! start of the prompt go with it, and a system message left empty is dropped. User,
//! assistant and tool messages are never touched.

use devassist_core::{GenerateRequest, Prompt, Role};
use regex::Regex;

/// Removes volatile lines from the request's system prompts; returns how many.
pub fn strip(patterns: &[Regex], req: &mut GenerateRequest) -> usize {
    if patterns.is_empty() {
        return 0;
    }
    match &mut req.prompt {
        Prompt::Chat { messages, .. } => {
            let mut removed = 0;
            messages.retain_mut(|m| {
                if m.role != Role::System {
                    return true;
                }
                let n = strip_text(patterns, &mut m.content);
                removed += n;
                n == 0 || !m.content.is_empty()
            });
            removed
        }
        Prompt::Completion {
            system: Some(system),
            ..
        } => strip_text(patterns, system),
        Prompt::Completion { system: None, .. } => 0,
    }
}

/// Removes the matching lines of `text`; returns how many.
fn strip_text(patterns: &[Regex], text: &mut String) -> usize {
    let volatile = |line: &str| {
        let line = line.trim_end_matches(['\n', '\r']);
        patterns.iter().any(|p| p.is_match(line))
    };
    let removed = text.split_inclusive('\n').filter(|l| volatile(l)).count();
    if removed == 0 {
        return 0;
    }
    let kept: String = text
        .split_inclusive('\n')
        .filter(|l| !volatile(l))
        .collect();
    *text = kept.trim_start_matches(['\n', '\r']).to_owned();
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PromptCacheSettings;
    use devassist_core::Message;

    fn chat(system: &str, user: &str) -> GenerateRequest {
        GenerateRequest::new(
            "m",
            Prompt::Chat {
                messages: vec![
                    Message::new(Role::System, system),
                    Message::new(Role::User, user),
                ],
                tools: Vec::new(),
            },
        )
    }

    fn messages(req: &GenerateRequest) -> Vec<(Role, String)> {
        match &req.prompt {
            Prompt::Chat { messages, .. } => messages
                .iter()
                .map(|m| (m.role, m.content.clone()))
                .collect(),
            Prompt::Completion { .. } => Vec::new(),
        }
    }

    fn billing(nonce: &str) -> String {
        format!(
            "x-anthropic-billing-header: cc_version=2.1.37.a1b; cc_entrypoint=cli; cch={nonce};"
        )
    }

    #[test]
    fn the_default_removes_claude_codes_billing_line_so_turns_share_a_prefix() {
        let patterns = PromptCacheSettings::default().volatile_lines;
        let mut one = chat(
            &format!("{}\n\nYou are Claude Code.\nBe brief.", billing("1f2e3")),
            "hi",
        );
        let mut two = chat(
            &format!("{}\n\nYou are Claude Code.\nBe brief.", billing("9a8b7")),
            "hi",
        );
        assert_eq!(strip(&patterns, &mut one), 1);
        assert_eq!(strip(&patterns, &mut two), 1);
        assert_eq!(messages(&one), messages(&two));
        assert_eq!(
            messages(&one)[0],
            (Role::System, "You are Claude Code.\nBe brief.".to_owned())
        );
    }

    #[test]
    fn a_system_message_of_only_volatile_lines_is_dropped_and_others_are_untouched() {
        let patterns = PromptCacheSettings::default().volatile_lines;
        let line = billing("abc");
        let mut req = chat(&line, &line);
        assert_eq!(strip(&patterns, &mut req), 1);
        assert_eq!(messages(&req), vec![(Role::User, line.clone())]);
        // Not at a line start: not the billing line.
        let mut quoted = chat(&format!("say {line}"), "hi");
        assert_eq!(strip(&patterns, &mut quoted), 0);
    }

    #[test]
    fn custom_patterns_apply_to_every_line_and_to_completion_systems() {
        let patterns = vec![
            Regex::new(r"^Current time: ").unwrap(),
            Regex::new(r"session=[0-9a-f]+$").unwrap(),
        ];
        let mut req = GenerateRequest::new(
            "m",
            Prompt::Completion {
                prompt: "Current time: 12:00".into(),
                suffix: None,
                system: Some(
                    "Rules.\r\nCurrent time: 12:01\r\nid session=ab12\r\nMore rules.".into(),
                ),
                raw: false,
                template: None,
                images: Vec::new(),
            },
        );
        assert_eq!(strip(&patterns, &mut req), 2);
        let Prompt::Completion { prompt, system, .. } = &req.prompt else {
            panic!("still a completion");
        };
        assert_eq!(system.as_deref(), Some("Rules.\r\nMore rules."));
        assert_eq!(
            prompt, "Current time: 12:00",
            "only system prompts are touched"
        );
    }

    #[test]
    fn no_patterns_no_change() {
        let mut req = chat(&billing("x"), "hi");
        let before = req.clone();
        assert_eq!(strip(&[], &mut req), 0);
        assert_eq!(req, before);
    }
}
