//! Turning sampled token pieces into text deltas: bytes are held until they form complete
//! UTF-8, and text that could be the start of a stop string is held until it is known not to
//! be one, so a stop string never reaches the client, even split across tokens.

/// Incremental detokenised text with stop-string detection.
#[derive(Debug, Default)]
pub struct TextStream {
    /// Bytes of an incomplete UTF-8 character.
    pending: Vec<u8>,
    /// Decoded text not yet emitted (a possible stop-string prefix).
    held: String,
    stops: Vec<String>,
}

/// What one pushed piece produced.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pushed {
    /// Text that may be sent now.
    pub text: String,
    /// A stop string was found; `text` ends right before it and nothing more will come.
    pub stopped: bool,
}

impl TextStream {
    pub fn new(stops: Vec<String>) -> Self {
        Self {
            stops: stops.into_iter().filter(|s| !s.is_empty()).collect(),
            ..Self::default()
        }
    }

    /// Add the bytes of one token.
    pub fn push(&mut self, bytes: &[u8]) -> Pushed {
        self.pending.extend_from_slice(bytes);
        self.decode_pending();
        if let Some(at) = self.earliest_stop() {
            let text = self.held[..at].to_string();
            self.held.clear();
            self.pending.clear();
            return Pushed {
                text,
                stopped: true,
            };
        }
        let keep = self.stop_prefix_len();
        let split = self.held.len() - keep;
        let text: String = self.held.drain(..split).collect();
        Pushed {
            text,
            stopped: false,
        }
    }

    /// The generation ended without a stop string: release everything still held.
    pub fn finish(&mut self) -> String {
        let mut text = std::mem::take(&mut self.held);
        if !self.pending.is_empty() {
            text.push_str(&String::from_utf8_lossy(&self.pending));
            self.pending.clear();
        }
        text
    }

    fn decode_pending(&mut self) {
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    self.held.push_str(s);
                    self.pending.clear();
                    return;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    // Safe split: `valid` is a char boundary by definition.
                    self.held
                        .push_str(&String::from_utf8_lossy(&self.pending[..valid]));
                    match e.error_len() {
                        // Incomplete character at the end: wait for the next token.
                        None => {
                            self.pending.drain(..valid);
                            return;
                        }
                        // Invalid bytes: replace them and go on.
                        Some(bad) => {
                            self.held.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..valid + bad);
                        }
                    }
                }
            }
        }
    }

    fn earliest_stop(&self) -> Option<usize> {
        self.stops
            .iter()
            .filter_map(|s| self.held.find(s.as_str()))
            .min()
    }

    /// Length of the longest tail of `held` that is a proper prefix of some stop string.
    fn stop_prefix_len(&self) -> usize {
        let mut best = 0;
        for stop in &self.stops {
            let max = stop.len().saturating_sub(1).min(self.held.len());
            for len in (best + 1..=max).rev() {
                let start = self.held.len() - len;
                if self.held.is_char_boundary(start) && stop.starts_with(&self.held[start..]) {
                    best = len;
                    break;
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], pieces: &[&[u8]]) -> (String, bool) {
        let mut t = TextStream::new(stops.iter().map(|s| (*s).to_string()).collect());
        let mut out = String::new();
        for p in pieces {
            let pushed = t.push(p);
            out.push_str(&pushed.text);
            if pushed.stopped {
                return (out, true);
            }
        }
        out.push_str(&t.finish());
        (out, false)
    }

    #[test]
    fn plain_text_passes_through() {
        assert_eq!(run(&[], &[b"Hel", b"lo"]), ("Hello".to_string(), false));
    }

    #[test]
    fn stop_string_split_across_tokens_is_cut() {
        assert_eq!(run(&["\n\n"], &[b"a\n", b"\nb"]), ("a".to_string(), true));
        assert_eq!(
            run(&["END"], &[b"xE", b"N", b"D!"]),
            ("x".to_string(), true)
        );
    }

    #[test]
    fn false_stop_prefix_is_released() {
        assert_eq!(
            run(&["END"], &[b"E", b"N", b"d"]),
            ("ENd".to_string(), false)
        );
        assert_eq!(run(&["END"], &[b"E", b"N"]), ("EN".to_string(), false));
    }

    #[test]
    fn utf8_split_across_tokens() {
        let snow = "☃".as_bytes();
        let mut t = TextStream::new(vec![]);
        assert_eq!(t.push(&snow[..1]).text, "");
        assert_eq!(t.push(&snow[1..]).text, "☃");
        assert_eq!(run(&[], &[b"\xff", b"a"]), ("\u{fffd}a".to_string(), false));
        assert_eq!(run(&[], &[&snow[..2]]), ("\u{fffd}".to_string(), false));
    }
}
