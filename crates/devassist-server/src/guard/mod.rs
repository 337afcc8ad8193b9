//! Guard: who is asking and what travels with the request. Runs as tower layers.

pub mod request_id;

pub use request_id::RequestId;
