//! Secret redaction: credentials found in what a request carries (`detect`) are replaced by
//! per-request placeholders (`vault`) in every text of the request (`request`), and the
//! answer gets the originals back where the model echoes a placeholder (`restore`).
//!
//! Used by the pipeline's redaction stage (`pipeline/redact.rs`) before a prompt leaves for
//! a backend that is not local, and by expanded logging (`telemetry/expanded`) before a
//! prompt or an answer is written to disk. Nothing here logs a secret or decides when to
//! redact: that is the caller's policy.

pub mod detect;
pub mod request;
pub mod restore;
pub mod vault;

pub use detect::{DETECTOR, Detector, Found, Kind};
pub use request::{redact_embed, redact_request, restore_request};
pub use restore::restore;
pub use vault::Vault;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_stream;
