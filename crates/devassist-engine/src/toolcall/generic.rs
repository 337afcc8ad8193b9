//! The generic tool-call format, for models whose own chat template takes no tools (the
//! default SmolLM2 among them), llama-server's generic format: the tools are described in the
//! system prompt, and a grammar holds the answer to one JSON object, either
//! `{"tool_calls": [{"name": …, "arguments": {…}}, …]}` whose `name` is an offered tool and
//! whose `arguments` match that tool's JSON schema, or `{"response": "…"}` with the text of a
//! reply. [`super::Syntax::Generic`] parses the answer back into calls or text.
//!
//! This module owns the prompt text, the call's JSON schema and its grammar (converted by
//! llama.cpp's own JSON-schema converter, as `response_format` is), and the rewriting of
//! earlier tool turns into text such a template can render. It neither samples nor parses.

use super::choice::tool_name;
use serde_json::{Map, Value as Json, json};
use std::collections::HashMap;

/// Keywords whose value is one subschema.
const ONE: [&str; 2] = ["items", "additionalProperties"];
/// Keywords whose value is a list of subschemas.
const LIST: [&str; 4] = ["anyOf", "oneOf", "allOf", "prefixItems"];

/// The system-prompt text and the grammar for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generic {
    /// Appended to the system prompt (or the system prompt, when there is none).
    pub instructions: String,
    /// A llama.cpp (GBNF) grammar with root `root`.
    pub grammar: String,
}

impl Generic {
    /// For `tools` (in OpenAI's shape, already narrowed by the tool choice): `forced` makes
    /// the answer a call, `parallel` allows several calls in one answer, `response` (a
    /// `response_format` schema) is the schema of a reply's `response` (a string without
    /// one). Fails only when llama.cpp cannot convert even the fallback schema.
    pub fn new(
        tools: &[Json],
        forced: bool,
        parallel: bool,
        response: Option<&Json>,
    ) -> Result<Self, String> {
        Ok(Self {
            instructions: instructions(tools, forced, parallel),
            grammar: grammar(tools, forced, parallel, response)?,
        })
    }
}

/// What the model is told: each tool as one line of JSON (name, description, the JSON schema
/// of its arguments), then the answer's form. The wording is the one SmolLM2-135M follows
/// best (tested against others: a tiny model answers in prose unless told it is a function
/// calling model).
pub fn instructions(tools: &[Json], forced: bool, parallel: bool) -> String {
    let mut out = String::from(
        "You are a function calling AI model. You may call one or more functions to assist \
         with the user query. Here are the available tools:\n",
    );
    for tool in tools {
        let function = tool.get("function").unwrap_or(tool);
        let description = function
            .get("description")
            .filter(|d| d.is_string())
            .map(|d| format!(", \"description\": {d}"))
            .unwrap_or_default();
        let parameters = function
            .get("parameters")
            .cloned()
            .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
        out.push_str(&format!(
            "{{\"name\": {}{description}, \"parameters\": {parameters}}}\n",
            json!(tool_name(tool).unwrap_or_default())
        ));
    }
    out.push_str(
        "For a function call return a JSON object: {\"tool_calls\": [{\"name\": <function-name>, \"arguments\": <args-dict>}]}\n",
    );
    if parallel {
        out.push_str("The list may hold several calls.\n");
    }
    if !forced {
        out.push_str(
            "Respond in JSON format, either with `tool_calls` (a request to call tools) or with \
             `response` (a reply to the user's request): {\"response\": \"<your reply>\"}\n",
        );
    }
    out
}

/// The JSON schema of a call answer, as JSON text: `{"tool_calls": [call, …]}`, each call
/// `{"name": <const>, "arguments": <the tool's schema>}`; at most one call unless `parallel`.
/// Written by hand because llama.cpp keeps the order of properties and `name` must come
/// before `arguments` (serde_json would sort them). `$defs` of the tools' schemas are moved
/// to `defs` (renamed per tool) so their `$ref`s still resolve; anything llama.cpp's
/// converter rejects becomes "any JSON value".
pub fn call_schema(tools: &[Json], parallel: bool, defs: &mut Map<String, Json>) -> String {
    let calls: Vec<String> = tools
        .iter()
        .enumerate()
        .filter_map(|(i, tool)| {
            let name = tool_name(tool)?;
            let arguments = arguments_schema(tool.pointer("/function/parameters"), i, defs);
            Some(format!(
                r#"{{"type":"object","properties":{{"name":{{"const":{}}},"arguments":{arguments}}},"required":["name","arguments"]}}"#,
                json!(name)
            ))
        })
        .collect();
    let items = match calls.as_slice() {
        [one] => one.clone(),
        many => format!(r#"{{"anyOf":[{}]}}"#, many.join(",")),
    };
    let max = if parallel { "" } else { r#","maxItems":1"# };
    format!(
        r#"{{"type":"object","properties":{{"tool_calls":{{"type":"array","items":{items},"minItems":1{max}}}}},"required":["tool_calls"]}}"#
    )
}

/// A call as the generic format writes it, `name` first.
pub fn call_text(name: &str, arguments: &Json) -> String {
    format!(r#"{{"name": {}, "arguments": {arguments}}}"#, json!(name))
}

/// A tool's `parameters` as the schema of its `arguments`, which must be an object.
fn arguments_schema(parameters: Option<&Json>, index: usize, defs: &mut Map<String, Json>) -> Json {
    let Some(parameters) = parameters.filter(|p| p.is_object()) else {
        return json!({"type": "object", "properties": {}});
    };
    let mut schema = hoist(parameters, &format!("t{index}-"), defs);
    match schema.get("type") {
        None => schema["type"] = json!("object"),
        Some(t) if t == "object" => {}
        Some(_) => schema = json!({"type": "object"}),
    }
    schema
}

/// `schema` cleaned for embedding in a larger one: its `$defs`/`definitions` go to `defs`
/// under `prefix`, and its local `$ref`s are renamed to match.
fn hoist(schema: &Json, prefix: &str, defs: &mut Map<String, Json>) -> Json {
    for key in ["$defs", "definitions"] {
        if let Some(Json::Object(local)) = schema.get(key) {
            for (name, def) in local {
                defs.insert(format!("{prefix}{name}"), sanitize(def, prefix));
            }
        }
    }
    sanitize(schema, prefix)
}

/// The subschema with local references renamed, other references and anything llama.cpp's
/// converter rejects replaced by `{}` (any JSON value), bottom up, so that an unsupported
/// part costs only its own constraint.
fn sanitize(schema: &Json, prefix: &str) -> Json {
    let Json::Object(object) = schema else {
        return if schema.is_boolean() {
            schema.clone()
        } else {
            json!({})
        };
    };
    if let Some(reference) = object.get("$ref") {
        return match reference.as_str().and_then(local_definition) {
            Some(name) => json!({"$ref": format!("#/$defs/{prefix}{name}")}),
            None => json!({}),
        };
    }
    let mut out = object.clone();
    for key in ["$defs", "definitions", "$schema", "$id"] {
        out.remove(key);
    }
    if let Some(Json::Object(properties)) = out.get_mut("properties") {
        for value in properties.values_mut() {
            *value = sanitize(value, prefix);
        }
    }
    for key in ONE {
        if let Some(value) = out.get_mut(key).filter(|v| v.is_object()) {
            *value = sanitize(value, prefix);
        }
    }
    for key in LIST.into_iter().chain(["items"]) {
        if let Some(Json::Array(values)) = out.get_mut(key) {
            for value in values {
                *value = sanitize(value, prefix);
            }
        }
    }
    let node = Json::Object(out);
    // A node with references can only be checked inside the whole schema (`grammar`).
    if has_reference(&node) || convert(&node).is_ok() {
        node
    } else {
        json!({})
    }
}

/// `#/$defs/Name` or `#/definitions/Name` → `Name`.
fn local_definition(reference: &str) -> Option<&str> {
    reference
        .strip_prefix("#/$defs/")
        .or_else(|| reference.strip_prefix("#/definitions/"))
        .filter(|name| !name.is_empty() && !name.contains('/'))
}

fn has_reference(schema: &Json) -> bool {
    match schema {
        Json::Object(o) => o.contains_key("$ref") || o.values().any(has_reference),
        Json::Array(a) => a.iter().any(has_reference),
        _ => false,
    }
}

fn convert(schema: &Json) -> Result<String, String> {
    llama_cpp_2::json_schema_to_grammar(&schema.to_string()).map_err(|e| e.to_string())
}

/// The answer's grammar: a call, or (unless `forced`) a reply `{"response": …}` whose value
/// is a string or, with a `response_format`, that format's JSON.
pub fn grammar(
    tools: &[Json],
    forced: bool,
    parallel: bool,
    response: Option<&Json>,
) -> Result<String, String> {
    let build = |tools: &[Json]| {
        let mut defs = Map::new();
        let calls = call_schema(tools, parallel, &mut defs);
        let mut schema = if forced {
            // Reopen the object to add `$defs` to it.
            let mut calls = calls;
            calls.pop();
            calls
        } else {
            let reply = match response {
                Some(response) => hoist(response, "response-", &mut defs),
                None => json!({"type": "string"}),
            };
            format!(
                r#"{{"anyOf":[{calls},{{"type":"object","properties":{{"response":{reply}}},"required":["response"]}}]"#
            )
        };
        if !defs.is_empty() {
            schema.push_str(&format!(r#","$defs":{}"#, Json::Object(defs)));
        }
        schema.push('}');
        llama_cpp_2::json_schema_to_grammar(&schema).map_err(|e| e.to_string())
    };
    build(tools).or_else(|_| {
        // A reference that does not resolve, or a mix the converter rejects: every tool's
        // arguments become any JSON object.
        let loose: Vec<Json> = tools
            .iter()
            .map(|t| {
                let mut t = t.clone();
                if let Some(f) = t.get_mut("function").and_then(Json::as_object_mut) {
                    f.insert("parameters".into(), json!({"type": "object"}));
                }
                t
            })
            .collect();
        build(&loose)
    })
}

/// Earlier turns in terms a template without tools renders: an assistant's calls become its
/// text in the generic format, a tool's result becomes a user message
/// `{"tool_response": {"name": …, "content": …}}`, and content is always a string. With
/// `instructions`, they end the system prompt (a system message is added when there is none).
pub fn rewrite_history(messages: &[Json], instructions: Option<&str>) -> Vec<Json> {
    let mut names: HashMap<String, String> = HashMap::new();
    let mut out: Vec<Json> = Vec::with_capacity(messages.len() + 1);
    for message in messages {
        let role = message.get("role").and_then(Json::as_str).unwrap_or("user");
        let text = content_text(message.get("content"));
        let calls = message
            .get("tool_calls")
            .and_then(Json::as_array)
            .filter(|c| !c.is_empty());
        match (role, calls) {
            ("assistant", Some(calls)) => {
                let calls: Vec<String> = calls
                    .iter()
                    .map(|call| {
                        let function = call.get("function").unwrap_or(call);
                        let name = function.get("name").and_then(Json::as_str).unwrap_or("");
                        if let Some(id) = call.get("id").and_then(Json::as_str) {
                            names.insert(id.to_owned(), name.to_owned());
                        }
                        let arguments = match function.get("arguments") {
                            Some(Json::String(s)) => {
                                serde_json::from_str(s).unwrap_or_else(|_| json!(s))
                            }
                            Some(v) => v.clone(),
                            None => json!({}),
                        };
                        call_text(name, &arguments)
                    })
                    .collect();
                let calls = format!("{{\"tool_calls\": [{}]}}", calls.join(", "));
                let content = if text.trim().is_empty() {
                    calls
                } else {
                    format!("{text}\n{calls}")
                };
                out.push(json!({"role": "assistant", "content": content}));
            }
            ("tool" | "function", _) => {
                let name = message
                    .get("name")
                    .and_then(Json::as_str)
                    .or_else(|| {
                        message
                            .get("tool_call_id")
                            .and_then(Json::as_str)
                            .and_then(|id| names.get(id).map(String::as_str))
                    })
                    .unwrap_or("")
                    .to_owned();
                let result = serde_json::from_str::<Json>(&text).unwrap_or(Json::String(text));
                let response = json!({"tool_response": {"name": name, "content": result}});
                out.push(json!({"role": "user", "content": response.to_string()}));
            }
            _ => {
                let mut message = message.clone();
                if let Some(o) = message.as_object_mut() {
                    o.remove("tool_calls");
                    o.insert("content".into(), Json::String(text));
                }
                out.push(message);
            }
        }
    }
    if let Some(instructions) = instructions {
        let first_is_system = out
            .first()
            .and_then(|m| m.get("role"))
            .and_then(Json::as_str)
            == Some("system");
        match out.first_mut() {
            Some(first) if first_is_system => {
                let text = content_text(first.get("content"));
                let joined = if text.trim().is_empty() {
                    instructions.to_owned()
                } else {
                    format!("{text}\n\n{instructions}")
                };
                first["content"] = Json::String(joined);
            }
            _ => out.insert(0, json!({"role": "system", "content": instructions})),
        }
    }
    out
}

/// A message's content as text: a string, the text parts of a list joined, or empty.
fn content_text(content: Option<&Json>) -> String {
    match content {
        Some(Json::String(s)) => s.clone(),
        Some(Json::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Json::as_str))
            .collect(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests;
