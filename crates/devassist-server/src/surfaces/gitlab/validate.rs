//! Request validation with FastAPI's 422 body: every problem in the body at once, each as
//! `{"type", "loc", "msg", "input"[, "ctx"]}` with pydantic v2's types and wording.
//!
//! The GitLab gateway validates with pydantic in lax mode, so this does too: booleans accept
//! `"true"`/`1`, integers accept `"5"` and `5.0`, strings accept only strings. Unknown fields
//! are ignored, as pydantic does by default.

use serde::Serialize;
use serde_json::{Map, Value, json};

/// One step of a `loc`: a field name or a list index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// Where a value sits in the request, starting at `"body"`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Loc(Vec<Step>);

impl Loc {
    pub fn body() -> Self {
        Loc(vec![Step::Key("body".to_owned())])
    }

    pub fn key(&self, key: &str) -> Loc {
        let mut steps = self.0.clone();
        steps.push(Step::Key(key.to_owned()));
        Loc(steps)
    }

    pub fn index(&self, i: usize) -> Loc {
        let mut steps = self.0.clone();
        steps.push(Step::Index(i));
        Loc(steps)
    }
}

impl Serialize for Loc {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// One validation problem, serialised exactly as FastAPI writes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Issue {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub loc: Loc,
    pub msg: String,
    pub input: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ctx: Option<Value>,
}

/// Collects issues while a body is read. Every accessor returns `None` after recording an
/// issue, so one pass reports all problems.
#[derive(Debug, Default)]
pub struct Checker {
    pub issues: Vec<Issue>,
}

/// Character counts as Python's `len(str)`: code points.
fn chars(s: &str) -> usize {
    s.chars().count()
}

impl Checker {
    pub fn issue(&mut self, kind: &'static str, loc: &Loc, msg: impl Into<String>, input: &Value) {
        self.issues.push(Issue {
            kind,
            loc: loc.clone(),
            msg: msg.into(),
            input: input.clone(),
            ctx: None,
        });
    }

    fn issue_ctx(&mut self, kind: &'static str, loc: &Loc, msg: String, input: &Value, ctx: Value) {
        self.issues.push(Issue {
            kind,
            loc: loc.clone(),
            msg,
            input: input.clone(),
            ctx: Some(ctx),
        });
    }

    pub fn ok(&self) -> bool {
        self.issues.is_empty()
    }

    /// The value must be an object (a pydantic model).
    pub fn object<'a>(&mut self, v: &'a Value, loc: &Loc) -> Option<&'a Map<String, Value>> {
        match v {
            Value::Object(map) => Some(map),
            other => {
                self.issue(
                    "model_attributes_type",
                    loc,
                    "Input should be a valid dictionary or object to extract fields from",
                    other,
                );
                None
            }
        }
    }

    /// A required field; `missing` names the whole object as the input, as pydantic does.
    pub fn required<'a>(
        &mut self,
        obj: &'a Map<String, Value>,
        key: &str,
        loc: &Loc,
    ) -> Option<&'a Value> {
        match obj.get(key) {
            Some(v) => Some(v),
            None => {
                self.issue(
                    "missing",
                    &loc.key(key),
                    "Field required",
                    &Value::Object(obj.clone()),
                );
                None
            }
        }
    }

    /// A present, non-null optional field.
    pub fn optional<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
        obj.get(key).filter(|v| !v.is_null())
    }

    /// A string of at most `max` characters, stripped of surrounding whitespace first when
    /// `strip` is set (pydantic's `strip_whitespace`).
    pub fn string(
        &mut self,
        v: &Value,
        loc: &Loc,
        max: Option<usize>,
        strip: bool,
    ) -> Option<String> {
        let Value::String(s) = v else {
            self.issue("string_type", loc, "Input should be a valid string", v);
            return None;
        };
        let s = if strip { s.trim() } else { s.as_str() };
        if let Some(max) = max
            && chars(s) > max
        {
            let plural = if max == 1 { "" } else { "s" };
            self.issue_ctx(
                "string_too_long",
                loc,
                format!("String should have at most {max} character{plural}"),
                v,
                json!({"max_length": max}),
            );
            return None;
        }
        Some(s.to_owned())
    }

    /// A required string field.
    pub fn req_string(
        &mut self,
        obj: &Map<String, Value>,
        key: &str,
        loc: &Loc,
        max: Option<usize>,
        strip: bool,
    ) -> Option<String> {
        let v = self.required(obj, key, loc)?;
        self.string(v, &loc.key(key), max, strip)
    }

    /// An optional string field (absent or null is `None`).
    pub fn opt_string(
        &mut self,
        obj: &Map<String, Value>,
        key: &str,
        loc: &Loc,
        max: Option<usize>,
        strip: bool,
    ) -> Option<String> {
        let v = Self::optional(obj, key)?;
        self.string(v, &loc.key(key), max, strip)
    }

    /// A boolean in pydantic's lax mode; absent or null is `default`.
    pub fn opt_bool(
        &mut self,
        obj: &Map<String, Value>,
        key: &str,
        loc: &Loc,
        default: bool,
    ) -> bool {
        let Some(v) = Self::optional(obj, key) else {
            return default;
        };
        let parsed = match v {
            Value::Bool(b) => Some(*b),
            Value::Number(n) => match n.as_f64() {
                Some(0.0) => Some(false),
                Some(1.0) => Some(true),
                _ => None,
            },
            Value::String(s) => match s.to_ascii_lowercase().as_str() {
                "0" | "off" | "f" | "false" | "n" | "no" => Some(false),
                "1" | "on" | "t" | "true" | "y" | "yes" => Some(true),
                _ => None,
            },
            _ => None,
        };
        parsed.unwrap_or_else(|| {
            let kind = if v.is_string() || v.is_number() {
                "bool_parsing"
            } else {
                "bool_type"
            };
            let msg = if kind == "bool_parsing" {
                "Input should be a valid boolean, unable to interpret input"
            } else {
                "Input should be a valid boolean"
            };
            self.issue(kind, &loc.key(key), msg, v);
            default
        })
    }

    /// An integer in pydantic's lax mode.
    pub fn int(&mut self, v: &Value, loc: &Loc) -> Option<i64> {
        let parsed = match v {
            Value::Number(n) => n.as_i64().or_else(|| {
                n.as_f64()
                    .filter(|x| x.fract() == 0.0 && x.abs() < 9.0e15)
                    .map(|x| x as i64)
            }),
            Value::String(s) => s.trim().parse::<i64>().ok(),
            Value::Bool(_) => None,
            _ => None,
        };
        if parsed.is_none() {
            let (kind, msg) = match v {
                Value::String(_) => (
                    "int_parsing",
                    "Input should be a valid integer, unable to parse string as an integer",
                ),
                Value::Number(_) => (
                    "int_from_float",
                    "Input should be a valid integer, got a number with a fractional part",
                ),
                _ => ("int_type", "Input should be a valid integer"),
            };
            self.issue(kind, loc, msg, v);
        }
        parsed
    }

    /// A list with at most `max` (and at least `min`) items.
    pub fn list<'a>(
        &mut self,
        v: &'a Value,
        loc: &Loc,
        min: usize,
        max: Option<usize>,
    ) -> Option<&'a [Value]> {
        let Value::Array(items) = v else {
            self.issue("list_type", loc, "Input should be a valid list", v);
            return None;
        };
        let n = items.len();
        if n < min {
            let plural = if min == 1 { "" } else { "s" };
            self.issue_ctx(
                "too_short",
                loc,
                format!("List should have at least {min} item{plural} after validation, not {n}"),
                v,
                json!({"field_type": "List", "min_length": min, "actual_length": n}),
            );
            return None;
        }
        if let Some(max) = max
            && n > max
        {
            let plural = if max == 1 { "" } else { "s" };
            self.issue_ctx(
                "too_long",
                loc,
                format!("List should have at most {max} item{plural} after validation, not {n}"),
                v,
                json!({"field_type": "List", "max_length": max, "actual_length": n}),
            );
            return None;
        }
        Some(items)
    }

    /// One of a closed set of strings (a Python `Literal` or `StrEnum`).
    pub fn choice(
        &mut self,
        v: &Value,
        loc: &Loc,
        allowed: &[&'static str],
    ) -> Option<&'static str> {
        if let Value::String(s) = v
            && let Some(found) = allowed.iter().find(|a| **a == s.as_str())
        {
            return Some(found);
        }
        let expected = quoted_or_list(allowed);
        self.issue_ctx(
            "literal_error",
            loc,
            format!("Input should be {expected}"),
            v,
            json!({"expected": expected}),
        );
        None
    }
}

/// `'a', 'b' or 'c'`, as pydantic lists expected values.
fn quoted_or_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("'{s}'")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// FastAPI's body for JSON it cannot parse: the byte position as the last `loc` step.
pub fn json_invalid(err: &serde_json::Error, body: &[u8]) -> Issue {
    // Python reports where it expected the missing value: the end of the text.
    let position = if err.is_eof() {
        String::from_utf8_lossy(body).chars().count()
    } else {
        byte_offset(body, err.line(), err.column())
    };
    Issue {
        kind: "json_invalid",
        loc: Loc::body().index(position),
        msg: "JSON decode error".to_owned(),
        input: json!({}),
        ctx: Some(json!({"error": python_json_error(err)})),
    }
}

/// Python's `json` module words its errors differently from serde; the common cases.
fn python_json_error(err: &serde_json::Error) -> &'static str {
    let text = err.to_string();
    if err.is_eof() {
        "Expecting value"
    } else if text.contains("key must be a string") {
        "Expecting property name enclosed in double quotes"
    } else if text.contains("expected `:`") {
        "Expecting ':' delimiter"
    } else if text.contains("expected `,` or `}`") {
        "Expecting ',' delimiter"
    } else if text.contains("trailing characters") {
        "Extra data"
    } else {
        "Expecting value"
    }
}

/// serde reports a 1-based line and column; FastAPI a 0-based character position.
fn byte_offset(body: &[u8], line: usize, column: usize) -> usize {
    let text = String::from_utf8_lossy(body);
    let mut offset = 0;
    for (i, l) in text.split('\n').enumerate() {
        if i + 1 == line {
            return offset + column.saturating_sub(1).min(l.chars().count());
        }
        offset += l.chars().count() + 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issues_serialise_like_fastapi() {
        let mut c = Checker::default();
        let body = json!({"stream": "maybe"});
        let obj = c.object(&body, &Loc::body()).cloned().unwrap_or_default();
        c.required(&obj, "current_file", &Loc::body());
        c.opt_bool(&obj, "stream", &Loc::body(), false);
        let got = serde_json::to_value(&c.issues).unwrap_or_default();
        assert_eq!(
            got,
            json!([
                {"type": "missing", "loc": ["body", "current_file"], "msg": "Field required",
                 "input": {"stream": "maybe"}},
                {"type": "bool_parsing", "loc": ["body", "stream"],
                 "msg": "Input should be a valid boolean, unable to interpret input", "input": "maybe"}
            ])
        );
    }

    #[test]
    fn string_limits_count_characters_after_stripping() {
        let mut c = Checker::default();
        let loc = Loc::body().key("f");
        assert_eq!(
            c.string(&json!("  ab  "), &loc, Some(2), true),
            Some("ab".to_owned())
        );
        assert_eq!(
            c.string(&json!("ééé"), &loc, Some(3), false),
            Some("ééé".to_owned())
        );
        assert_eq!(c.string(&json!("abc"), &loc, Some(2), false), None);
        assert_eq!(c.string(&json!(5), &loc, None, false), None);
        let kinds: Vec<&str> = c.issues.iter().map(|i| i.kind).collect();
        assert_eq!(kinds, ["string_too_long", "string_type"]);
        assert_eq!(c.issues[0].msg, "String should have at most 2 characters");
        assert_eq!(c.issues[0].ctx, Some(json!({"max_length": 2})));
    }

    #[test]
    fn lax_numbers_and_lists() {
        let mut c = Checker::default();
        let loc = Loc::body();
        assert_eq!(c.int(&json!("42"), &loc), Some(42));
        assert_eq!(c.int(&json!(3.0), &loc), Some(3));
        assert_eq!(c.int(&json!(3.5), &loc), None);
        assert!(c.list(&json!([1, 2, 3]), &loc, 1, Some(2)).is_none());
        assert!(c.list(&json!([]), &loc, 1, None).is_none());
        assert_eq!(
            c.issues[1].msg,
            "List should have at most 2 items after validation, not 3"
        );
        assert_eq!(
            c.issues[2].msg,
            "List should have at least 1 item after validation, not 0"
        );
        assert_eq!(
            c.choice(&json!("bot"), &loc, &["system", "user", "assistant"]),
            None
        );
        assert_eq!(
            c.issues[3].msg,
            "Input should be 'system', 'user' or 'assistant'"
        );
    }

    #[test]
    fn json_errors_name_the_position() {
        let body = b"{\"a\": 1,\n \"b\": }";
        let Err(err) = serde_json::from_slice::<Value>(body) else {
            unreachable!("the body is not JSON")
        };
        let issue = json_invalid(&err, body);
        let got = serde_json::to_value(&issue).unwrap_or_default();
        assert_eq!(got["type"], "json_invalid");
        assert_eq!(got["loc"], json!(["body", 15]));
        assert_eq!(got["msg"], "JSON decode error");
        assert_eq!(got["ctx"], json!({"error": "Expecting value"}));
        // At the end of the text, Python points after the last character.
        let body = br#"{"prompt_components": ["#;
        let Err(err) = serde_json::from_slice::<Value>(body) else {
            unreachable!("the body is not JSON")
        };
        assert_eq!(json_invalid(&err, body).loc, Loc::body().index(23));
    }
}
