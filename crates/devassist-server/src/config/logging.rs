//! `[log] expanded` and `expanded_file`: expanded logging, GitLab's `expanded_ai_logging` —
//! full prompts and answers as JSON lines in a file of their own, secrets redacted
//! (`telemetry/expanded`). Off by default.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The file expanded logs go to by default, under the data directory.
pub const EXPANDED_FILE: &str = "expanded.jsonl";

/// The header GitLab sends with the feature flags enabled for a request.
pub const GITLAB_FLAGS_HEADER: &str = "x-gitlab-enabled-feature-flags";
/// The flag in it that asks for expanded logging.
pub const GITLAB_FLAG: &str = "expanded_ai_logging";

/// `expanded = true | false | "gitlab_flag"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawExpanded {
    Bool(bool),
    Word(String),
}

/// Which requests expanded logging writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ExpandedMode {
    /// None (the default).
    #[default]
    Off,
    /// Every generation.
    All,
    /// Requests with `expanded_ai_logging` in `X-Gitlab-Enabled-Feature-Flags`.
    GitLabFlag,
}

#[derive(Debug, Clone, Default)]
pub struct ExpandedLogSettings {
    pub mode: ExpandedMode,
    /// Where the JSON lines are appended.
    pub file: PathBuf,
}

pub fn validate(
    expanded: Option<RawExpanded>,
    file: Option<String>,
    data_dir: &Path,
    p: &mut impl FnMut(String, String),
) -> ExpandedLogSettings {
    let mode = match expanded {
        None | Some(RawExpanded::Bool(false)) => ExpandedMode::Off,
        Some(RawExpanded::Bool(true)) => ExpandedMode::All,
        Some(RawExpanded::Word(w)) => match w.as_str() {
            "gitlab_flag" => ExpandedMode::GitLabFlag,
            "off" | "false" => ExpandedMode::Off,
            "all" | "true" => ExpandedMode::All,
            other => {
                p(
                    "log.expanded".into(),
                    format!("`{other}` is not true, false or \"gitlab_flag\""),
                );
                ExpandedMode::Off
            }
        },
    };
    let file = match file.filter(|f| !f.trim().is_empty()) {
        Some(f) => PathBuf::from(f),
        None => data_dir.join(EXPANDED_FILE),
    };
    ExpandedLogSettings { mode, file }
}

impl ExpandedLogSettings {
    /// Whether a request with these headers is written.
    pub fn covers(&self, headers: &http::HeaderMap) -> bool {
        match self.mode {
            ExpandedMode::Off => false,
            ExpandedMode::All => true,
            ExpandedMode::GitLabFlag => headers.get_all(GITLAB_FLAGS_HEADER).iter().any(|v| {
                v.to_str().is_ok_and(|flags| {
                    flags
                        .split(',')
                        .any(|f| f.trim().eq_ignore_ascii_case(GITLAB_FLAG))
                })
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(expanded: Option<RawExpanded>) -> (ExpandedLogSettings, Vec<String>) {
        let mut problems = Vec::new();
        let s = validate(expanded, None, Path::new("/data"), &mut |path, _| {
            problems.push(path)
        });
        (s, problems)
    }

    #[test]
    fn off_by_default_and_the_file_under_the_data_dir() {
        let (s, problems) = settings(None);
        assert_eq!(s.mode, ExpandedMode::Off);
        assert_eq!(s.file, PathBuf::from("/data/expanded.jsonl"));
        assert!(problems.is_empty());
        assert!(!s.covers(&http::HeaderMap::new()));
    }

    #[test]
    fn the_gitlab_flag_mode_follows_the_header_and_true_covers_everything() {
        let (flag, _) = settings(Some(RawExpanded::Word("gitlab_flag".into())));
        let mut headers = http::HeaderMap::new();
        assert!(!flag.covers(&headers));
        headers.insert(
            GITLAB_FLAGS_HEADER,
            http::HeaderValue::from_static("other_flag, expanded_ai_logging"),
        );
        assert!(flag.covers(&headers));
        let (all, _) = settings(Some(RawExpanded::Bool(true)));
        assert!(all.covers(&http::HeaderMap::new()));
        let (off, _) = settings(Some(RawExpanded::Bool(false)));
        assert!(!off.covers(&headers), "the header cannot turn it on");
        let (_, problems) = settings(Some(RawExpanded::Word("sometimes".into())));
        assert_eq!(problems, ["log.expanded"]);
    }
}
