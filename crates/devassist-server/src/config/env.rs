//! Environment overrides: `DEVASSIST_SECTION__KEY=value` sets `section.key`.
//!
//! Applied to the parsed TOML tree before it is deserialised, so an override of an unknown
//! key is reported like an unknown key in the file. Arrays of tables (`backends`, `models`)
//! are addressed by the element's `name` (`DEVASSIST_BACKENDS__VLLM__API_KEY`) or index.

use super::Problem;
use toml::Value;

const PREFIX: &str = "DEVASSIST_";

/// Applies every `DEVASSIST_*__*` variable in `vars` to `root`.
pub fn apply(root: &mut toml::Table, vars: &[(String, String)], problems: &mut Vec<Problem>) {
    for (name, raw) in vars {
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        if !rest.contains("__") {
            // DEVASSIST_MODELS and friends are plain settings, not key overrides.
            continue;
        }
        let path: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
        if let Err(message) = set(root, &path, raw) {
            problems.push(Problem::new(format!("env {name}"), message));
        }
    }
}

fn set(table: &mut toml::Table, path: &[String], raw: &str) -> Result<(), String> {
    let Some((key, rest)) = path.split_first() else {
        return Err("empty key".into());
    };
    if key.is_empty() {
        return Err("empty key segment".into());
    }
    if rest.is_empty() {
        let value = parse_value(raw, table.get(key));
        table.insert(key.clone(), value);
        return Ok(());
    }
    let entry = table
        .entry(key.clone())
        .or_insert_with(|| Value::Table(toml::Table::new()));
    match entry {
        Value::Table(t) => set(t, rest, raw),
        Value::Array(items) => {
            let (selector, rest) = rest.split_first().ok_or("missing element selector")?;
            let item = select(items, selector)
                .ok_or_else(|| format!("no element named or numbered '{selector}' in `{key}`"))?;
            match item {
                Value::Table(t) if !rest.is_empty() => set(t, rest, raw),
                _ => Err(format!("`{key}.{selector}` is not a table")),
            }
        }
        _ => Err(format!("`{key}` is not a table")),
    }
}

fn select<'a>(items: &'a mut [Value], selector: &str) -> Option<&'a mut Value> {
    if let Ok(index) = selector.parse::<usize>() {
        return items.get_mut(index);
    }
    let norm = |s: &str| s.to_ascii_lowercase().replace('-', "_");
    items.iter_mut().find(|item| {
        item.get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| norm(n) == norm(selector))
    })
}

/// Strings stay strings where the file already has a string; otherwise the value is read
/// as TOML (`8080`, `true`, `["a","b"]`) and falls back to a plain string.
fn parse_value(raw: &str, existing: Option<&Value>) -> Value {
    if matches!(existing, Some(Value::String(_))) {
        return Value::String(raw.to_string());
    }
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(raw.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn overrides_nested_keys_and_named_array_elements() -> Result<(), toml::de::Error> {
        let mut root: toml::Table =
            toml::from_str("[server]\nlisten='a'\n[[backends]]\nname='gpu-1'\nurl='x'\n")?;
        let mut problems = Vec::new();
        apply(
            &mut root,
            &vars(&[
                ("DEVASSIST_SERVER__LISTEN", "0.0.0.0:1"),
                ("DEVASSIST_SERVER__MAX_BODY_BYTES", "10"),
                ("DEVASSIST_BACKENDS__GPU_1__URL", "http://y"),
                ("DEVASSIST_MODELS", "/ignored"),
            ]),
            &mut problems,
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(root["server"]["listen"].as_str(), Some("0.0.0.0:1"));
        assert_eq!(root["server"]["max_body_bytes"].as_integer(), Some(10));
        assert_eq!(root["backends"][0]["url"].as_str(), Some("http://y"));
        Ok(())
    }

    #[test]
    fn unknown_array_element_is_a_problem() {
        let mut root = toml::Table::new();
        root.insert("backends".into(), Value::Array(vec![]));
        let mut problems = Vec::new();
        apply(
            &mut root,
            &vars(&[("DEVASSIST_BACKENDS__NOPE__URL", "x")]),
            &mut problems,
        );
        assert_eq!(problems.len(), 1);
        assert!(problems[0].path.contains("DEVASSIST_BACKENDS__NOPE__URL"));
    }
}
