//! Plain-text pages (`.txt`, `.rst`): one section; the first line names the page when it is
//! short enough to be a title.

use super::{Page, RawSection};

/// A first line longer than this is prose, not a title.
const MAX_TITLE_CHARS: usize = 100;

pub(super) fn parse(text: &str) -> Page {
    let title = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .filter(|l| l.chars().count() <= MAX_TITLE_CHARS)
        .unwrap_or_default()
        .to_string();
    Page {
        title,
        sections: vec![RawSection {
            headings: Vec::new(),
            anchor: None,
            text: text.to_string(),
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_short_line_is_the_title() {
        assert_eq!(parse("\n  Release notes\n\nText").title, "Release notes");
        assert_eq!(parse(&"long ".repeat(50)).title, "");
    }
}
