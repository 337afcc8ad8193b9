//! A key as an admin asks for it, from `devassist keys create` or `POST /admin/keys`: the
//! same fields in both, with durations and dates as people write them (`30d`,
//! `2027-01-31`), turned into a checked [`KeySpec`].

use super::store::KeySpec;
use chrono::{DateTime, NaiveDate};
use devassist_core::Feature;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRequest {
    pub name: String,
    /// Models the key may use (configured names); absent: all.
    #[serde(default)]
    pub models: Option<Vec<String>>,
    /// Features the key may use (`code_completion`, `chat`…); absent: all.
    #[serde(default)]
    pub features: Option<Vec<String>>,
    #[serde(default)]
    pub rpm: Option<u32>,
    #[serde(default)]
    pub tpm: Option<u32>,
    #[serde(default)]
    pub max_parallel: Option<u32>,
    #[serde(default)]
    pub token_budget: Option<u64>,
    /// `30d`, `1w`, `12h`.
    #[serde(default)]
    pub budget_period: Option<String>,
    /// A duration from now (`90d`), a date (`2027-01-31`, midnight UTC) or an RFC 3339 time.
    #[serde(default)]
    pub expires: Option<String>,
    #[serde(default)]
    pub admin: bool,
}

impl KeyRequest {
    /// The spec to store, `now` being the current unix time.
    pub fn into_spec(self, now: i64) -> Result<KeySpec, String> {
        let features = self
            .features
            .map(|names| {
                names
                    .iter()
                    .map(|n| {
                        Feature::parse(n.trim()).ok_or_else(|| {
                            let known: Vec<&str> =
                                Feature::ALL.iter().map(|f| f.as_str()).collect();
                            format!("unknown feature `{n}` (known: {})", known.join(", "))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let budget_period_s = self
            .budget_period
            .as_deref()
            .map(|p| {
                humantime::parse_duration(p)
                    .map(|d| d.as_secs())
                    .map_err(|e| format!("budget_period `{p}` is not a duration like `30d`: {e}"))
            })
            .transpose()?;
        let expires_at = self
            .expires
            .as_deref()
            .map(|e| expiry(e, now))
            .transpose()?;
        if expires_at.is_some_and(|at| at <= now) {
            return Err("expires is in the past".into());
        }
        let spec = KeySpec {
            name: self.name.trim().to_owned(),
            admin: self.admin,
            models: self.models,
            features,
            rpm: self.rpm,
            tpm: self.tpm,
            max_parallel: self.max_parallel,
            token_budget: self.token_budget,
            budget_period_s,
            expires_at,
        };
        spec.check().map_err(|e| e.to_string())?;
        Ok(spec)
    }
}

fn expiry(text: &str, now: i64) -> Result<i64, String> {
    if let Ok(d) = humantime::parse_duration(text) {
        return Ok(now.saturating_add(secs(d)));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp());
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        && let Some(t) = day.and_hms_opt(0, 0, 0)
    {
        return Ok(t.and_utc().timestamp());
    }
    Err(format!(
        "expires `{text}` is not a duration (`90d`), a date (`2027-01-31`) or an RFC 3339 time"
    ))
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_dates_and_features_parse() {
        let req = KeyRequest {
            name: " ci ".into(),
            features: Some(vec!["chat".into(), "code_completion".into()]),
            token_budget: Some(1_000_000),
            budget_period: Some("30d".into()),
            expires: Some("90d".into()),
            ..KeyRequest::default()
        };
        let spec = req.into_spec(1_000).unwrap();
        assert_eq!(spec.name, "ci");
        assert_eq!(
            spec.features,
            Some(vec![Feature::Chat, Feature::CodeCompletion])
        );
        assert_eq!(spec.budget_period_s, Some(30 * 86_400));
        assert_eq!(spec.expires_at, Some(1_000 + 90 * 86_400));
        let date = KeyRequest {
            name: "d".into(),
            expires: Some("2030-01-01".into()),
            ..KeyRequest::default()
        };
        assert_eq!(date.into_spec(0).unwrap().expires_at, Some(1_893_456_000));
    }

    #[test]
    fn mistakes_are_named() {
        let bad = |r: KeyRequest| r.into_spec(10_000_000_000).unwrap_err();
        let named = |f: fn(&mut KeyRequest)| {
            let mut r = KeyRequest {
                name: "n".into(),
                ..KeyRequest::default()
            };
            f(&mut r);
            r
        };
        assert!(
            bad(named(|r| r.features = Some(vec!["chitchat".into()])))
                .contains("known: code_completion")
        );
        assert!(bad(named(|r| r.budget_period = Some("monthly".into()))).contains("budget_period"));
        assert!(bad(named(|r| r.expires = Some("2020-01-01".into()))).contains("past"));
        assert!(bad(named(|r| r.token_budget = Some(5))).contains("budget_period"));
    }
}
