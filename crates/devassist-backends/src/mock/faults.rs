//! Failure modes chosen by the requested model name, so that gateway tests can ask for a
//! misbehaving upstream without any extra configuration.
//!
//! The name is split into words at every non-alphanumeric character and each mode is a
//! whole word: `mock-slow-250`, `qwen:broken`, `hang` (so `changelog` does not hang).

use std::time::Duration;

/// Time to first token for `slow` without a number.
pub(crate) const SLOW_DEFAULT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Faults {
    /// `slow` (30 s) or `slow-<ms>`: replaces the configured time to first token.
    pub slow: Option<Duration>,
    /// An upstream 500 before the first byte.
    pub error: bool,
    /// Three tokens, then an error mid-stream.
    pub broken: bool,
    /// A malformed upstream answer before the first byte.
    pub garbage: bool,
    /// Never answers at all.
    pub hang: bool,
}

impl Faults {
    pub fn from_model(model: &str) -> Faults {
        let lower = model.to_ascii_lowercase();
        let words: Vec<&str> = lower
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        let mut faults = Faults::default();
        for (i, word) in words.iter().enumerate() {
            match *word {
                "slow" => {
                    let ms = words
                        .get(i + 1)
                        .and_then(|next| next.parse::<u64>().ok())
                        .map(Duration::from_millis);
                    faults.slow = Some(ms.unwrap_or(SLOW_DEFAULT));
                }
                "error" => faults.error = true,
                "broken" => faults.broken = true,
                "garbage" => faults.garbage = true,
                "hang" => faults.hang = true,
                _ => {}
            }
        }
        faults
    }
}
