//! The one error type of this crate. Every variant names the file, so a message read on its own
//! (in a log, in an HTTP error) says which model is broken.

use std::path::PathBuf;

/// Why a GGUF file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    /// The file (or directory) could not be opened or read.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file does not start with the `GGUF` magic.
    #[error("{}: not a GGUF file (bad magic bytes)", path.display())]
    NotGguf { path: PathBuf },
    /// A GGUF version this reader does not know (only 2 and 3 are in use).
    #[error("{}: unsupported GGUF version {version}", path.display())]
    UnsupportedVersion { path: PathBuf, version: u32 },
    /// The file ends before the header, metadata, tensor infos or tensor data it announces.
    #[error("{}: truncated GGUF file ({detail})", path.display())]
    Truncated { path: PathBuf, detail: String },
    /// The bytes are there but make no sense (unknown value type, absurd sizes, ...).
    #[error("{}: malformed GGUF file ({detail})", path.display())]
    Malformed { path: PathBuf, detail: String },
}

impl GgufError {
    /// The file the error is about.
    pub fn path(&self) -> &std::path::Path {
        match self {
            Self::Io { path, .. }
            | Self::NotGguf { path }
            | Self::UnsupportedVersion { path, .. }
            | Self::Truncated { path, .. }
            | Self::Malformed { path, .. } => path,
        }
    }
}
