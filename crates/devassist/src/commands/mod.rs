//! One module per subcommand.

pub mod config;
mod defaults;
pub mod docs;
pub mod serve;
