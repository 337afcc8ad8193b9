//! Chat prompts from the model's own Jinja chat template (`tokenizer.chat_template`), rendered
//! with minijinja the way Hugging Face renders it (`trim_blocks`, `lstrip_blocks`, loop
//! controls, Python string methods, `raise_exception`, `strftime_now`). Models without a
//! template get ChatML, llama-server's fallback.

use crate::toolcall::Syntax;
use minijinja::{Environment, Error, ErrorKind, Value, context};
use serde_json::Value as Json;

const CHATML: &str = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/// A compiled chat template plus the special-token texts it may refer to.
pub struct ChatTemplate {
    env: Environment<'static>,
    bos: String,
    eos: String,
    /// How the model writes tool calls; `None` when the template takes no tools.
    pub tool_syntax: Option<Syntax>,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("tool_syntax", &self.tool_syntax)
            .finish_non_exhaustive()
    }
}

impl ChatTemplate {
    /// Compile `source` (or ChatML when `None`). Fails on a template that does not parse.
    pub fn new(source: Option<&str>, bos: &str, eos: &str) -> Result<Self, Error> {
        let source = source.unwrap_or(CHATML).to_string();
        let tool_syntax = Syntax::detect(&source);
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", strftime_now);
        env.add_template_owned("chat", source)?;
        Ok(Self {
            env,
            bos: bos.to_string(),
            eos: eos.to_string(),
            tool_syntax,
        })
    }

    /// Render `messages` (OpenAI shape) with the generation prompt appended. `tools` is passed
    /// only when given and non-empty, since templates test `tools is defined`.
    pub fn render(&self, messages: &[Json], tools: Option<&[Json]>) -> Result<String, Error> {
        let messages: Vec<Json> = messages.iter().map(normalise_message).collect();
        let template = self.env.get_template("chat")?;
        let tools = tools.filter(|t| !t.is_empty() && self.tool_syntax.is_some());
        let base = context! {
            messages => Value::from_serialize(&messages),
            add_generation_prompt => true,
            bos_token => self.bos.as_str(),
            eos_token => self.eos.as_str(),
        };
        match tools {
            Some(tools) => {
                template.render(context! { tools => Value::from_serialize(tools), ..base })
            }
            None => template.render(base),
        }
    }
}

/// Templates expect `content` to be a string: join OpenAI content parts, and hand tool-call
/// arguments over as objects (most templates `tojson` them) when they parse as JSON.
fn normalise_message(message: &Json) -> Json {
    let mut message = message.clone();
    if let Some(Json::Array(parts)) = message.get("content") {
        let text: String = parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Json::as_str))
            .collect::<Vec<_>>()
            .join("");
        message["content"] = Json::String(text);
    }
    if let Some(Json::Array(calls)) = message.get_mut("tool_calls") {
        for call in calls {
            let Some(function) = call.get_mut("function") else {
                continue;
            };
            if let Some(Json::String(args)) = function.get("arguments")
                && let Ok(parsed) = serde_json::from_str::<Json>(args)
            {
                function["arguments"] = parsed;
            }
        }
    }
    message
}

fn raise_exception(message: String) -> Result<Value, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, message))
}

/// `strftime_now(format)`, used by Llama 3 templates for the current date. Supports the
/// common `%d %b %Y %m %B %H %M %S` directives in UTC.
fn strftime_now(format: String) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let (year, month, day) = civil_from_days(days);
    let rem = secs % 86_400;
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let name = MONTHS[usize::try_from(month.saturating_sub(1))
        .unwrap_or(0)
        .min(11)];
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('d') => out.push_str(&format!("{day:02}")),
            Some('m') => out.push_str(&format!("{month:02}")),
            Some('Y') => out.push_str(&year.to_string()),
            Some('b') => out.push_str(&name[..3]),
            Some('B') => out.push_str(name),
            Some('H') => out.push_str(&format!("{:02}", rem / 3600)),
            Some('M') => out.push_str(&format!("{:02}", rem / 60 % 60)),
            Some('S') => out.push_str(&format!("{:02}", rem % 60)),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// Days since 1970-01-01 → (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    #[test]
    fn renders_smollm2_with_default_system_prompt() -> Result<(), Error> {
        let t = ChatTemplate::new(Some(SMOLLM2), "<|im_start|>", "<|im_end|>")?;
        let out = t.render(
            &[json!({"role": "user", "content": [{"type": "text", "text": "Hi"}]})],
            None,
        )?;
        assert_eq!(
            out,
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        Ok(())
    }

    #[test]
    fn tools_reach_templates_that_use_them() -> Result<(), Error> {
        let src = "{% if tools %}T:{% for t in tools %}{{ t.function.name }}{% endfor %};{% endif %}{% for m in messages %}{{ m.content | trim }}{% endfor %}";
        let t = ChatTemplate::new(Some(src), "", "")?;
        let tools = [json!({"type": "function", "function": {"name": "get_time"}})];
        let msgs = [json!({"role": "user", "content": " x "})];
        assert_eq!(t.render(&msgs, Some(&tools))?, "T:get_time;x");
        assert_eq!(t.render(&msgs, None)?, "x");
        Ok(())
    }

    #[test]
    fn raise_exception_is_an_error() -> Result<(), Error> {
        let t = ChatTemplate::new(Some("{{ raise_exception('no system role') }}"), "", "")?;
        let err = t
            .render(&[], None)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("no system role"), "{err}");
        Ok(())
    }

    #[test]
    fn python_methods_and_dates() -> Result<(), Error> {
        let t = ChatTemplate::new(
            Some("{{ messages[0].content.strip().upper() }} {{ strftime_now('%Y') | length }}"),
            "",
            "",
        )?;
        assert_eq!(
            t.render(&[json!({"role": "user", "content": " a "})], None)?,
            "A 4"
        );
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        Ok(())
    }
}
