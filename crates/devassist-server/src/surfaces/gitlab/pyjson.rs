//! JSON written the way Python's `json.dumps` writes it by default: `", "` and `": "`
//! separators and every non-ASCII character escaped as `\uXXXX`. The v4 SSE events carry
//! `json.dumps` output, so byte-faithful frames need this; JSON responses do not (FastAPI
//! writes compact UTF-8 JSON, which is serde's default).

use serde::Serialize;
use serde_json::ser::{Formatter, Serializer};
use std::io::{self, Write};

struct PythonFormatter;

impl Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }

    /// serde escapes quotes, backslashes and control characters itself; what is left to do
    /// is `ensure_ascii`: DEL and everything above ASCII as UTF-16 escapes.
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if c.is_ascii() && c != '\x7f' {
                continue;
            }
            writer.write_all(&fragment.as_bytes()[start..i])?;
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                write!(writer, "\\u{unit:04x}")?;
            }
            start = i + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

/// `json.dumps(value)` as Python writes it.
pub fn dumps(value: &impl Serialize) -> String {
    let mut out = Vec::with_capacity(128);
    let mut ser = Serializer::with_formatter(&mut out, PythonFormatter);
    if value.serialize(&mut ser).is_err() {
        return "null".to_owned();
    }
    // Only ASCII was written.
    String::from_utf8(out).unwrap_or_else(|_| "null".to_owned())
}

#[cfg(test)]
mod tests {
    use super::dumps;
    use serde_json::json;

    #[test]
    fn matches_python_json_dumps() {
        // Expected strings produced by CPython 3.12: json.dumps(value).
        assert_eq!(
            dumps(&json!({"choices": [{"delta": {"content": "a\n\"b\"\t"}, "index": 0}]})),
            r#"{"choices": [{"delta": {"content": "a\n\"b\"\t"}, "index": 0}]}"#
        );
        assert_eq!(
            dumps(&json!("é😀\u{7f}\u{1}")),
            r#""\u00e9\ud83d\ude00\u007f\u0001""#
        );
        assert_eq!(dumps(&json!(null)), "null");
        assert_eq!(dumps(&json!([1, [], {}])), "[1, [], {}]");
    }
}
