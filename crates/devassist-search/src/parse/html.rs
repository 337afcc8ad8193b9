//! HTML pages: the main content (`<main>`, `[role=main]`, `<article>`, else `<body>`) with
//! scripts, styles, navigation, forms and permalink markers removed, split at `<h1>`–`<h4>`.
//! Anchors come from the heading's `id`, its enclosing section's `id` (Sphinx), or a slug.

use super::{Page, RawSection, slug};
use ego_tree::iter::Edge;
use ego_tree::{NodeId, NodeRef};
use scraper::{CaseSensitivity, Html, Node, Selector};

/// Elements whose whole subtree is never text of the page.
const SKIPPED: &[&str] = &[
    "button", "footer", "form", "head", "iframe", "nav", "noscript", "script", "select", "style",
    "svg", "template", "textarea",
];

/// Elements that end a paragraph, so their text does not run into the next block.
const BLOCKS: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "br",
    "caption",
    "dd",
    "details",
    "div",
    "dl",
    "dt",
    "figcaption",
    "figure",
    "h5",
    "h6",
    "header",
    "hr",
    "li",
    "main",
    "ol",
    "p",
    "pre",
    "section",
    "summary",
    "table",
    "tbody",
    "tfoot",
    "thead",
    "tr",
    "ul",
];

/// Classes of permalink markers (`¶`) and screen-reader-only copies.
const SKIPPED_CLASSES: &[&str] = &["headerlink", "anchorjs-link", "sr-only", "visually-hidden"];

pub(super) fn parse(text: &str) -> Page {
    let doc = Html::parse_document(text);
    let mut w = Walk {
        page: Page {
            title: document_title(&doc),
            sections: Vec::new(),
        },
        current: RawSection {
            headings: Vec::new(),
            anchor: None,
            text: String::new(),
        },
        ..Walk::default()
    };
    for edge in main_content(&doc).traverse() {
        match edge {
            Edge::Open(node) => w.open(node),
            Edge::Close(node) => w.close(node),
        }
    }
    w.page.sections.push(w.current);
    w.page
}

/// Traversal state.
#[derive(Default)]
struct Walk {
    page: Page,
    current: RawSection,
    /// Open headings: level, text, anchor.
    stack: Vec<(usize, String, Option<String>)>,
    h1_seen: bool,
    /// The subtree being skipped.
    skipping: Option<NodeId>,
    /// The heading (or anchored definition term) being read: level, node, text.
    heading: Option<(usize, NodeId, String)>,
    pre_depth: usize,
    dl_depth: usize,
    /// Definition lists whose anchored terms opened sections, with those sections' level.
    def_lists: Vec<(NodeId, usize)>,
}

impl Walk {
    fn open(&mut self, node: NodeRef<'_, Node>) {
        if self.skipping.is_some() {
            return;
        }
        match node.value() {
            Node::Text(t) => {
                let target = match &mut self.heading {
                    Some((_, _, h)) => h,
                    None => &mut self.current.text,
                };
                if self.pre_depth > 0 {
                    target.push_str(t);
                } else {
                    target.push_str(&t.replace('\n', " "));
                }
            }
            Node::Element(el) => {
                let name = el.name();
                if SKIPPED.contains(&name) || is_hidden(el) {
                    self.skipping = Some(node.id());
                    return;
                }
                if let Some(level) = heading_level(name) {
                    if self.heading.is_none() {
                        self.heading = Some((level, node.id(), String::new()));
                    }
                    return;
                }
                if name == "dl" {
                    self.dl_depth += 1;
                }
                // An API entry (Sphinx `<dt id="json.dumps">`, glossary terms) opens a
                // section one level below the headings, so results link to the entry.
                if name == "dt" && el.id().is_some() && self.dl_depth > 0 && self.heading.is_none()
                {
                    let level = 4 + self.dl_depth;
                    self.heading = Some((level, node.id(), String::new()));
                    if let Some(dl) = node.parent()
                        && self.def_lists.last().map(|d| d.0) != Some(dl.id())
                    {
                        self.def_lists.push((dl.id(), level));
                    }
                    return;
                }
                if BLOCKS.contains(&name) {
                    self.current.text.push_str("\n\n");
                    if name == "pre" {
                        self.pre_depth += 1;
                    }
                } else if matches!(name, "td" | "th") {
                    self.current.text.push(' ');
                }
            }
            _ => {}
        }
    }

    fn close(&mut self, node: NodeRef<'_, Node>) {
        if self.skipping == Some(node.id()) {
            self.skipping = None;
            return;
        }
        if self.skipping.is_some() {
            return;
        }
        let Node::Element(el) = node.value() else {
            return;
        };
        let name = el.name();
        if matches!(&self.heading, Some((_, id, _)) if *id == node.id()) {
            if let Some((level, _, text)) = self.heading.take() {
                self.start_section(node, level, &text, name == "dt");
            }
            return;
        }
        if BLOCKS.contains(&name) {
            self.current.text.push_str("\n\n");
            if name == "pre" {
                self.pre_depth = self.pre_depth.saturating_sub(1);
            }
        }
        if name == "dl" {
            self.dl_depth = self.dl_depth.saturating_sub(1);
            if let Some(&(id, level)) = self.def_lists.last()
                && id == node.id()
            {
                // Text after the list belongs to the heading the list sat under again.
                self.def_lists.pop();
                self.stack.retain(|(l, _, _)| *l < level);
                self.push_section();
                self.current.headings = self.stack.iter().map(|(_, t, _)| t.clone()).collect();
                self.current.anchor = self.stack.last().and_then(|(_, _, a)| a.clone());
            }
        }
    }

    fn push_section(&mut self) {
        let done = std::mem::take(&mut self.current);
        self.page.sections.push(done);
    }

    fn start_section(
        &mut self,
        node: NodeRef<'_, Node>,
        level: usize,
        text: &str,
        definition: bool,
    ) {
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        self.push_section();
        if level == 1 && !self.h1_seen {
            // The first h1 names the page; its section is the page top.
            self.h1_seen = true;
            self.page.title = text;
            self.stack.clear();
            return;
        }
        let anchor = Some(heading_anchor(node).unwrap_or_else(|| slug(&text)));
        let label = if definition {
            // `json.dumps(obj, *, skipkeys=False, …)`: the name heads the section, the full
            // signature starts its text.
            self.current.text = format!("{text}\n\n");
            definition_label(&text)
        } else {
            text
        };
        self.stack.retain(|(l, _, _)| *l < level);
        self.stack.push((level, label, anchor.clone()));
        self.current.anchor = anchor;
        self.current.headings = self.stack.iter().map(|(_, t, _)| t.clone()).collect();
    }
}

/// The name part of an API signature: up to the parameter list, at most 80 characters.
fn definition_label(signature: &str) -> String {
    let name = signature.split('(').next().unwrap_or(signature).trim();
    let name = name
        .trim_start_matches("class ")
        .trim_start_matches("exception ");
    if name.chars().count() > 80 {
        let cut: String = name.chars().take(80).collect();
        format!("{cut}…")
    } else {
        name.to_string()
    }
}

fn heading_level(name: &str) -> Option<usize> {
    match name {
        "h1" => Some(1),
        "h2" => Some(2),
        "h3" => Some(3),
        "h4" => Some(4),
        _ => None,
    }
}

fn is_hidden(el: &scraper::node::Element) -> bool {
    el.attr("hidden").is_some()
        || el.attr("aria-hidden") == Some("true")
        || matches!(el.attr("role"), Some("navigation" | "search"))
        || SKIPPED_CLASSES
            .iter()
            .any(|c| el.has_class(c, CaseSensitivity::AsciiCaseInsensitive))
}

/// The heading's own `id`, else the `id` of the section it opens, else an anchor inside it.
fn heading_anchor(node: NodeRef<'_, Node>) -> Option<String> {
    let el = node.value().as_element()?;
    if let Some(id) = el.id() {
        return Some(id.to_string());
    }
    let opens_parent = node.prev_siblings().all(|s| !s.value().is_element());
    if opens_parent && let Some(id) = node.parent().and_then(|p| p.value().as_element()?.id()) {
        return Some(id.to_string());
    }
    node.descendants().find_map(|d| {
        let a = d.value().as_element()?;
        if let Some(id) = a.id().or_else(|| a.attr("name")) {
            return Some(id.to_string());
        }
        let href = a.attr("href")?.strip_prefix('#')?;
        (!href.is_empty()).then(|| href.to_string())
    })
}

fn document_title(doc: &Html) -> String {
    Selector::parse("title")
        .ok()
        .and_then(|sel| doc.select(&sel).next())
        .map(|t| t.text().collect::<String>().trim().to_string())
        .unwrap_or_default()
}

fn main_content(doc: &Html) -> NodeRef<'_, Node> {
    for css in ["main", "[role=main]", "article", "body"] {
        if let Some(el) = Selector::parse(css)
            .ok()
            .and_then(|sel| doc.select(&sel).next())
        {
            return *el;
        }
    }
    doc.tree.root()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPHINX: &str = r##"<!DOCTYPE html><html><head><title>json — JSON encoder &#8212; Docs</title>
<script>var x = "not text";</script></head><body>
<nav class="menu"><h3>Table of Contents</h3><a href="#">Menu</a></nav>
<div class="body" role="main">
<section id="module-json"><h1>json — JSON encoder<a class="headerlink" href="#module-json">¶</a></h1>
<p>Intro about <code>json</code>
text.</p>
<section id="basic-usage"><h2>Basic Usage<a class="headerlink" href="#basic-usage">¶</a></h2>
<dl><dt id="json.dumps">json.dumps(obj)</dt><dd><p>Serialize <em>obj</em>.</p></dd></dl>
<pre>line one
line two</pre>
<section><h3 id="own-id">Details</h3><table><tr><td>a</td><td>b</td></tr></table></section>
</section>
<section id="cli"><h2>Command Line</h2><h5>Minor</h5><p>Run it.</p></section>
</section></div>
<footer>Copyright</footer></body></html>"##;

    #[test]
    fn sphinx_page_splits_into_sections() {
        let page = parse(SPHINX);
        assert_eq!(page.title, "json — JSON encoder");
        let s: Vec<&RawSection> = page
            .sections
            .iter()
            .filter(|s| !s.text.trim().is_empty())
            .collect();
        assert_eq!(s.len(), 5);
        assert!(s[0].headings.is_empty());
        assert!(s[0].text.contains("Intro about json text."));
        assert_eq!(s[1].headings, ["Basic Usage", "json.dumps"]);
        assert_eq!(s[1].anchor.as_deref(), Some("json.dumps"));
        assert!(s[1].text.contains("json.dumps(obj)") && s[1].text.contains("Serialize obj."));
        assert_eq!(s[2].headings, ["Basic Usage"]);
        assert_eq!(s[2].anchor.as_deref(), Some("basic-usage"));
        assert!(s[2].text.contains("line one\nline two"));
        assert_eq!(s[3].headings, ["Basic Usage", "Details"]);
        assert_eq!(s[3].anchor.as_deref(), Some("own-id"));
        assert!(s[3].text.contains('a') && s[3].text.contains('b'));
        assert_eq!(s[4].headings, ["Command Line"]);
        assert_eq!(s[4].anchor.as_deref(), Some("cli"));
        assert!(s[4].text.contains("Minor") && s[4].text.contains("Run it."));
        let all: String = page.sections.iter().map(|s| s.text.as_str()).collect();
        for noise in ["not text", "Table of Contents", "Menu", "¶", "Copyright"] {
            assert!(!all.contains(noise), "{noise} leaked into the text");
        }
    }

    #[test]
    fn definition_labels_are_names() {
        assert_eq!(
            definition_label("class json.JSONEncoder(*, skipkeys=False)"),
            "json.JSONEncoder"
        );
        assert_eq!(definition_label("GIL"), "GIL");
    }

    #[test]
    fn page_without_h1_uses_title_tag_and_slugs() {
        let page = parse(
            "<html><head><title>Plain</title></head><body><h2>Two Words</h2><p>x</p></body></html>",
        );
        assert_eq!(page.title, "Plain");
        assert_eq!(page.sections[1].anchor.as_deref(), Some("two-words"));
    }
}
