//! Cutting text at stop strings, in one go or incrementally over a stream.
//!
//! A stop "happens" where it is completed first, as upstream servers check after each token:
//! of all occurrences, the one that ends earliest wins (the longer one on a tie). The one-shot
//! and streaming cuts agree on this for every chunking of the same text.

/// Byte offset where `text` must be cut, if any stop string occurs in it.
pub fn find_stop<S: AsRef<str>>(text: &str, stops: &[S]) -> Option<usize> {
    stops
        .iter()
        .map(AsRef::as_ref)
        .filter(|stop| !stop.is_empty())
        .filter_map(|stop| text.find(stop).map(|start| (start + stop.len(), start)))
        .min()
        .map(|(_, start)| start)
}

/// `text` up to the first stop string.
pub fn cut_at_stop<'a, S: AsRef<str>>(text: &'a str, stops: &[S]) -> &'a str {
    match find_stop(text, stops) {
        Some(at) => &text[..at],
        None => text,
    }
}

/// Applies stop strings to a stream of text chunks. Holds back only a tail that could be the
/// start of a stop string split across chunks; once a stop is seen, the caller should drop
/// the upstream stream (that cancels the generation).
#[derive(Debug, Clone, Default)]
pub struct StreamStopper {
    stops: Vec<String>,
    pending: String,
    stopped: bool,
}

impl StreamStopper {
    pub fn new<I, S>(stops: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            stops: stops
                .into_iter()
                .map(Into::into)
                .filter(|s| !s.is_empty())
                .collect(),
            pending: String::new(),
            stopped: false,
        }
    }

    /// Takes the next chunk and returns the text that is now safe to emit (maybe empty).
    pub fn push(&mut self, chunk: &str) -> String {
        if self.stopped {
            return String::new();
        }
        self.pending.push_str(chunk);
        if let Some(at) = find_stop(&self.pending, &self.stops) {
            self.stopped = true;
            self.pending.truncate(at);
            return std::mem::take(&mut self.pending);
        }
        let emit = self.pending.len() - self.held_back();
        let rest = self.pending.split_off(emit);
        std::mem::replace(&mut self.pending, rest)
    }

    /// Whether a stop string has been seen; later chunks are ignored.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// Ends the stream: returns the held-back text, which turned out not to be a stop.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }

    /// Length of the longest tail of `pending` that some stop string starts with.
    fn held_back(&self) -> usize {
        let longest = self.stops.iter().map(String::len).max().unwrap_or(0);
        let max = longest.saturating_sub(1).min(self.pending.len());
        (1..=max)
            .rev()
            .find(|&k| {
                let start = self.pending.len() - k;
                self.pending.is_char_boundary(start) && {
                    let tail = &self.pending[start..];
                    self.stops.iter().any(|stop| stop.starts_with(tail))
                }
            })
            .unwrap_or(0)
    }
}
