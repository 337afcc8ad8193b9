//! Numbered sources for grounding a chat answer: the top passages formatted as
//! `[1] Title › Heading — url` followed by an excerpt, within a token budget, plus the list of
//! sources the response should show. The chat feature decides where the block goes in the
//! prompt; this module only builds it.

use crate::error::Result;
use crate::search::snippet::{MARK_CLOSE, MARK_OPEN, excerpt};
use crate::search::{Hit, Searcher};
use crate::text::estimate_tokens;
use serde::{Deserialize, Serialize};

/// What to tell the model about the sources; put it before [`Grounding::context`].
pub const INSTRUCTIONS: &str = "Answer using the numbered documentation sources below when \
they are relevant, and cite them as [n] after the sentence they support. If they do not \
answer the question, say so and answer from general knowledge.";

/// Fewest tokens worth giving one source's text; below this a source is left out.
const MIN_SOURCE_TOKENS: usize = 40;

/// One numbered source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// The number the answer cites as `[n]`, from 1.
    pub n: usize,
    pub title: String,
    pub url: String,
    pub path: String,
    pub heading: String,
}

/// Sources formatted for a prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grounding {
    /// `[1] Title › Heading — url\ntext\n\n[2] …`; empty when there are no sources.
    pub context: String,
    pub sources: Vec<Source>,
}

impl Grounding {
    /// [`INSTRUCTIONS`] followed by the sources, ready for a system message; empty when there
    /// are no sources.
    pub fn prompt_block(&self) -> String {
        if self.sources.is_empty() {
            return String::new();
        }
        format!("{INSTRUCTIONS}\n\n{}", self.context)
    }
}

/// Formats hits as numbered sources using their snippets (marks removed), within
/// `token_budget` tokens.
pub fn format_sources(hits: &[Hit], token_budget: usize) -> Grounding {
    let items: Vec<(&Hit, String)> = hits
        .iter()
        .map(|h| (h, h.snippet.replace([MARK_OPEN, MARK_CLOSE], "")))
        .collect();
    assemble(&items, token_budget)
}

impl Searcher {
    /// Searches and formats the best `max_sources` passages as numbered sources, each with as
    /// much of its passage text as the `token_budget` allows.
    pub fn ground(
        &self,
        query: &str,
        max_sources: usize,
        token_budget: usize,
    ) -> Result<Grounding> {
        let scored = self.search_scored(query, max_sources.max(1))?;
        let items: Vec<(&Hit, String)> = scored.iter().map(|s| (&s.hit, s.body.clone())).collect();
        Ok(assemble(&items, token_budget))
    }
}

fn assemble(items: &[(&Hit, String)], token_budget: usize) -> Grounding {
    let mut context = String::new();
    let mut sources = Vec::new();
    let mut left = token_budget;
    for (i, (hit, text)) in items.iter().enumerate() {
        let n = sources.len() + 1;
        let header = if hit.heading.is_empty() {
            format!("[{n}] {} — {}\n", hit.title, hit.url)
        } else {
            format!("[{n}] {} › {} — {}\n", hit.title, hit.heading, hit.url)
        };
        let header_tokens = estimate_tokens(&header);
        // Share what is left evenly among the sources still to come.
        let share = left / (items.len() - i);
        // The first source is always given, however small the budget.
        if !sources.is_empty() && left < header_tokens + MIN_SOURCE_TOKENS {
            break;
        }
        let body = excerpt(
            text,
            share.saturating_sub(header_tokens).max(MIN_SOURCE_TOKENS),
        );
        let used = header_tokens + estimate_tokens(&body) + 1;
        if !sources.is_empty() && used > left {
            break;
        }
        if !context.is_empty() {
            context.push_str("\n\n");
        }
        context.push_str(&header);
        context.push_str(&body);
        left = left.saturating_sub(used);
        sources.push(Source {
            n,
            title: hit.title.clone(),
            url: hit.url.clone(),
            path: hit.path.clone(),
            heading: hit.heading.clone(),
        });
    }
    Grounding { context, sources }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(title: &str, snippet: &str) -> Hit {
        Hit {
            title: title.into(),
            url: format!("https://d.example/{title}.html"),
            path: format!("{title}.md"),
            heading: if title == "a" {
                String::new()
            } else {
                "Usage".into()
            },
            snippet: snippet.into(),
            score: 1.0,
        }
    }

    #[test]
    fn sources_are_numbered_and_unmarked() {
        let g = format_sources(&[hit("a", "use «json» here"), hit("b", "more text")], 1000);
        assert_eq!(g.sources.len(), 2);
        assert_eq!(g.sources[1].n, 2);
        assert!(
            g.context
                .starts_with("[1] a — https://d.example/a.html\nuse json here")
        );
        assert!(
            g.context
                .contains("\n\n[2] b › Usage — https://d.example/b.html\nmore text")
        );
        assert!(g.prompt_block().starts_with(INSTRUCTIONS));
    }

    #[test]
    fn budget_limits_sources_and_text() {
        let long = "word ".repeat(2000);
        let hits: Vec<Hit> = (0..5).map(|i| hit(&format!("p{i}"), &long)).collect();
        let g = format_sources(&hits, 400);
        assert!(!g.sources.is_empty() && g.sources.len() <= 5);
        assert!(
            estimate_tokens(&g.context) <= 400 + 10,
            "{}",
            estimate_tokens(&g.context)
        );
        let tiny = format_sources(&hits, 10);
        assert!(tiny.sources.len() <= 1);
        assert!(format_sources(&[], 100).prompt_block().is_empty());
    }
}
