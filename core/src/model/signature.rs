//! Model authenticity: an Ed25519 signature (ed25519-dalek) in a trailer after the model's
//! bytes. The CRC catches accidents; a signature catches a tampered file, when the device
//! requires one from a key it trusts ([`Model::open_signed`], the CLI's `--public-key`, C's
//! `RhythmEngineOptions.public_key`).
//!
//! The trailer (`docs/model-format.md`, "Signature") follows the `file_len` bytes the header
//! declares, so a reader that requires no signature loads a signed file unchanged, and the
//! bytes signed are exactly the model's: `TRAILER_MAGIC` (its last byte the trailer's
//! version), the signer's 32-byte public key, the 64-byte signature of the model's bytes.

use super::access::Model;
use super::error::{ModelError, SignatureError};
use super::read::read_header;
use ed25519_dalek::{Signature, Signer};
use std::path::Path;
use std::sync::Arc;

pub use ed25519_dalek::{SigningKey, VerifyingKey};

/// The trailer's first 8 bytes; the last is its version (1).
pub const TRAILER_MAGIC: [u8; 8] = *b"RHYSIG\0\x01";
/// Bytes of the trailer: magic, public key, signature.
pub const TRAILER_LEN: usize = 8 + 32 + 64;

/// The model's bytes (the `file_len` the header declares) and what follows them.
fn split(bytes: &[u8]) -> Result<(&[u8], &[u8]), ModelError> {
    let header = read_header(bytes)?;
    Ok(bytes.split_at(header.file_len))
}

/// `bytes` (a model file, signed or not) signed by `key`: the model's bytes and a new
/// trailer (a previous signature is replaced). The model is checked to be a model first.
pub fn sign(bytes: &[u8], key: &SigningKey) -> Result<Vec<u8>, ModelError> {
    Model::from_bytes(bytes)?;
    let (model, _) = split(bytes)?;
    let signature = key.sign(model);
    let mut out = Vec::with_capacity(model.len() + TRAILER_LEN);
    out.extend_from_slice(model);
    out.extend_from_slice(&TRAILER_MAGIC);
    out.extend_from_slice(key.verifying_key().as_bytes());
    out.extend_from_slice(&signature.to_bytes());
    Ok(out)
}

/// The public key that signed `bytes`, if they carry a well-formed trailer.
pub fn signer(bytes: &[u8]) -> Result<VerifyingKey, ModelError> {
    let (_, trailer) = split(bytes)?;
    Ok(parse_trailer(trailer)?.0)
}

fn parse_trailer(trailer: &[u8]) -> Result<(VerifyingKey, Signature), SignatureError> {
    if trailer.is_empty() {
        return Err(SignatureError::Missing);
    }
    if trailer.len() < 8 || trailer[..7] != TRAILER_MAGIC[..7] {
        return Err(SignatureError::Malformed(
            "no signature magic after the model",
        ));
    }
    if trailer[7] != TRAILER_MAGIC[7] {
        return Err(SignatureError::Malformed(
            "a signature version this build does not read",
        ));
    }
    if trailer.len() != TRAILER_LEN {
        return Err(SignatureError::Malformed("not 104 bytes"));
    }
    let (mut key, mut signature) = ([0u8; 32], [0u8; 64]);
    key.copy_from_slice(&trailer[8..40]);
    signature.copy_from_slice(&trailer[40..]);
    let key = VerifyingKey::from_bytes(&key)
        .map_err(|_| SignatureError::Malformed("the signer's key is not an Ed25519 point"))?;
    Ok((key, Signature::from_bytes(&signature)))
}

/// Checks that `bytes` carry a valid signature of the model's bytes by `required`.
pub fn verify(bytes: &[u8], required: &VerifyingKey) -> Result<(), ModelError> {
    let (model, trailer) = split(bytes)?;
    let (found, signature) = parse_trailer(trailer)?;
    if found != *required {
        return Err(SignatureError::WrongKey {
            found: to_hex(found.as_bytes()),
            required: to_hex(required.as_bytes()),
        }
        .into());
    }
    required
        .verify_strict(model, &signature)
        .map_err(|_| SignatureError::Invalid.into())
}

/// 32 bytes as 64 lowercase hex digits (the key files' text).
pub fn to_hex(bytes: &[u8; 32]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 64 hex digits (surrounding white space ignored), as key files hold them.
pub fn key_bytes_from_hex(text: &str) -> Result<[u8; 32], SignatureError> {
    let t = text.trim();
    let bad = || {
        SignatureError::BadKey(format!(
            "expected 64 hex digits, got {} characters",
            t.len()
        ))
    };
    if t.len() != 64 || !t.is_ascii() {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&t[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(out)
}

/// A public key from its hex text.
pub fn verifying_key_from_hex(text: &str) -> Result<VerifyingKey, SignatureError> {
    VerifyingKey::from_bytes(&key_bytes_from_hex(text)?)
        .map_err(|_| SignatureError::BadKey("not an Ed25519 point".into()))
}

impl Model {
    /// As [`Model::open`], but only a model signed by `required` loads: the signature is
    /// checked before the model is parsed.
    pub fn open_signed(
        path: impl AsRef<Path>,
        required: &VerifyingKey,
    ) -> Result<Arc<Model>, ModelError> {
        let storage = Model::map(path.as_ref())?;
        verify(storage.bytes(), required)?;
        Model::from_storage(storage).map(Arc::new)
    }

    /// As [`Model::from_bytes`], but only a model signed by `required` loads.
    pub fn from_bytes_signed(
        bytes: &[u8],
        required: &VerifyingKey,
    ) -> Result<Arc<Model>, ModelError> {
        verify(bytes, required)?;
        Model::from_bytes(bytes)
    }

    /// Checks this model's file for a valid signature by `required` (the bytes it was
    /// loaded from, trailer included).
    pub fn verify_signature(&self, required: &VerifyingKey) -> Result<(), ModelError> {
        verify(self.storage.bytes(), required)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_keys_round_trip_and_bad_text_is_an_error() {
        let k = [7u8; 32];
        assert_eq!(
            key_bytes_from_hex(&format!(" {}\n", to_hex(&k))).unwrap(),
            k
        );
        for bad in ["", "00", &"g".repeat(64), &"0".repeat(63)] {
            assert!(
                matches!(key_bytes_from_hex(bad), Err(SignatureError::BadKey(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn trailers_that_are_not_signatures_are_named() {
        assert_eq!(parse_trailer(&[]).unwrap_err(), SignatureError::Missing);
        assert!(matches!(
            parse_trailer(b"garbage!"),
            Err(SignatureError::Malformed(_))
        ));
        let mut t = vec![0u8; TRAILER_LEN];
        t[..8].copy_from_slice(&TRAILER_MAGIC);
        t[7] = 2;
        assert_eq!(
            parse_trailer(&t).unwrap_err(),
            SignatureError::Malformed("a signature version this build does not read")
        );
        t[7] = 1;
        t.push(0);
        assert_eq!(
            parse_trailer(&t).unwrap_err(),
            SignatureError::Malformed("not 104 bytes")
        );
    }
}
