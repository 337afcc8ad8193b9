//! One module per subcommand.

pub mod config;
mod defaults;
pub mod docs;
#[cfg(feature = "engine")]
pub mod engine;
pub mod keys;
pub mod serve;
pub mod status;
pub mod supervise;
pub mod usage;
