//! Incremental newline-delimited JSON framing: byte chunks in, complete lines out.
//!
//! It owns framing only (split on `\n`, drop a trailing `\r`, skip blank lines, keep a
//! last line that has no newline); parsing each line as JSON is the caller's job. Lines
//! are decoded as UTF-8 only once complete, so a character split across chunks survives;
//! invalid UTF-8 becomes U+FFFD instead of failing.

#[cfg(test)]
mod tests;

pub use crate::sse::{DEFAULT_LIMIT, TooLong};

/// The parser state between chunks.
#[derive(Debug)]
pub struct NdjsonParser {
    line: Vec<u8>,
    limit: usize,
}

impl Default for NdjsonParser {
    fn default() -> Self {
        Self::new()
    }
}

impl NdjsonParser {
    pub fn new() -> Self {
        Self::with_limit(DEFAULT_LIMIT)
    }

    pub fn with_limit(limit: usize) -> Self {
        Self {
            line: Vec::new(),
            limit,
        }
    }

    /// Feeds one chunk and appends every line it completes to `out`. After an error the
    /// parser must not be used again.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<String>) -> Result<(), TooLong> {
        let mut rest = chunk;
        while let Some(pos) = rest.iter().position(|b| *b == b'\n') {
            self.append(&rest[..pos])?;
            rest = &rest[pos + 1..];
            let line = std::mem::take(&mut self.line);
            emit(&line, out);
        }
        self.append(rest)
    }

    /// Ends the stream: a last line without a newline is still a line.
    pub fn finish(self, out: &mut Vec<String>) {
        emit(&self.line, out);
    }

    fn append(&mut self, bytes: &[u8]) -> Result<(), TooLong> {
        if self.line.len() + bytes.len() > self.limit {
            return Err(TooLong { limit: self.limit });
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }
}

fn emit(raw: &[u8], out: &mut Vec<String>) {
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    if raw.iter().all(u8::is_ascii_whitespace) {
        return;
    }
    out.push(String::from_utf8_lossy(raw).into_owned());
}
