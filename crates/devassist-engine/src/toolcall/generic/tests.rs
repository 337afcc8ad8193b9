use super::*;

fn weather_tool() -> Json {
    json!({"type": "function", "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}
            },
            "required": ["city", "unit"]
        }
    }})
}

fn tool(name: &str, parameters: Json) -> Json {
    json!({"type": "function", "function": {"name": name, "parameters": parameters}})
}

/// The call schema as JSON, and whether `name` comes before `arguments` in its text.
fn schema_of(tools: &[Json], parallel: bool, defs: &mut Map<String, Json>) -> (Json, bool) {
    let text = call_schema(tools, parallel, defs);
    let name_first = text.find(r#""name""#) < text.find(r#""arguments""#);
    (serde_json::from_str(&text).unwrap_or_default(), name_first)
}

fn rules(grammar: &str) -> Vec<&str> {
    grammar
        .lines()
        .filter_map(|l| l.split_once(" ::= ").map(|(name, _)| name))
        .collect()
}

#[test]
fn the_call_schema_names_each_tool_and_keeps_its_arguments_schema() {
    let mut defs = Map::new();
    let (schema, name_first) = schema_of(&[weather_tool()], false, &mut defs);
    assert!(name_first);
    let list = &schema["properties"]["tool_calls"];
    assert_eq!(list["minItems"], 1);
    assert_eq!(list["maxItems"], 1);
    assert_eq!(
        list["items"]["properties"]["name"],
        json!({"const": "get_weather"})
    );
    assert_eq!(
        list["items"]["properties"]["arguments"],
        weather_tool()["function"]["parameters"]
    );
    assert_eq!(schema["required"], json!(["tool_calls"]));
    assert!(defs.is_empty());

    let (two, _) = schema_of(&[weather_tool(), tool("now", json!({}))], true, &mut defs);
    let list = &two["properties"]["tool_calls"];
    assert!(list.get("maxItems").is_none(), "parallel calls allowed");
    let items = list["items"]["anyOf"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(items.len(), 2);
    // A tool without a typed schema still takes an object.
    assert_eq!(
        items[1]["properties"]["arguments"],
        json!({"type": "object"})
    );
    // No parameters at all: only `{}`.
    let bare = json!({"type": "function", "function": {"name": "ping"}});
    let (schema, _) = schema_of(&[bare], false, &mut defs);
    assert_eq!(
        schema["properties"]["tool_calls"]["items"]["properties"]["arguments"],
        json!({"type": "object", "properties": {}})
    );
}

#[test]
fn the_grammar_is_a_call_or_a_reply() -> Result<(), String> {
    let g = grammar(&[weather_tool()], false, true, None)?;
    let names = rules(&g);
    assert_eq!(names.iter().filter(|n| **n == "root").count(), 1, "{g}");
    // The tool's name, the enum's values and both keys are literals of the grammar.
    assert!(g.contains("get_weather"), "{g}");
    assert!(g.contains("celsius") && g.contains("fahrenheit"), "{g}");
    assert!(g.contains("tool_calls") && g.contains("response"), "{g}");
    Ok(())
}

#[test]
fn a_forced_call_allows_no_reply() -> Result<(), String> {
    let g = grammar(&[weather_tool()], true, false, None)?;
    assert!(g.lines().any(|l| l.starts_with("root ::= ")), "{g}");
    assert!(g.contains("tool_calls") && !g.contains("response"), "{g}");
    Ok(())
}

#[test]
fn a_response_format_is_the_replys_schema() -> Result<(), String> {
    let response = json!({"type": "object", "properties": {"answer": {"type": "integer"}},
                          "required": ["answer"]});
    let g = grammar(&[weather_tool()], false, false, Some(&response))?;
    assert!(
        g.contains("answer") && g.contains("tool_calls") && g.contains("response"),
        "{g}"
    );
    Ok(())
}

#[test]
fn every_common_kind_of_argument_is_kept() {
    // Strings, numbers, integers, booleans, enums, arrays, nested objects, optional
    // properties, unions and nullable types: llama.cpp converts all of them, so nothing is
    // loosened.
    let schema = json!({
        "type": "object",
        "properties": {
            "path": {"type": "string", "description": "file", "minLength": 1},
            "ratio": {"type": "number"},
            "count": {"type": "integer", "minimum": 0},
            "force": {"type": "boolean"},
            "mode": {"enum": ["fast", "slow", 3]},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 4},
            "range": {"type": "object", "properties": {"start": {"type": "integer"},
                      "end": {"type": "integer"}}, "required": ["start"]},
            "either": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "maybe": {"type": ["string", "null"]},
            "when": {"type": "string", "format": "date"},
            "code": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "kind": {"const": "fixed"},
            "one": {"oneOf": [{"type": "integer"}, {"type": "boolean"}]},
            "all": {"allOf": [{"type": "object", "properties": {"a": {"type": "string"}}}]},
            "extra": {"type": "object", "additionalProperties": {"type": "integer"}}
        },
        "required": ["path"]
    });
    assert_eq!(sanitize(&schema, "t0-"), schema);
}

#[test]
fn unsupported_parts_become_any_value() {
    let schema = json!({
        "type": "object",
        "properties": {
            "odd": {"type": "frobnicated"},
            "remote": {"$ref": "https://example.com/schema.json"},
            "fine": {"type": "integer"},
            "list": {"type": "array", "items": {"type": "weird"}}
        }
    });
    let out = sanitize(&schema, "t0-");
    assert_eq!(out["properties"]["odd"], json!({}));
    assert_eq!(out["properties"]["remote"], json!({}));
    assert_eq!(out["properties"]["fine"], json!({"type": "integer"}));
    assert_eq!(out["properties"]["list"]["items"], json!({}));
    assert!(convert(&out).is_ok());
}

#[test]
fn local_definitions_move_to_the_top_and_still_resolve() -> Result<(), String> {
    let point = json!({"type": "object", "properties": {"x": {"type": "number"}},
                       "required": ["x"]});
    let a = tool(
        "draw",
        json!({"type": "object", "$defs": {"Point": point},
               "properties": {"at": {"$ref": "#/$defs/Point"}}, "required": ["at"]}),
    );
    let b = tool(
        "move",
        json!({"type": "object", "definitions": {"Point": {"type": "string"}},
               "properties": {"to": {"$ref": "#/definitions/Point"}}}),
    );
    let mut defs = Map::new();
    let (schema, _) = schema_of(&[a.clone(), b.clone()], false, &mut defs);
    assert_eq!(defs.get("t0-Point"), Some(&point));
    assert_eq!(defs.get("t1-Point"), Some(&json!({"type": "string"})));
    let args = &schema["properties"]["tool_calls"]["items"]["anyOf"][0]["properties"]["arguments"];
    assert_eq!(
        args["properties"]["at"],
        json!({"$ref": "#/$defs/t0-Point"})
    );
    let g = grammar(&[a, b], false, false, None)?;
    assert!(g.contains("draw") && g.contains("move"), "{g}");
    Ok(())
}

#[test]
fn a_reference_that_does_not_resolve_loosens_the_arguments_to_any_object() -> Result<(), String> {
    let broken = tool(
        "broken",
        json!({"type": "object", "properties": {"p": {"$ref": "#/$defs/Missing"}}}),
    );
    let g = grammar(&[broken, weather_tool()], true, false, None)?;
    assert!(g.contains("broken") && g.contains("get_weather"), "{g}");
    // The fallback gives up every tool's schema, so the enum is gone.
    assert!(!g.contains("celsius"), "{g}");
    Ok(())
}

#[test]
fn instructions_describe_the_tools_and_the_answer() {
    let text = instructions(&[weather_tool()], false, true);
    assert!(
        text.contains(r#"{"name": "get_weather", "description""#),
        "{text}"
    );
    assert!(text.contains("Current weather in a city"), "{text}");
    assert!(
        text.contains(r#""enum":["celsius","fahrenheit"]"#),
        "{text}"
    );
    assert!(
        text.contains(r#"{"tool_calls": [{"name": <function-name>"#),
        "{text}"
    );
    assert!(
        text.contains(r#"{"response": "#) && text.contains("several"),
        "{text}"
    );
    let forced = instructions(&[weather_tool()], true, false);
    assert!(
        !forced.contains("response") && !forced.contains("several"),
        "{forced}"
    );
}

#[test]
fn earlier_tool_turns_become_text() {
    let messages = [
        json!({"role": "system", "content": [{"type": "text", "text": "Be brief."}]}),
        json!({"role": "user", "content": "Weather in Oslo?"}),
        json!({"role": "assistant", "content": null, "tool_calls": [{
            "id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}]}),
        json!({"role": "tool", "tool_call_id": "call_1", "content": "{\"temp\": 3}"}),
        json!({"role": "tool", "name": "get_time", "content": "noon"}),
    ];
    let out = rewrite_history(&messages, Some("TOOLS"));
    assert_eq!(out.len(), 5);
    assert_eq!(
        out[0],
        json!({"role": "system", "content": "Be brief.\n\nTOOLS"})
    );
    assert_eq!(out[1], messages[1]);
    assert_eq!(
        out[2],
        json!({"role": "assistant",
               "content": r#"{"tool_calls": [{"name": "get_weather", "arguments": {"city":"Oslo"}}]}"#})
    );
    assert_eq!(out[3]["role"], "user");
    let response: Json =
        serde_json::from_str(out[3]["content"].as_str().unwrap_or("")).unwrap_or_default();
    assert_eq!(
        response,
        json!({"tool_response": {"name": "get_weather", "content": {"temp": 3}}})
    );
    assert!(
        out[4]["content"]
            .as_str()
            .is_some_and(|c| c.contains("get_time") && c.contains("noon"))
    );

    // No system message: one is added; no instructions: none is.
    let plain = [json!({"role": "user", "content": null})];
    let out = rewrite_history(&plain, Some("TOOLS"));
    assert_eq!(out[0], json!({"role": "system", "content": "TOOLS"}));
    assert_eq!(out[1], json!({"role": "user", "content": ""}));
    assert_eq!(rewrite_history(&plain, None).len(), 1);
}
