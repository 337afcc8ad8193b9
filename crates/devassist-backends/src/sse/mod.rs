//! Incremental Server-Sent Events parser: byte chunks in, events out.
//!
//! Follows the WHATWG event-stream rules (LF, CRLF and lone CR end a line; `data:` with or
//! without one leading space; `:` comments; multi-line data joined with `\n`; a blank line
//! dispatches). It owns framing only: it never interprets `data` (`[DONE]`, JSON) and never
//! does I/O. Lines are decoded as UTF-8 only once complete, so a character split across
//! chunks survives; invalid UTF-8 becomes U+FFFD instead of failing.

#[cfg(test)]
mod tests;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field, when the upstream named the event.
    pub event: Option<String>,
    /// All `data:` lines of the event, joined with `\n`.
    pub data: String,
    /// The `id:` field, when present.
    pub id: Option<String>,
}

impl SseEvent {
    /// The OpenAI end-of-stream sentinel (`data: [DONE]`).
    pub fn is_done(&self) -> bool {
        self.data.trim() == "[DONE]"
    }
}

/// A line or an event grew past the parser's limit (an upstream that never ends a line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLong {
    pub limit: usize,
}

impl std::fmt::Display for TooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stream line or event longer than {} bytes", self.limit)
    }
}

impl std::error::Error for TooLong {}

/// Default cap on one line and on one event's data: far above any real chunk, low enough
/// that a runaway upstream cannot exhaust memory.
pub const DEFAULT_LIMIT: usize = 16 * 1024 * 1024;

/// The parser state between chunks.
#[derive(Debug)]
pub struct SseParser {
    line: Vec<u8>,
    /// The previous chunk ended in `\r`: a `\n` at the start of the next one is the same
    /// line ending, not an empty line.
    skip_lf: bool,
    first_line: bool,
    data: String,
    has_data: bool,
    event: Option<String>,
    id: Option<String>,
    limit: usize,
}

impl Default for SseParser {
    fn default() -> Self {
        Self::new()
    }
}

impl SseParser {
    pub fn new() -> Self {
        Self::with_limit(DEFAULT_LIMIT)
    }

    pub fn with_limit(limit: usize) -> Self {
        Self {
            line: Vec::new(),
            skip_lf: false,
            first_line: true,
            data: String::new(),
            has_data: false,
            event: None,
            id: None,
            limit,
        }
    }

    /// Feeds one chunk and appends every event it completes to `out`. After an error the
    /// parser must not be used again.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) -> Result<(), TooLong> {
        let mut rest = chunk;
        if self.skip_lf {
            if let Some(tail) = rest.strip_prefix(b"\n") {
                rest = tail;
            }
            if !chunk.is_empty() {
                self.skip_lf = false;
            }
        }
        while let Some(pos) = rest.iter().position(|b| *b == b'\n' || *b == b'\r') {
            self.append(&rest[..pos])?;
            let cr = rest[pos] == b'\r';
            rest = &rest[pos + 1..];
            if cr {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    Some(_) => {}
                    None => self.skip_lf = true,
                }
            }
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, out)?;
        }
        self.append(rest)
    }

    /// Ends the stream: a last line without a newline is processed and a pending event is
    /// dispatched (lenient on purpose: some upstreams omit the final blank line).
    pub fn finish(mut self, out: &mut Vec<SseEvent>) -> Result<(), TooLong> {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, out)?;
        }
        self.dispatch(out);
        Ok(())
    }

    fn append(&mut self, bytes: &[u8]) -> Result<(), TooLong> {
        if self.line.len() + bytes.len() > self.limit {
            return Err(TooLong { limit: self.limit });
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn process_line(&mut self, raw: &[u8], out: &mut Vec<SseEvent>) -> Result<(), TooLong> {
        let mut raw = raw;
        if std::mem::take(&mut self.first_line) {
            raw = raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw);
        }
        if raw.is_empty() {
            self.dispatch(out);
            return Ok(());
        }
        if raw[0] == b':' {
            return Ok(());
        }
        let line = String::from_utf8_lossy(raw);
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_ref(), ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
                if self.data.len() > self.limit {
                    return Err(TooLong { limit: self.limit });
                }
            }
            "event" => self.event = Some(value.to_owned()),
            "id" => self.id = Some(value.to_owned()),
            // `retry` and unknown fields carry nothing a backend needs.
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = self.event.take();
        if !std::mem::take(&mut self.has_data) {
            return;
        }
        out.push(SseEvent {
            event,
            data: std::mem::take(&mut self.data),
            id: self.id.clone(),
        });
    }
}
