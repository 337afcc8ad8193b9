//! devassist-gguf: read what a GGUF model file says about itself, without llama.cpp.
//!
//! The gateway lists, describes and names local models from this crate (`/api/tags`,
//! `/api/show`, the process pool) so it never has to build or load llama.cpp to do so. It reads
//! the header, the metadata key/values and the tensor infos; it never reads tensor data, except
//! to hash the whole file for a digest, which is computed on demand and cached.
//!
//! Entry points: [`ModelMeta::read`] for one file, [`discover`] for a models directory,
//! [`models_dir`] for where that directory is, and [`digest`] for the file's sha256.

mod digest;
mod dirs;
mod discover;
mod error;
mod fim;
mod ftype;
mod meta;
mod reader;
mod value;

pub use digest::digest;
pub use dirs::{MODELS_ENV, models_dir, resolve_models_dir};
pub use discover::{Discovery, LocalModel, discover, model_name};
pub use error::GgufError;
pub use fim::{FimTokens, Token};
pub use ftype::{file_type_name, human_parameter_count};
pub use meta::{Capability, ModelMeta};
pub use reader::{GgufFile, TensorInfo, parse};
pub use value::{MetaArray, MetaValue, ValueType};
