//! Turning one document into index sections: each format's parser yields a page title and
//! raw sections (heading path, anchor, text); this module cleans the text, cuts long sections
//! into passages and attaches the path and URL. It never touches the database.

mod html;
mod markdown;
mod plain;
mod url;

use crate::source::{DocFormat, SourceFile};
use crate::text::clean_text;

pub(crate) use url::slug;

/// What a format parser returns for one document.
#[derive(Default)]
pub(crate) struct Page {
    pub title: String,
    pub sections: Vec<RawSection>,
}

/// Text under one heading, before cleaning and cutting.
#[derive(Default)]
pub(crate) struct RawSection {
    /// Heading texts from the top of the page down to this section, page title excluded.
    pub headings: Vec<String>,
    /// The fragment identifier that links to this heading.
    pub anchor: Option<String>,
    /// Paragraphs separated by blank lines.
    pub text: String,
}

/// One row of the index.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Section {
    pub title: String,
    /// Heading path joined with " › "; empty for the text before the first sub-heading.
    pub headings: String,
    pub path: String,
    pub url: String,
    pub body: String,
}

/// Joins heading paths for storage and display.
pub(crate) const HEADING_SEPARATOR: &str = " › ";

/// Parses a document and returns its sections, long ones cut into passages of at most
/// `max_words` words at paragraph boundaries (so a hit points at a readable amount of text and
/// BM25 compares passages of similar length).
pub(crate) fn sections(
    file: &SourceFile,
    base_url: Option<&str>,
    max_words: usize,
) -> Vec<Section> {
    let text = String::from_utf8_lossy(&file.bytes);
    let page = match file.format {
        DocFormat::Markdown => markdown::parse(&text),
        DocFormat::Html => html::parse(&text),
        DocFormat::Text => plain::parse(&text),
    };
    let title = match clean_text(&page.title) {
        t if t.is_empty() => file_stem(&file.path),
        t => t.replace('\n', " "),
    };
    let page_url = url::page_url(base_url, &file.path, file.format);
    let mut out = Vec::new();
    for raw in page.sections {
        let headings = raw
            .headings
            .iter()
            .map(|h| clean_text(h).replace('\n', " "))
            .filter(|h| !h.is_empty())
            .collect::<Vec<_>>()
            .join(HEADING_SEPARATOR);
        let url = match &raw.anchor {
            Some(a) if !a.is_empty() => format!("{page_url}#{a}"),
            _ => page_url.clone(),
        };
        for body in passages(&clean_text(&raw.text), max_words) {
            out.push(Section {
                title: title.clone(),
                headings: headings.clone(),
                path: file.path.clone(),
                url: url.clone(),
                body,
            });
        }
    }
    out
}

fn file_stem(path: &str) -> String {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.split_once('.').map_or(name, |(s, _)| s).to_string()
}

/// Cuts cleaned text into passages of at most `max_words` words, preferring paragraph
/// boundaries. Empty text gives no passage.
fn passages(text: &str, max_words: usize) -> Vec<String> {
    let max_words = max_words.max(16);
    let mut out = Vec::new();
    let mut current = String::new();
    let mut current_words = 0;
    for para in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        let n = para.split_whitespace().count();
        if current_words > 0 && current_words + n > max_words {
            out.push(std::mem::take(&mut current));
            current_words = 0;
        }
        if n > max_words {
            // One huge paragraph (a long table or code listing): cut it by words.
            let words: Vec<&str> = para.split_whitespace().collect();
            for chunk in words.chunks(max_words) {
                out.push(chunk.join(" "));
            }
            continue;
        }
        if !current.is_empty() {
            current.push_str("\n\n");
        }
        current.push_str(para);
        current_words += n;
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passages_respect_paragraphs_and_limits() {
        let text = "one two three\n\nfour five\n\nsix";
        assert_eq!(passages(text, 16), vec![text.to_string()]);
        let long = vec!["w"; 40].join(" ");
        let p = passages(&format!("a b\n\n{long}\n\nc d"), 16);
        assert_eq!(p.len(), 5);
        assert_eq!(p[0], "a b");
        assert_eq!(p[4], "c d");
        assert!(passages("  \n\n ", 16).is_empty());
    }

    #[test]
    fn sections_carry_title_headings_and_urls() {
        let file = SourceFile {
            path: "guide/setup.md".into(),
            format: DocFormat::Markdown,
            bytes: b"# Setup\n\nIntro text.\n\n## Install the tool\n\nRun it.\n".to_vec(),
        };
        let s = sections(&file, Some("https://docs.example.com/"), 300);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].title, "Setup");
        assert_eq!(s[0].headings, "");
        assert_eq!(s[0].url, "https://docs.example.com/guide/setup.html");
        assert_eq!(s[1].headings, "Install the tool");
        assert_eq!(
            s[1].url,
            "https://docs.example.com/guide/setup.html#install-the-tool"
        );
        assert_eq!(s[1].body, "Run it.");
    }
}
