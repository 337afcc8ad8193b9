//! The GGUF binary reader: header, metadata key/values and tensor infos, with every length
//! checked against the file size before anything is allocated, so arbitrary bytes give a
//! [`GgufError`] and never a panic or a huge allocation. Tensor data is never read.

use crate::error::GgufError;
use crate::ftype::ggml_type_size;
use crate::value::{MetaArray, MetaValue, ValueType};
use std::collections::BTreeMap;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 4] = b"GGUF";
/// Metadata arrays up to this length are kept; longer ones are skipped (length only).
const INLINE_ARRAY_MAX: u64 = 1024;
/// Longest key GGUF allows.
const MAX_KEY_LEN: u64 = 65_535;
/// Longest string value we are willing to hold (chat templates are a few tens of KiB).
const MAX_STRING_LEN: u64 = 64 << 20;
/// ggml's `GGML_MAX_DIMS`.
const MAX_DIMS: u32 = 4;
const DEFAULT_ALIGNMENT: u64 = 32;
const TOKENS_KEY: &str = "tokenizer.ggml.tokens";

/// One tensor's description (its data is not read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    pub dims: Vec<u64>,
    /// `ggml_type` id.
    pub ggml_type: u32,
    /// Offset of the tensor's data from the start of the data section.
    pub offset: u64,
}

impl TensorInfo {
    /// Number of elements (product of the dimensions).
    pub fn elements(&self) -> u64 {
        self.dims.iter().product()
    }
}

/// Everything read from a GGUF file apart from the tensor data.
#[derive(Debug, Clone)]
pub struct GgufFile {
    pub version: u32,
    /// All metadata; arrays longer than 1,024 elements and the `tokenizer.ggml.*` arrays carry
    /// only their type and length.
    pub metadata: BTreeMap<String, MetaValue>,
    /// The vocabulary (`tokenizer.ggml.tokens`), when the file has one.
    pub tokens: Option<Vec<String>>,
    pub tensors: Vec<TensorInfo>,
    /// Absolute offset of the tensor data section.
    pub data_offset: u64,
    /// File size in bytes.
    pub file_size: u64,
}

impl GgufFile {
    /// Open and parse the file at `path`.
    pub fn open(path: &Path) -> Result<Self, GgufError> {
        let file = std::fs::File::open(path).map_err(|source| GgufError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        parse(file, path)
    }
}

/// Parse GGUF bytes from any seekable source; `path` only names the source in errors.
pub fn parse<R: Read + Seek>(source: R, path: &Path) -> Result<GgufFile, GgufError> {
    let mut src = Src::new(source, path)?;
    let magic = src.bytes_upto4()?;
    if &magic != MAGIC {
        return Err(GgufError::NotGguf {
            path: src.path.clone(),
        });
    }
    let version = src.u32("version")?;
    if !(2..=3).contains(&version) {
        return Err(GgufError::UnsupportedVersion {
            path: src.path.clone(),
            version,
        });
    }
    let tensor_count = src.u64("tensor count")?;
    let kv_count = src.u64("metadata count")?;
    // Each key/value takes at least 13 bytes (key length, type, one byte of value).
    src.plausible_count(kv_count, 13, "metadata count")?;

    let mut metadata = BTreeMap::new();
    let mut tokens = None;
    for _ in 0..kv_count {
        let key = src.string(MAX_KEY_LEN, "metadata key")?;
        let ty = src.value_type("metadata value type")?;
        let value = if ty == ValueType::Array && key == TOKENS_KEY {
            let (array, list) = src.token_array()?;
            tokens = list;
            MetaValue::Array(array)
        } else {
            let keep = !key.starts_with("tokenizer.ggml.");
            src.value(ty, keep, &key)?
        };
        if metadata.insert(key.clone(), value).is_some() {
            return Err(src.malformed(format!("duplicate metadata key '{key}'")));
        }
    }

    // Each tensor info takes at least 24 bytes (name length, dims count, type, offset).
    src.plausible_count(tensor_count, 24, "tensor count")?;
    let mut tensors = Vec::new();
    for _ in 0..tensor_count {
        tensors.push(src.tensor_info()?);
    }

    let alignment = match metadata.get("general.alignment") {
        None => DEFAULT_ALIGNMENT,
        Some(v) => match v.as_u64() {
            Some(a) if a > 0 && a.is_power_of_two() => a,
            _ => return Err(src.malformed("general.alignment is not a power of two".into())),
        },
    };
    let data_offset = src.pos.div_ceil(alignment).saturating_mul(alignment);
    check_tensor_data(&src, &tensors, data_offset)?;

    Ok(GgufFile {
        version,
        metadata,
        tokens,
        tensors,
        data_offset,
        file_size: src.len,
    })
}

/// A truncated download keeps a valid header: compare where the tensor data must end with the
/// file size (for the tensor types whose sizes we know).
fn check_tensor_data<R: Read + Seek>(
    src: &Src<R>,
    tensors: &[TensorInfo],
    data_offset: u64,
) -> Result<(), GgufError> {
    for t in tensors {
        let Some((block, type_size)) = ggml_type_size(t.ggml_type) else {
            continue;
        };
        let bytes = (t.elements() / block).checked_mul(type_size);
        let end = bytes
            .and_then(|b| b.checked_add(t.offset))
            .and_then(|e| e.checked_add(data_offset));
        match end {
            Some(end) if end <= src.len => {}
            Some(end) => {
                return Err(GgufError::Truncated {
                    path: src.path.clone(),
                    detail: format!(
                        "tensor '{}' ends at byte {end} but the file has {} bytes",
                        t.name, src.len
                    ),
                });
            }
            None => return Err(src.malformed(format!("tensor '{}' size overflows", t.name))),
        }
    }
    Ok(())
}

/// A bounds-checked little-endian cursor over the source.
struct Src<R> {
    r: BufReader<R>,
    pos: u64,
    len: u64,
    path: PathBuf,
}

impl<R: Read + Seek> Src<R> {
    fn new(mut source: R, path: &Path) -> Result<Self, GgufError> {
        let io = |source| GgufError::Io {
            path: path.to_path_buf(),
            source,
        };
        let len = source.seek(SeekFrom::End(0)).map_err(io)?;
        source.seek(SeekFrom::Start(0)).map_err(io)?;
        Ok(Self {
            r: BufReader::with_capacity(64 << 10, source),
            pos: 0,
            len,
            path: path.to_path_buf(),
        })
    }

    fn malformed(&self, detail: String) -> GgufError {
        GgufError::Malformed {
            path: self.path.clone(),
            detail,
        }
    }

    fn truncated(&self, what: &str) -> GgufError {
        GgufError::Truncated {
            path: self.path.clone(),
            detail: format!("file ends at byte {} while reading the {what}", self.len),
        }
    }

    fn need(&self, n: u64, what: &str) -> Result<(), GgufError> {
        match self.pos.checked_add(n) {
            Some(end) if end <= self.len => Ok(()),
            _ => Err(self.truncated(what)),
        }
    }

    /// Reject counts that could not fit in the rest of the file before looping over them.
    fn plausible_count(&self, count: u64, min_each: u64, what: &str) -> Result<(), GgufError> {
        match count.checked_mul(min_each) {
            Some(total) => self.need(total, what),
            None => Err(self.truncated(what)),
        }
    }

    fn fill(&mut self, buf: &mut [u8], what: &str) -> Result<(), GgufError> {
        self.need(buf.len() as u64, what)?;
        self.r.read_exact(buf).map_err(|source| GgufError::Io {
            path: self.path.clone(),
            source,
        })?;
        self.pos += buf.len() as u64;
        Ok(())
    }

    fn skip(&mut self, n: u64, what: &str) -> Result<(), GgufError> {
        self.need(n, what)?;
        let delta = i64::try_from(n).map_err(|_| self.truncated(what))?;
        self.r
            .seek_relative(delta)
            .map_err(|source| GgufError::Io {
                path: self.path.clone(),
                source,
            })?;
        self.pos += n;
        Ok(())
    }

    /// The magic: a file shorter than 4 bytes is reported as truncated when it could be the
    /// start of a GGUF file, and as not GGUF otherwise.
    fn bytes_upto4(&mut self) -> Result<[u8; 4], GgufError> {
        if self.len < 4 {
            let mut short = vec![0u8; usize::try_from(self.len).unwrap_or(0)];
            self.fill(&mut short, "magic")?;
            if MAGIC.starts_with(&short) {
                return Err(self.truncated("magic"));
            }
            return Err(GgufError::NotGguf {
                path: self.path.clone(),
            });
        }
        let mut b = [0u8; 4];
        self.fill(&mut b, "magic")?;
        Ok(b)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], GgufError> {
        let mut b = [0u8; N];
        self.fill(&mut b, what)?;
        Ok(b)
    }

    fn u32(&mut self, what: &str) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    fn value_type(&mut self, what: &str) -> Result<ValueType, GgufError> {
        let id = self.u32(what)?;
        ValueType::from_id(id).ok_or_else(|| self.malformed(format!("unknown value type {id}")))
    }

    fn string(&mut self, max: u64, what: &str) -> Result<String, GgufError> {
        let len = self.u64(what)?;
        self.need(len, what)?;
        if len > max {
            return Err(self.malformed(format!("{what} is {len} bytes long")));
        }
        let mut buf = vec![0u8; usize::try_from(len).map_err(|_| self.truncated(what))?];
        self.fill(&mut buf, what)?;
        Ok(String::from_utf8(buf)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }

    fn skip_string(&mut self, what: &str) -> Result<(), GgufError> {
        let len = self.u64(what)?;
        self.skip(len, what)
    }

    fn scalar(&mut self, ty: ValueType, key: &str) -> Result<MetaValue, GgufError> {
        Ok(match ty {
            ValueType::U8 => MetaValue::U8(u8::from_le_bytes(self.array(key)?)),
            ValueType::I8 => MetaValue::I8(i8::from_le_bytes(self.array(key)?)),
            ValueType::U16 => MetaValue::U16(u16::from_le_bytes(self.array(key)?)),
            ValueType::I16 => MetaValue::I16(i16::from_le_bytes(self.array(key)?)),
            ValueType::U32 => MetaValue::U32(u32::from_le_bytes(self.array(key)?)),
            ValueType::I32 => MetaValue::I32(i32::from_le_bytes(self.array(key)?)),
            ValueType::F32 => MetaValue::F32(f32::from_le_bytes(self.array(key)?)),
            ValueType::Bool => MetaValue::Bool(self.array::<1>(key)?[0] != 0),
            ValueType::U64 => MetaValue::U64(u64::from_le_bytes(self.array(key)?)),
            ValueType::I64 => MetaValue::I64(i64::from_le_bytes(self.array(key)?)),
            ValueType::F64 => MetaValue::F64(f64::from_le_bytes(self.array(key)?)),
            ValueType::String => MetaValue::String(self.string(MAX_STRING_LEN, key)?),
            ValueType::Array => return Err(self.malformed(format!("nested array in '{key}'"))),
        })
    }

    fn value(
        &mut self,
        ty: ValueType,
        keep_arrays: bool,
        key: &str,
    ) -> Result<MetaValue, GgufError> {
        if ty != ValueType::Array {
            return self.scalar(ty, key);
        }
        let elem_type = self.value_type(key)?;
        let len = self.u64(key)?;
        if elem_type == ValueType::Array {
            return Err(self.malformed(format!("nested array in '{key}'")));
        }
        let min_each = elem_type.fixed_size().unwrap_or(8);
        self.plausible_count(len, min_each, key)?;
        let keep = keep_arrays && len <= INLINE_ARRAY_MAX;
        let values = if keep {
            let mut v = Vec::new();
            for _ in 0..len {
                v.push(self.scalar(elem_type, key)?);
            }
            Some(v)
        } else {
            match elem_type.fixed_size() {
                Some(size) => self.skip(len * size, key)?,
                None => {
                    for _ in 0..len {
                        self.skip_string(key)?;
                    }
                }
            }
            None
        };
        Ok(MetaValue::Array(MetaArray {
            elem_type,
            len,
            values,
        }))
    }

    /// The vocabulary: kept as a token list (FIM and special-token lookup), not as metadata.
    fn token_array(&mut self) -> Result<(MetaArray, Option<Vec<String>>), GgufError> {
        let elem_type = self.value_type(TOKENS_KEY)?;
        let len = self.u64(TOKENS_KEY)?;
        if elem_type != ValueType::String {
            let value = self.value_after_header(elem_type, len)?;
            return Ok((value, None));
        }
        self.plausible_count(len, 8, TOKENS_KEY)?;
        let mut tokens = Vec::new();
        for _ in 0..len {
            tokens.push(self.string(MAX_KEY_LEN, TOKENS_KEY)?);
        }
        let array = MetaArray {
            elem_type,
            len,
            values: None,
        };
        Ok((array, Some(tokens)))
    }

    /// Skip an array whose element type and length were already read.
    fn value_after_header(
        &mut self,
        elem_type: ValueType,
        len: u64,
    ) -> Result<MetaArray, GgufError> {
        match elem_type.fixed_size() {
            Some(size) => {
                let total = len
                    .checked_mul(size)
                    .ok_or_else(|| self.truncated(TOKENS_KEY))?;
                self.skip(total, TOKENS_KEY)?;
            }
            None => return Err(self.malformed(format!("'{TOKENS_KEY}' is not a string array"))),
        }
        Ok(MetaArray {
            elem_type,
            len,
            values: None,
        })
    }

    fn tensor_info(&mut self) -> Result<TensorInfo, GgufError> {
        let name = self.string(MAX_KEY_LEN, "tensor name")?;
        let n_dims = self.u32("tensor dimensions")?;
        if n_dims > MAX_DIMS {
            return Err(self.malformed(format!("tensor '{name}' has {n_dims} dimensions")));
        }
        let mut dims = Vec::new();
        for _ in 0..n_dims {
            dims.push(self.u64("tensor dimensions")?);
        }
        if dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .is_none()
        {
            return Err(self.malformed(format!("tensor '{name}' has too many elements")));
        }
        let ggml_type = self.u32("tensor type")?;
        let offset = self.u64("tensor offset")?;
        Ok(TensorInfo {
            name,
            dims,
            ggml_type,
            offset,
        })
    }
}
