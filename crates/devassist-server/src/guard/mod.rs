//! Guard: who is asking and what travels with the request. Runs as tower layers.

pub mod in_flight;
pub mod request_id;

pub use request_id::RequestId;
