//! OpenAI's `tool_choice` and `parallel_tool_calls`: which of the offered tools the answer may
//! (or must) call. It owns reading those fields and narrowing the tool list; what a choice
//! does to the prompt and the grammar is decided by the chat handler and [`super::generic`].

use serde_json::Value as Json;

/// What the request allows the model to do with its tools.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ToolChoice {
    /// The model decides: a call or text (the default).
    #[default]
    Auto,
    /// No calls: the tools are not shown to the model at all.
    None,
    /// At least one call, to any offered tool.
    Required,
    /// A call to this tool.
    Function(String),
}

impl ToolChoice {
    /// Reads `tool_choice`: `"auto"`, `"none"`, `"required"`,
    /// `{"type": "function", "function": {"name": …}}` (chat completions) or
    /// `{"type": "function", "name": …}` (the Responses API's shape). Absent or null is
    /// `auto`. The error is the message of a 400.
    pub fn parse(value: Option<&Json>) -> Result<Self, String> {
        let Some(value) = value.filter(|v| !v.is_null()) else {
            return Ok(Self::Auto);
        };
        match value {
            Json::String(s) => match s.as_str() {
                "auto" => Ok(Self::Auto),
                "none" => Ok(Self::None),
                "required" => Ok(Self::Required),
                other => Err(format!(
                    "Invalid value: '{other}'. Supported values are: 'none', 'auto', and 'required'."
                )),
            },
            Json::Object(o) if o.get("type").and_then(Json::as_str) == Some("function") => o
                .get("function")
                .and_then(|f| f.get("name"))
                .or_else(|| o.get("name"))
                .and_then(Json::as_str)
                .filter(|n| !n.is_empty())
                .map(|n| Self::Function(n.to_owned()))
                .ok_or_else(|| "'tool_choice.function.name' is required".to_owned()),
            _ => Err(
                "'tool_choice' must be 'none', 'auto', 'required' or {\"type\": \"function\", \"function\": {\"name\": …}}"
                    .to_owned(),
            ),
        }
    }

    /// Whether the answer must be a call.
    pub fn forces_a_call(&self) -> bool {
        matches!(self, Self::Required | Self::Function(_))
    }

    /// The tools the model may see and call under this choice: none for `none`, the named
    /// one for a function choice, all otherwise. A choice that cannot be met (a call forced
    /// with no tools, a name not offered) is the message of a 400.
    pub fn narrow(&self, tools: &[Json]) -> Result<Vec<Json>, String> {
        match self {
            Self::None => Ok(Vec::new()),
            Self::Auto => Ok(tools.to_vec()),
            Self::Required if tools.is_empty() => Err(
                "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified."
                    .to_owned(),
            ),
            Self::Required => Ok(tools.to_vec()),
            Self::Function(name) => {
                let named: Vec<Json> = tools
                    .iter()
                    .filter(|t| tool_name(t) == Some(name.as_str()))
                    .cloned()
                    .collect();
                if named.is_empty() {
                    Err(format!(
                        "Invalid value for 'tool_choice': no tool named '{name}' is offered in 'tools'."
                    ))
                } else {
                    Ok(named)
                }
            }
        }
    }
}

/// The name of an offered tool (`{"type": "function", "function": {"name": …}}`).
pub fn tool_name(tool: &Json) -> Option<&str> {
    tool.pointer("/function/name").and_then(Json::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_every_form_of_tool_choice() {
        let parse = |v: Json| ToolChoice::parse(Some(&v));
        assert_eq!(ToolChoice::parse(None), Ok(ToolChoice::Auto));
        assert_eq!(parse(Json::Null), Ok(ToolChoice::Auto));
        assert_eq!(parse(json!("auto")), Ok(ToolChoice::Auto));
        assert_eq!(parse(json!("none")), Ok(ToolChoice::None));
        assert_eq!(parse(json!("required")), Ok(ToolChoice::Required));
        let named = ToolChoice::Function("get_weather".to_owned());
        assert_eq!(
            parse(json!({"type": "function", "function": {"name": "get_weather"}})),
            Ok(named.clone())
        );
        assert_eq!(
            parse(json!({"type": "function", "name": "get_weather"})),
            Ok(named)
        );
        assert!(parse(json!("sometimes")).is_err());
        assert!(parse(json!({"type": "function"})).is_err());
        assert!(parse(json!(3)).is_err());
    }

    #[test]
    fn narrowing_follows_the_choice() {
        let tools = vec![
            json!({"type": "function", "function": {"name": "a"}}),
            json!({"type": "function", "function": {"name": "b"}}),
        ];
        assert_eq!(ToolChoice::Auto.narrow(&tools).map(|t| t.len()), Ok(2));
        assert_eq!(ToolChoice::None.narrow(&tools).map(|t| t.len()), Ok(0));
        assert_eq!(ToolChoice::Required.narrow(&tools).map(|t| t.len()), Ok(2));
        let b = ToolChoice::Function("b".to_owned()).narrow(&tools);
        assert_eq!(b, Ok(vec![tools[1].clone()]));
        assert!(ToolChoice::Function("c".to_owned()).narrow(&tools).is_err());
        assert!(ToolChoice::Required.narrow(&[]).is_err());
        assert_eq!(ToolChoice::Auto.narrow(&[]).map(|t| t.len()), Ok(0));
        assert!(ToolChoice::Required.forces_a_call() && !ToolChoice::Auto.forces_a_call());
    }
}
