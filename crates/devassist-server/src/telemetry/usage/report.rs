//! What `devassist usage` prints: the records since a time, summed up per key, user,
//! model, feature or surface — requests, prompt and completion tokens, errors, cancelled
//! requests, median time to first token and mean duration. Pure over the rows; the command
//! only formats the result.

use super::store::{Row, Store, StoreError};
use serde::Serialize;
use std::collections::HashMap;
use std::time::SystemTime;

/// What the records are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    Key,
    User,
    Model,
    Feature,
    Surface,
}

impl By {
    pub fn as_str(self) -> &'static str {
        match self {
            By::Key => "key",
            By::User => "user",
            By::Model => "model",
            By::Feature => "feature",
            By::Surface => "surface",
        }
    }

    fn of(self, row: &Row) -> Option<&str> {
        match self {
            By::Key => row.key.as_deref(),
            By::User => row.user.as_deref(),
            By::Model => row.model.as_deref(),
            By::Feature => row.feature.as_deref(),
            By::Surface => Some(&row.surface),
        }
    }
}

/// One group's totals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// The key, user, model… of the group; `None` for records without one (anonymous
    /// requests, requests refused before a model was chosen).
    pub group: Option<String>,
    pub requests: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Requests answered with an error (status 400 or more; cancelled ones are not errors).
    pub errors: u64,
    /// Requests whose client went away before the answer ended.
    pub cancelled: u64,
    /// Median time to first token of the requests that had one.
    pub p50_ttft_ms: Option<f64>,
    pub mean_duration_ms: Option<f64>,
}

#[derive(Default)]
struct Totals {
    requests: u64,
    prompt_tokens: u64,
    completion_tokens: u64,
    errors: u64,
    cancelled: u64,
    ttfts: Vec<f64>,
    duration_ms: f64,
}

impl Totals {
    fn add(&mut self, row: &Row) {
        self.requests += 1;
        self.prompt_tokens += u64::from(row.prompt_tokens.unwrap_or(0));
        self.completion_tokens += u64::from(row.completion_tokens.unwrap_or(0));
        if row.cancelled {
            self.cancelled += 1;
        } else if row.status >= 400 {
            self.errors += 1;
        }
        if let Some(t) = row.ttft_ms {
            self.ttfts.push(t);
        }
        self.duration_ms += row.duration_ms;
    }

    fn summary(mut self, group: Option<String>) -> Summary {
        Summary {
            group,
            requests: self.requests,
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            errors: self.errors,
            cancelled: self.cancelled,
            p50_ttft_ms: median(&mut self.ttfts),
            mean_duration_ms: (self.requests > 0).then(|| self.duration_ms / self.requests as f64),
        }
    }
}

/// The median by nearest rank: the smallest value at least half of the values are ≤ to.
fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    values.get(values.len().div_ceil(2) - 1).copied()
}

/// Sums `rows` up by `by`: the busiest group first, then by name.
pub fn summarize(rows: impl IntoIterator<Item = Row>, by: By) -> Vec<Summary> {
    let mut groups: HashMap<Option<String>, Totals> = HashMap::new();
    for row in rows {
        groups
            .entry(by.of(&row).map(str::to_owned))
            .or_default()
            .add(&row);
    }
    let mut out: Vec<Summary> = groups
        .into_iter()
        .map(|(group, totals)| totals.summary(group))
        .collect();
    out.sort_by(|a, b| b.requests.cmp(&a.requests).then(a.group.cmp(&b.group)));
    out
}

/// The records of `store` since `since`, summed up by `by`.
pub fn from_store(store: &Store, since: SystemTime, by: By) -> Result<Vec<Summary>, StoreError> {
    let mut rows = Vec::new();
    store.each_since(since, |r| rows.push(r))?;
    Ok(summarize(rows, by))
}

/// `--since`: a duration back from `now` (`90m`, `24h`, `7d`) or an RFC 3339 time.
pub fn parse_since(text: &str, now: SystemTime) -> Result<SystemTime, String> {
    let text = text.trim();
    if let Ok(ago) = humantime::parse_duration(text) {
        return now
            .checked_sub(ago)
            .ok_or_else(|| format!("`{text}` reaches back too far"));
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(SystemTime::from)
        .map_err(|_| format!("`{text}` is neither a duration (1h, 24h, 7d) nor an RFC 3339 time"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn row(model: Option<&str>, key: Option<&str>, status: u16, ttft: Option<f64>) -> Row {
        Row {
            at_ms: 0,
            request_id: "r".into(),
            key: key.map(Into::into),
            user: None,
            surface: "openai".into(),
            feature: Some("chat".into()),
            model: model.map(Into::into),
            backend: None,
            prompt_tokens: Some(10),
            completion_tokens: Some(5),
            ttft_ms: ttft,
            duration_ms: 100.0,
            status,
            cancelled: false,
        }
    }

    #[test]
    fn groups_sum_tokens_count_errors_and_take_the_median_ttft() {
        let mut cancelled = row(Some("a"), None, 499, None);
        cancelled.cancelled = true;
        cancelled.duration_ms = 400.0;
        let rows = vec![
            row(Some("a"), Some("k1"), 200, Some(30.0)),
            row(Some("a"), Some("k1"), 200, Some(10.0)),
            row(Some("a"), Some("k2"), 502, Some(20.0)),
            cancelled,
            row(Some("b"), Some("k1"), 200, Some(50.0)),
            row(None, None, 404, None),
        ];
        let by_model = summarize(rows.clone(), By::Model);
        let groups: Vec<Option<&str>> = by_model.iter().map(|s| s.group.as_deref()).collect();
        assert_eq!(
            groups,
            [Some("a"), None, Some("b")],
            "busiest first, then by name"
        );
        let a = &by_model[0];
        assert_eq!(a.requests, 4);
        assert_eq!((a.prompt_tokens, a.completion_tokens), (40, 20));
        assert_eq!(a.errors, 1, "the 502; a cancelled request is not an error");
        assert_eq!(a.cancelled, 1);
        assert_eq!(a.p50_ttft_ms, Some(20.0), "median of 10, 20, 30");
        assert_eq!(a.mean_duration_ms, Some(175.0));
        assert_eq!(by_model[1].errors, 1);
        assert_eq!(by_model[1].p50_ttft_ms, None);

        let by_key = summarize(rows, By::Key);
        let k1 = by_key
            .iter()
            .find(|s| s.group.as_deref() == Some("k1"))
            .map(|s| s.requests);
        assert_eq!(k1, Some(3));
        assert_eq!(
            by_key.iter().map(|s| s.requests).sum::<u64>(),
            6,
            "every row in one group"
        );
    }

    #[test]
    fn the_median_of_an_even_count_is_the_lower_middle() {
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [7.0]), Some(7.0));
        assert_eq!(median(&mut []), None);
    }

    #[test]
    fn since_takes_durations_and_rfc3339() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(10 * 86_400);
        assert_eq!(parse_since("1h", now), Ok(now - Duration::from_secs(3600)));
        assert_eq!(
            parse_since("7d", now),
            Ok(now - Duration::from_secs(7 * 86_400))
        );
        assert_eq!(
            parse_since("1970-01-02T00:00:00Z", now),
            Ok(SystemTime::UNIX_EPOCH + Duration::from_secs(86_400))
        );
        assert!(parse_since("yesterday", now).is_err());
    }
}
