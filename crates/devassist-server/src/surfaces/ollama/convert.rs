//! Ollama wire messages → neutral messages.

use super::wire::WireMessage;
use devassist_core::{GatewayError, Message, Role, ToolCall};

pub fn messages(wire: Vec<WireMessage>) -> Result<Vec<Message>, GatewayError> {
    wire.into_iter()
        .enumerate()
        .map(|(i, m)| {
            let role = Role::parse(&m.role).ok_or_else(|| {
                GatewayError::bad_request(format!("invalid role `{}` in messages[{i}]", m.role))
                    .with_param(format!("messages[{i}].role"))
            })?;
            let mut msg = Message::new(role, m.content.unwrap_or_default());
            msg.images = m.images.unwrap_or_default();
            msg.tool_name = m.tool_name;
            msg.tool_call_id = m.tool_call_id;
            msg.thinking = m.thinking;
            msg.tool_calls = m
                .tool_calls
                .unwrap_or_default()
                .into_iter()
                .map(|c| ToolCall {
                    id: c.id.unwrap_or_else(call_id),
                    name: c.function.name,
                    arguments: c.function.arguments,
                })
                .collect();
            Ok(msg)
        })
        .collect()
}

/// `call_` + 8 random lower-case alphanumerics, like Ollama.
pub fn call_id() -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("call_{}", &hex[..8])
}
