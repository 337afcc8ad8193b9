//! Markdown pages: front matter stripped (its `title:` kept), split at headings `#`–`####`
//! into sections; deeper headings stay in the text. Markup is dropped, link and code text
//! kept, raw HTML dropped.

use super::{Page, RawSection, slug};
use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

pub(super) fn parse(text: &str) -> Page {
    let (front_title, body) = split_front_matter(text);
    let mut page = Page {
        title: front_title.unwrap_or_default(),
        sections: Vec::new(),
    };
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut current = RawSection {
        headings: Vec::new(),
        anchor: None,
        text: String::new(),
    };
    // Inside a split-level heading: its level, explicit id and text so far.
    let mut heading: Option<(usize, Option<String>, String)> = None;
    let mut title_from_h1 = page.title.is_empty();

    let options = Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_HEADING_ATTRIBUTES
        | Options::ENABLE_TASKLISTS;
    for event in Parser::new_ext(body, options) {
        match event {
            Event::Start(Tag::Heading { level, id, .. }) => {
                if let Some(level) = split_level(level) {
                    heading = Some((level, id.map(|i| i.to_string()), String::new()));
                }
            }
            Event::End(TagEnd::Heading(_)) if heading.is_some() => {
                let Some((level, id, text)) = heading.take() else {
                    continue;
                };
                let text = text.trim().to_string();
                page.sections.push(std::mem::replace(
                    &mut current,
                    RawSection {
                        headings: Vec::new(),
                        anchor: None,
                        text: String::new(),
                    },
                ));
                if level == 1 && title_from_h1 {
                    // The first h1 names the page; its section is the page top.
                    page.title = text;
                    title_from_h1 = false;
                    stack.clear();
                    continue;
                }
                stack.retain(|(l, _)| *l < level);
                current.anchor = Some(id.unwrap_or_else(|| slug(&text)));
                stack.push((level, text));
                current.headings = stack.iter().map(|(_, t)| t.clone()).collect();
            }
            Event::Text(t) | Event::Code(t) | Event::InlineMath(t) | Event::DisplayMath(t) => {
                match &mut heading {
                    Some((_, _, h)) => h.push_str(&t),
                    None => current.text.push_str(&t),
                }
            }
            Event::SoftBreak | Event::HardBreak => match &mut heading {
                Some((_, _, h)) => h.push(' '),
                None => current.text.push('\n'),
            },
            Event::End(
                TagEnd::Paragraph
                | TagEnd::Item
                | TagEnd::CodeBlock
                | TagEnd::BlockQuote(_)
                | TagEnd::TableRow
                | TagEnd::TableHead
                | TagEnd::Heading(_)
                | TagEnd::FootnoteDefinition,
            ) => current.text.push_str("\n\n"),
            Event::End(TagEnd::TableCell) => current.text.push_str(" | "),
            _ => {}
        }
    }
    page.sections.push(current);
    page
}

fn split_level(level: HeadingLevel) -> Option<usize> {
    match level {
        HeadingLevel::H1 => Some(1),
        HeadingLevel::H2 => Some(2),
        HeadingLevel::H3 => Some(3),
        HeadingLevel::H4 => Some(4),
        _ => None,
    }
}

/// Splits YAML (`---`) or TOML (`+++`) front matter off the top of a page and returns its
/// `title`, if any, with the rest of the page.
fn split_front_matter(text: &str) -> (Option<String>, &str) {
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let fence = match text.lines().next().map(str::trim_end) {
        Some("---") => "---",
        Some("+++") => "+++",
        _ => return (None, text),
    };
    let mut offset = text.find('\n').map_or(text.len(), |i| i + 1);
    let start = offset;
    for line in text[start..].split_inclusive('\n') {
        let trimmed = line.trim_end();
        if trimmed == fence || (fence == "---" && trimmed == "...") {
            let front = &text[start..offset];
            return (front_title(front), &text[offset + line.len()..]);
        }
        offset += line.len();
    }
    // No closing fence: not front matter after all.
    (None, text)
}

fn front_title(front: &str) -> Option<String> {
    front.lines().find_map(|line| {
        let rest = line
            .strip_prefix("title:")
            .or_else(|| line.strip_prefix("title ="))?;
        let t = rest.trim().trim_matches(|c| c == '"' || c == '\'').trim();
        (!t.is_empty()).then(|| t.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_matter_is_stripped_and_title_kept() {
        let (title, rest) =
            split_front_matter("---\nstage: Plan\ntitle: \"Create issues\"\n---\n\nBody");
        assert_eq!(title.as_deref(), Some("Create issues"));
        assert_eq!(rest, "\nBody");
        let (title, rest) = split_front_matter("+++\ntitle = 'T'\n+++\nX");
        assert_eq!(title.as_deref(), Some("T"));
        assert_eq!(rest, "X");
        assert_eq!(split_front_matter("--- not\nfront").1, "--- not\nfront");
        assert_eq!(split_front_matter("---\nno end").1, "---\nno end");
    }

    #[test]
    fn headings_split_sections_with_paths() {
        let md = "---\nfoo: bar\n---\n# Guide\n\nIntro [link](x.md) and `code`.\n\n\
                  ## Install\n\nStep.\n\n### On Linux {#linux}\n\nApt.\n\n##### Deep\n\nStill Linux.\n\n\
                  ## Use\n\n| a | b |\n|---|---|\n| 1 | 2 |\n";
        let page = parse(md);
        assert_eq!(page.title, "Guide");
        let s = &page.sections;
        assert_eq!(s.len(), 5);
        assert!(s[0].text.trim().is_empty());
        assert_eq!(s[1].text.trim(), "Intro link and code.");
        assert_eq!(s[1].headings, Vec::<String>::new());
        assert_eq!(s[2].headings, ["Install"]);
        assert_eq!(s[3].headings, ["Install", "On Linux"]);
        assert_eq!(s[3].anchor.as_deref(), Some("linux"));
        assert!(s[3].text.contains("Deep") && s[3].text.contains("Still Linux."));
        assert_eq!(s[4].headings, ["Use"]);
        assert!(s[4].text.contains("1 | 2"));
    }
}
