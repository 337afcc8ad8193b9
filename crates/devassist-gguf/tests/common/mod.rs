//! A minimal GGUF writer for tests: enough to build files with chosen metadata and tensors.

#![allow(dead_code, reason = "each test binary uses a different subset")]

pub enum V {
    U32(u32),
    U64(u64),
    Bool(bool),
    Str(&'static str),
    Strs(Vec<String>),
    U32s(Vec<u32>),
}

pub struct Tensor {
    pub name: &'static str,
    pub dims: Vec<u64>,
    pub ggml_type: u32,
}

fn string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Bytes of a version-3 GGUF file. With `with_data`, the tensor data section is filled with
/// zeros (F32 tensors only need `4 * elements` bytes each).
pub fn gguf(kvs: &[(&str, V)], tensors: &[Tensor], data_bytes: u64) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"GGUF");
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    out.extend_from_slice(&(kvs.len() as u64).to_le_bytes());
    for (key, value) in kvs {
        string(&mut out, key);
        match value {
            V::U32(v) => {
                out.extend_from_slice(&4u32.to_le_bytes());
                out.extend_from_slice(&v.to_le_bytes());
            }
            V::U64(v) => {
                out.extend_from_slice(&10u32.to_le_bytes());
                out.extend_from_slice(&v.to_le_bytes());
            }
            V::Bool(v) => {
                out.extend_from_slice(&7u32.to_le_bytes());
                out.push(u8::from(*v));
            }
            V::Str(s) => {
                out.extend_from_slice(&8u32.to_le_bytes());
                string(&mut out, s);
            }
            V::Strs(list) => {
                out.extend_from_slice(&9u32.to_le_bytes());
                out.extend_from_slice(&8u32.to_le_bytes());
                out.extend_from_slice(&(list.len() as u64).to_le_bytes());
                for s in list {
                    string(&mut out, s);
                }
            }
            V::U32s(list) => {
                out.extend_from_slice(&9u32.to_le_bytes());
                out.extend_from_slice(&4u32.to_le_bytes());
                out.extend_from_slice(&(list.len() as u64).to_le_bytes());
                for v in list {
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
        }
    }
    let mut offset = 0u64;
    for t in tensors {
        string(&mut out, t.name);
        out.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
        for d in &t.dims {
            out.extend_from_slice(&d.to_le_bytes());
        }
        out.extend_from_slice(&t.ggml_type.to_le_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
        offset += t.dims.iter().product::<u64>() * 4;
    }
    while out.len() % 32 != 0 {
        out.push(0);
    }
    out.resize(out.len() + data_bytes as usize, 0);
    out
}

/// A small but complete llama-like model file: metadata, a 6-token vocabulary and two F32
/// tensors (8 + 4 = 12 parameters) with their data.
pub fn tiny_model(extra: Vec<(&'static str, V)>) -> Vec<u8> {
    let mut kvs = vec![
        ("general.architecture", V::Str("llama")),
        ("general.basename", V::Str("TinyLM")),
        ("general.size_label", V::Str("12")),
        ("general.name", V::Str("TinyLM 12 Instruct")),
        ("general.file_type", V::U32(0)),
        ("llama.context_length", V::U32(2048)),
        ("llama.embedding_length", V::U32(4)),
        ("llama.block_count", V::U32(1)),
        (
            "tokenizer.ggml.tokens",
            V::Strs(
                ["<s>", "</s>", "a", "b", "<|im_start|>", "<|im_end|>"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            ),
        ),
        ("tokenizer.ggml.token_type", V::U32s(vec![3, 3, 1, 1, 3, 3])),
        ("tokenizer.ggml.bos_token_id", V::U32(0)),
        ("tokenizer.ggml.eos_token_id", V::U32(5)),
        ("tokenizer.ggml.add_bos_token", V::Bool(false)),
        (
            "tokenizer.chat_template",
            V::Str("{% for m in messages %}{{ m.content }}{% endfor %}"),
        ),
    ];
    kvs.extend(extra);
    let tensors = [
        Tensor {
            name: "token_embd.weight",
            dims: vec![4, 2],
            ggml_type: 0,
        },
        Tensor {
            name: "output_norm.weight",
            dims: vec![4],
            ggml_type: 0,
        },
    ];
    gguf(&kvs, &tensors, 48)
}
