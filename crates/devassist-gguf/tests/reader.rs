//! The GGUF reader on synthetic files: metadata derivation, FIM detection, naming, discovery,
//! and clear errors (naming the file) for missing, truncated and non-GGUF files.

mod common;
use common as writer;

use devassist_gguf::{Capability, GgufError, ModelMeta, digest, discover, model_name};
use std::path::Path;
use writer::{V, tiny_model};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<std::path::PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, bytes)?;
    Ok(path)
}

#[test]
fn reads_model_facts() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = write(dir.path(), "tiny.gguf", &tiny_model(vec![]))?;
    let meta = ModelMeta::read(&path)?;
    assert_eq!(meta.architecture, "llama");
    assert_eq!(meta.basename.as_deref(), Some("TinyLM"));
    assert_eq!(meta.parameter_count, 12);
    assert_eq!(meta.parameter_size(), "12");
    assert_eq!(meta.quantization, "F32");
    assert_eq!(meta.context_length, Some(2048));
    assert_eq!(meta.embedding_length, Some(4));
    assert_eq!(
        meta.bos_token.as_ref().map(|t| t.text.as_str()),
        Some("<s>")
    );
    assert_eq!(
        meta.eos_token.as_ref().map(|t| (t.id, t.text.as_str())),
        Some((5, "<|im_end|>"))
    );
    assert_eq!(meta.add_bos_token, Some(false));
    assert_eq!(meta.vocab_size, Some(6));
    assert!(
        meta.chat_template
            .as_deref()
            .is_some_and(|t| t.contains("messages"))
    );
    assert!(meta.fim.is_none());
    assert!(!meta.is_embedding);
    assert_eq!(meta.capabilities(), vec![Capability::Completion]);
    assert_eq!(model_name(&meta), "tinylm:12");
    // Tokenizer arrays are listed with their length only, like Ollama's non-verbose show.
    let json = serde_json_like(&meta);
    assert!(json.contains("tokenizer.ggml.token_type=[]"), "{json}");
    Ok(())
}

/// `model_info`-style rendering without pulling serde_json into this crate's tests.
fn serde_json_like(meta: &ModelMeta) -> String {
    meta.metadata
        .iter()
        .map(|(k, v)| match v {
            devassist_gguf::MetaValue::Array(a) => {
                format!("{k}=[{}]", a.values.as_ref().map_or(0, Vec::len))
            }
            other => format!("{k}={other:?}"),
        })
        .collect::<Vec<_>>()
        .join("\n")
        .replace("=[0]", "=[]")
}

#[test]
fn fim_and_embedding_capabilities() -> TestResult {
    let dir = tempfile::tempdir()?;
    let fim_vocab = ["<fim_prefix>", "<fim_middle>", "<fim_suffix>", "x"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let bytes = writer::gguf(
        &[
            ("general.architecture", V::Str("starcoder2")),
            ("tokenizer.ggml.tokens", V::Strs(fim_vocab)),
            (
                "tokenizer.chat_template",
                V::Str("{% if tools %}{{ tools }}{% endif %}"),
            ),
        ],
        &[],
        0,
    );
    let path = write(dir.path(), "coder.gguf", &bytes)?;
    let meta = ModelMeta::read(&path)?;
    let fim = meta
        .fim
        .as_ref()
        .map(|f| (f.prefix.id, f.suffix.id, f.middle.id));
    assert_eq!(fim, Some((0, 2, 1)));
    assert_eq!(
        meta.capabilities(),
        vec![
            Capability::Completion,
            Capability::Tools,
            Capability::Insert
        ]
    );
    assert_eq!(model_name(&meta), "coder:latest");

    let embed = writer::gguf(
        &[
            ("general.architecture", V::Str("bert")),
            ("bert.pooling_type", V::U32(1)),
        ],
        &[],
        0,
    );
    let path = write(dir.path(), "embed.gguf", &embed)?;
    let meta = ModelMeta::read(&path)?;
    assert!(meta.is_embedding);
    assert_eq!(meta.capabilities(), vec![Capability::Embedding]);
    Ok(())
}

#[test]
fn errors_name_the_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let missing = dir.path().join("missing.gguf");
    let err = ModelMeta::read(&missing)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("missing.gguf"), "{err}");

    let path = write(dir.path(), "text.gguf", b"hello, I am not a model at all")?;
    let err = ModelMeta::read(&path).err();
    assert!(matches!(err, Some(GgufError::NotGguf { .. })), "{err:?}");
    assert!(
        err.map(|e| e.to_string())
            .unwrap_or_default()
            .contains("text.gguf: not a GGUF file")
    );

    let full = tiny_model(vec![]);
    for cut in [0, 3, 10, 40, full.len() / 2, full.len() - 1] {
        let path = write(dir.path(), "cut.gguf", &full[..cut])?;
        let err = ModelMeta::read(&path).err();
        assert!(
            matches!(err, Some(GgufError::Truncated { .. })),
            "cut at {cut}: {err:?}"
        );
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(text.starts_with(&path.display().to_string()), "{text}");
    }

    let mut v1 = full.clone();
    v1[4] = 1;
    let path = write(dir.path(), "v1.gguf", &v1)?;
    let err = ModelMeta::read(&path).err();
    assert!(
        matches!(err, Some(GgufError::UnsupportedVersion { version: 1, .. })),
        "{err:?}"
    );
    Ok(())
}

#[test]
fn discover_names_sorts_and_reports_bad_files() -> TestResult {
    let dir = tempfile::tempdir()?;
    write(dir.path(), "b-tiny.Q8_0.gguf", &tiny_model(vec![]))?;
    write(dir.path(), "a-tiny.F32.gguf", &tiny_model(vec![]))?;
    write(dir.path(), "broken.gguf", b"GGUF")?;
    write(dir.path(), "notes.txt", b"not a model")?;
    write(dir.path(), ".partial.gguf", b"half")?;
    let found = discover(dir.path())?;
    let names: Vec<&str> = found.models.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, vec!["tinylm:12", "b-tiny.q8_0:latest"]);
    assert_eq!(found.errors.len(), 1);
    assert!(found.errors[0].to_string().contains("broken.gguf"));
    assert_eq!(
        found
            .find("tinylm:12")
            .map(|m| m.path.ends_with("a-tiny.F32.gguf")),
        Some(true)
    );
    assert_eq!(
        found.find("b-tiny.q8_0").map(|m| m.name.as_str()),
        Some("b-tiny.q8_0:latest")
    );

    let empty = discover(&dir.path().join("does-not-exist"))?;
    assert!(empty.models.is_empty() && empty.errors.is_empty());
    Ok(())
}

#[test]
fn digest_is_sha256_and_tracks_changes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = write(dir.path(), "x.gguf", b"abc")?;
    assert_eq!(
        digest(&path)?,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(digest(&path)?, digest(&path)?);
    write(dir.path(), "x.gguf", b"abcd")?;
    assert_eq!(
        digest(&path)?,
        "88d4266fd4e6338d13b845fcf289579d209c897823b9217da3e161936f031589"
    );
    Ok(())
}

/// The real default model, when the fetch script has put it in place.
#[test]
fn default_model_metadata() -> TestResult {
    let dir = devassist_gguf::models_dir(None);
    let path = dir.join("SmolLM2-135M-Instruct.Q4_1.gguf");
    if !path.exists() {
        let hint = format!(
            "{} is missing (run scripts/fetch-default-model.sh)",
            path.display()
        );
        // `make test` sets this: there a skip would pass without checking anything.
        assert!(
            std::env::var_os("DEVASSIST_REQUIRE_MODEL").is_none(),
            "{hint}"
        );
        eprintln!("skipping: {hint}");
        return Ok(());
    }
    let meta = ModelMeta::read(&path)?;
    assert_eq!(meta.architecture, "llama");
    assert_eq!(meta.quantization, "Q4_1");
    assert_eq!(model_name(&meta), "smollm2:135m");
    assert_eq!(meta.parameter_size(), "134.52M");
    assert_eq!(meta.context_length, Some(8192));
    assert_eq!(meta.embedding_length, Some(576));
    assert!(meta.fim.is_none());
    assert!(meta.chat_template.is_some());
    assert_eq!(meta.capabilities(), vec![Capability::Completion]);
    Ok(())
}
