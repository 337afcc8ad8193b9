//! The shape of an API key: `dak_<12 hex id>_<43 base64url secret>`. The id is public (it
//! names the key in lists, logs and usage records); the secret is 256 random bits, stored
//! only as its SHA-256 and compared in constant time.

use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const PREFIX: &str = "dak_";
const ID_HEX: usize = 12;
const SECRET_BYTES: usize = 32;

/// SHA-256 of a key's secret part.
pub type SecretHash = [u8; 32];

/// A presented key split into its id and secret; `None` if it does not have our shape.
pub fn split(key: &str) -> Option<(&str, &str)> {
    let id_end = PREFIX.len() + ID_HEX;
    if !key.starts_with(PREFIX) || key.len() <= id_end + 1 || !key.is_char_boundary(id_end) {
        return None;
    }
    let (id, rest) = key.split_at(id_end);
    let secret = rest.strip_prefix('_')?;
    id[PREFIX.len()..]
        .bytes()
        .all(|b| b.is_ascii_hexdigit())
        .then_some((id, secret))
}

/// Whether `key` looks like one of ours (for headers that carry a key without a scheme).
pub fn looks_like_key(key: &str) -> bool {
    key.starts_with(PREFIX)
}

pub fn hash(secret: &str) -> SecretHash {
    Sha256::digest(secret.as_bytes()).into()
}

/// Constant-time comparison of a presented secret with a stored hash.
pub fn matches(secret: &str, stored: &SecretHash) -> bool {
    hash(secret).ct_eq(stored).into()
}

/// A new random id (`dak_…`).
pub fn new_id() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; ID_HEX / 2];
    getrandom::getrandom(&mut bytes)?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{PREFIX}{hex}"))
}

/// A new random secret for `id`: the whole key to hand out once, and its hash to store.
pub fn new_secret(id: &str) -> Result<(String, SecretHash), getrandom::Error> {
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::getrandom(&mut bytes)?;
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash(&secret);
    Ok((format!("{id}_{secret}"), hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_key_splits_into_its_id_and_matches_its_hash() {
        let id = new_id().unwrap();
        let (key, stored) = new_secret(&id).unwrap();
        assert_eq!(key.len(), 4 + 12 + 1 + 43, "{key}");
        let (got_id, secret) = split(&key).unwrap();
        assert_eq!(got_id, id);
        assert!(matches(secret, &stored));
        assert!(!matches("wrong", &stored));
        assert_ne!(new_id().unwrap(), id, "random ids");
    }

    #[test]
    fn foreign_shapes_do_not_split() {
        for bad in [
            "",
            "dak_",
            "sk-abc",
            "dak_0123456789ab",
            "dak_0123456789ab_",
            "dak_0123456789abXsecret",
            "dak_zz23456789ab_secret",
            "dak_é123456789ab_secret",
        ] {
            assert!(split(bad).is_none(), "{bad}");
        }
        assert_eq!(
            split("dak_0123456789ab_s_e-c"),
            Some(("dak_0123456789ab", "s_e-c"))
        );
    }
}
