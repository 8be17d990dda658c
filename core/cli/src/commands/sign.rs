//! `rhythm keygen`, `rhythm sign`, `rhythm verify`: Ed25519 signatures of model files
//! (`rhythm::model::signature`), so that a device runs only models from a key it trusts
//! (`--public-key` on the commands that run a model; C `RhythmEngineOptions.public_key`).

use crate::output::{outln, Failure, Out};
use rhythm::model::signature::{self, SigningKey, VerifyingKey};
use std::path::Path;

/// Reads a key file: 64 hex digits.
fn key_bytes(path: &Path) -> Result<[u8; 32], Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    signature::key_bytes_from_hex(&text).map_err(|e| format!("{}: {e}", path.display()).into())
}

/// The public key in a key file.
pub fn public_key(path: &Path) -> Result<VerifyingKey, Failure> {
    VerifyingKey::from_bytes(&key_bytes(path)?)
        .map_err(|_| format!("{}: not an Ed25519 public key", path.display()).into())
}

/// A new key pair from the operating system's randomness: `NAME.key` (secret, mode 0600)
/// and `NAME.pub` in `dir`. Never replaces a key.
pub fn keygen(dir: &Path, name: &str, out: &mut Out) -> Result<(), Failure> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| format!("no randomness for a key: {e}"))?;
    let key = SigningKey::from_bytes(&seed);
    rhythm::output::create_folder(dir)?;
    let secret = dir.join(format!("{name}.key"));
    let public = dir.join(format!("{name}.pub"));
    for p in [&secret, &public] {
        if p.exists() || p.is_symlink() {
            return Err(
                format!("{} exists; rhythm keygen never replaces a key", p.display()).into(),
            );
        }
    }
    let text = |b: &[u8; 32]| format!("{}\n", signature::to_hex(b));
    rhythm::output::write_file(&secret, text(&key.to_bytes()).as_bytes(), false)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("{}: {e}", secret.display()))?;
    }
    rhythm::output::write_file(
        &public,
        text(key.verifying_key().as_bytes()).as_bytes(),
        false,
    )?;
    outln!(
        out,
        "wrote {} (secret: keep it off devices) and {}",
        secret.display(),
        public.display()
    );
    Ok(())
}

/// Writes `model` signed by the secret key in `key` to `out_path`.
pub fn sign(
    model: &Path,
    key: &Path,
    out_path: &Path,
    force: bool,
    out: &mut Out,
) -> Result<(), Failure> {
    let bytes = std::fs::read(model).map_err(|e| format!("{}: {e}", model.display()))?;
    let key = SigningKey::from_bytes(&key_bytes(key)?);
    let signed = signature::sign(&bytes, &key).map_err(|e| format!("{}: {e}", model.display()))?;
    rhythm::output::write_file(out_path, &signed, force)?;
    outln!(
        out,
        "wrote {} signed by {}",
        out_path.display(),
        signature::to_hex(key.verifying_key().as_bytes())
    );
    Ok(())
}

/// Checks that `model` is signed by the public key in `key` (exit status 1 if not).
pub fn verify(model: &Path, key: &Path, out: &mut Out) -> Result<(), Failure> {
    let required = public_key(key)?;
    let bytes = std::fs::read(model).map_err(|e| format!("{}: {e}", model.display()))?;
    signature::verify(&bytes, &required).map_err(|e| format!("{}: {e}", model.display()))?;
    outln!(
        out,
        "{}: signature OK (key {})",
        model.display(),
        signature::to_hex(required.as_bytes())
    );
    Ok(())
}
