//! The parser on arbitrary and on mutated bytes: it must return (an error naming the source)
//! and never panic or allocate absurdly.

mod common;
use common as writer;

use devassist_gguf::{ModelMeta, parse};
use proptest::prelude::*;
use std::io::Cursor;
use std::path::Path;

fn check(bytes: Vec<u8>) {
    match parse(Cursor::new(bytes), Path::new("fuzz.gguf")) {
        Ok(file) => {
            let _ = ModelMeta::from_gguf(file, Path::new("fuzz.gguf")).capabilities();
        }
        Err(e) => assert!(e.to_string().starts_with("fuzz.gguf: ")),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        check(bytes);
    }

    #[test]
    fn gguf_prefixed_bytes_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut bytes = b"GGUF\x03\x00\x00\x00".to_vec();
        bytes.extend(tail);
        check(bytes);
    }

    #[test]
    fn mutated_model_never_panics(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = writer::tiny_model(vec![]);
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        let keep = cut.index(bytes.len() + 1);
        bytes.truncate(keep.max(bytes.len() / 2));
        check(bytes);
    }
}
