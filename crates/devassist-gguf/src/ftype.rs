//! Number formats as Ollama prints them: the quantization level from `general.file_type`
//! (llama.cpp's `llama_ftype`), the parameter size, and the storage size of ggml tensor types.

/// The quantization level for a `general.file_type` value, spelled as Ollama's
/// `details.quantization_level` (`Q4_1`, `Q4_K_M`, ...). `None` for unknown values.
pub fn file_type_name(file_type: u64) -> Option<&'static str> {
    Some(match file_type {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K",
        11 => "Q3_K_S",
        12 => "Q3_K_M",
        13 => "Q3_K_L",
        14 => "Q4_K_S",
        15 => "Q4_K_M",
        16 => "Q5_K_S",
        17 => "Q5_K_M",
        18 => "Q6_K",
        19 => "IQ2_XXS",
        20 => "IQ2_XS",
        21 => "Q2_K_S",
        22 => "IQ3_XS",
        23 => "IQ3_XXS",
        24 => "IQ1_S",
        25 => "IQ4_NL",
        26 => "IQ3_S",
        27 => "IQ3_M",
        28 => "IQ2_S",
        29 => "IQ2_M",
        30 => "IQ4_XS",
        31 => "IQ1_M",
        32 => "BF16",
        36 => "TQ1_0",
        37 => "TQ2_0",
        38 => "MXFP4",
        _ => return None,
    })
}

/// A parameter count as Ollama's `format.HumanNumber` prints it: `134.52M`, `7.6B`, `8B`.
pub fn human_parameter_count(n: u64) -> String {
    const BILLION: f64 = 1e9;
    const MILLION: f64 = 1e6;
    const THOUSAND: f64 = 1e3;
    // Parameter counts are far below 2^53, so the conversion is exact.
    #[expect(
        clippy::cast_precision_loss,
        reason = "parameter counts are far below 2^53"
    )]
    let f = n as f64;
    if f >= BILLION {
        let v = f / BILLION;
        if v == v.floor() {
            format!("{v:.0}B")
        } else {
            format!("{v:.1}B")
        }
    } else if f >= MILLION {
        let v = f / MILLION;
        if v == v.floor() {
            format!("{v:.0}M")
        } else {
            format!("{v:.2}M")
        }
    } else if f >= THOUSAND {
        format!("{:.0}K", f / THOUSAND)
    } else {
        n.to_string()
    }
}

/// `(elements per block, bytes per block)` for the ggml tensor types whose layout is stable;
/// `None` for the rest, which the truncation check then skips.
pub(crate) fn ggml_type_size(ggml_type: u32) -> Option<(u64, u64)> {
    Some(match ggml_type {
        0 => (1, 4),      // F32
        1 => (1, 2),      // F16
        2 => (32, 18),    // Q4_0
        3 => (32, 20),    // Q4_1
        6 => (32, 22),    // Q5_0
        7 => (32, 24),    // Q5_1
        8 => (32, 34),    // Q8_0
        10 => (256, 84),  // Q2_K
        11 => (256, 110), // Q3_K
        12 => (256, 144), // Q4_K
        13 => (256, 176), // Q5_K
        14 => (256, 210), // Q6_K
        20 => (32, 18),   // IQ4_NL
        23 => (256, 136), // IQ4_XS
        24 => (1, 1),     // I8
        25 => (1, 2),     // I16
        26 => (1, 4),     // I32
        27 => (1, 8),     // I64
        28 => (1, 8),     // F64
        30 => (1, 2),     // BF16
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_numbers_match_ollama() {
        assert_eq!(human_parameter_count(134_515_008), "134.52M");
        assert_eq!(human_parameter_count(7_615_616_512), "7.6B");
        assert_eq!(human_parameter_count(8_000_000_000), "8B");
        assert_eq!(human_parameter_count(22_000_000), "22M");
        assert_eq!(human_parameter_count(1_500), "2K");
        assert_eq!(human_parameter_count(999), "999");
    }

    #[test]
    fn file_types_are_spelled_like_ollama() {
        assert_eq!(file_type_name(3), Some("Q4_1"));
        assert_eq!(file_type_name(15), Some("Q4_K_M"));
        assert_eq!(file_type_name(1), Some("F16"));
        assert_eq!(file_type_name(5), None);
    }
}
