//! Metadata values as GGUF stores them, and their JSON form for `/api/show`'s `model_info`.

use serde::ser::{Serialize, SerializeSeq, Serializer};

/// GGUF value type ids (`gguf_type` in ggml).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    F32,
    Bool,
    String,
    Array,
    U64,
    I64,
    F64,
}

impl ValueType {
    /// Decode a type id; `None` for ids GGUF does not define.
    pub fn from_id(id: u32) -> Option<Self> {
        Some(match id {
            0 => Self::U8,
            1 => Self::I8,
            2 => Self::U16,
            3 => Self::I16,
            4 => Self::U32,
            5 => Self::I32,
            6 => Self::F32,
            7 => Self::Bool,
            8 => Self::String,
            9 => Self::Array,
            10 => Self::U64,
            11 => Self::I64,
            12 => Self::F64,
            _ => return None,
        })
    }

    /// Encoded size of one value, for fixed-size types.
    pub fn fixed_size(self) -> Option<u64> {
        Some(match self {
            Self::U8 | Self::I8 | Self::Bool => 1,
            Self::U16 | Self::I16 => 2,
            Self::U32 | Self::I32 | Self::F32 => 4,
            Self::U64 | Self::I64 | Self::F64 => 8,
            Self::String | Self::Array => return None,
        })
    }
}

/// One metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(String),
    U64(u64),
    I64(i64),
    F64(f64),
    Array(MetaArray),
}

/// An array value. Large arrays (vocabularies, merges, scores) are skipped while reading:
/// `values` is then `None` and only the element type and length are known.
#[derive(Debug, Clone, PartialEq)]
pub struct MetaArray {
    pub elem_type: ValueType,
    pub len: u64,
    pub values: Option<Vec<MetaValue>>,
}

impl MetaValue {
    /// The value as an unsigned integer, when it is a non-negative integer of any width.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Self::U8(v) => Some(u64::from(v)),
            Self::U16(v) => Some(u64::from(v)),
            Self::U32(v) => Some(u64::from(v)),
            Self::U64(v) => Some(v),
            Self::I8(v) => u64::try_from(v).ok(),
            Self::I16(v) => u64::try_from(v).ok(),
            Self::I32(v) => u64::try_from(v).ok(),
            Self::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as a string slice, when it is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value as a bool, when it is one.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Self::Bool(b) => Some(b),
            _ => None,
        }
    }
}

impl Serialize for MetaValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::U8(v) => s.serialize_u8(*v),
            Self::I8(v) => s.serialize_i8(*v),
            Self::U16(v) => s.serialize_u16(*v),
            Self::I16(v) => s.serialize_i16(*v),
            Self::U32(v) => s.serialize_u32(*v),
            Self::I32(v) => s.serialize_i32(*v),
            Self::F32(v) => s.serialize_f32(*v),
            Self::Bool(v) => s.serialize_bool(*v),
            Self::String(v) => s.serialize_str(v),
            Self::U64(v) => s.serialize_u64(*v),
            Self::I64(v) => s.serialize_i64(*v),
            Self::F64(v) => s.serialize_f64(*v),
            // Skipped arrays serialise as `[]`, as Ollama does for the tokenizer arrays.
            Self::Array(a) => {
                let values = a.values.as_deref().unwrap_or(&[]);
                let mut seq = s.serialize_seq(Some(values.len()))?;
                for v in values {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
        }
    }
}
