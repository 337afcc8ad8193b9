//! Page URLs and heading anchors. A Markdown page is published as HTML by every static site
//! generator we know of, so `guide/setup.md` becomes `guide/setup.html`; HTML and text paths
//! are kept. Anchors follow GitHub's heading slugs when the source gives none.

use crate::source::DocFormat;

/// The URL of a page: `base_url` joined with the path, or the bare path without a base.
pub(super) fn page_url(base_url: Option<&str>, path: &str, format: DocFormat) -> String {
    let published = match format {
        DocFormat::Markdown => match path.rsplit_once('.') {
            Some((stem, _)) => format!("{stem}.html"),
            None => path.to_string(),
        },
        DocFormat::Html | DocFormat::Text => path.to_string(),
    };
    let published = published.replace(' ', "%20");
    match base_url.map(|b| b.trim_end_matches('/')) {
        Some(base) if !base.is_empty() => format!("{base}/{published}"),
        _ => published,
    }
}

/// GitHub-style heading slug: lower case, letters, digits, `-` and `_` kept, spaces to `-`.
pub(crate) fn slug(heading: &str) -> String {
    heading
        .trim()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_pages_become_html() {
        assert_eq!(
            page_url(Some("https://d.example/x/"), "a/b.md", DocFormat::Markdown),
            "https://d.example/x/a/b.html"
        );
        assert_eq!(
            page_url(None, "a/my page.html", DocFormat::Html),
            "a/my%20page.html"
        );
        assert_eq!(page_url(Some(""), "t.txt", DocFormat::Text), "t.txt");
    }

    #[test]
    fn slugs_match_github() {
        assert_eq!(
            slug("Install the `devassist` CLI!"),
            "install-the-devassist-cli"
        );
        assert_eq!(slug("snake_case and-dash"), "snake_case-and-dash");
    }
}
