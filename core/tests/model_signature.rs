//! Model signatures (hardening v2 item 5): the shipped int8 model signed with the test key in
//! `fixtures/keys`, and what a device that requires a signature gets for tampered bytes,
//! another key and a stripped signature.

use rhythm::model::signature::{self, SigningKey, VerifyingKey, TRAILER_LEN};
use rhythm::model::{Model, ModelError, SignatureError};
use rhythm_testkit::fixtures;

fn test_public_key() -> VerifyingKey {
    let text = std::fs::read_to_string(fixtures().join("keys/test-signing.pub")).unwrap();
    signature::verifying_key_from_hex(&text).unwrap()
}

fn signature_error(r: Result<impl Sized, ModelError>) -> SignatureError {
    match r {
        Err(ModelError::Signature(e)) => e,
        Err(e) => panic!("expected a signature error, got {e}"),
        Ok(_) => panic!("accepted"),
    }
}

#[test]
fn the_shipped_signed_model_is_the_shipped_model_signed_by_the_test_key() {
    let plain = std::fs::read(fixtures().join("models/rhythm-int8.rhm")).unwrap();
    let signed_path = fixtures().join("models/rhythm-int8.signed.rhm");
    let signed = std::fs::read(&signed_path).unwrap();
    // The model's bytes are the shipped file's (re-sign after publishing a new model:
    // `rhythm sign fixtures/models/rhythm-int8.rhm --key <test key> -o … --force`).
    assert_eq!(&signed[..plain.len()], &plain[..]);
    assert_eq!(signed.len(), plain.len() + TRAILER_LEN);
    let key = test_public_key();
    signature::verify(&signed, &key).unwrap();
    assert_eq!(signature::signer(&signed).unwrap(), key);
    let m = Model::open_signed(&signed_path, &key).unwrap();
    m.verify_signature(&key).unwrap();
    // Without a key required, a signed file loads as the plain one.
    let any = Model::open(&signed_path).unwrap();
    let p = Model::from_bytes(&plain).unwrap();
    assert_eq!(any.ops().len(), p.ops().len());
    assert_eq!(any.metadata(), p.metadata());
}

#[test]
fn tampered_stripped_and_foreign_signatures_are_refused() {
    let key = test_public_key();
    let signed = std::fs::read(fixtures().join("models/rhythm-int8.signed.rhm")).unwrap();
    let plain = std::fs::read(fixtures().join("models/rhythm-int8.rhm")).unwrap();
    // Stripped: no trailer.
    assert_eq!(
        signature_error(Model::from_bytes_signed(&plain, &key)),
        SignatureError::Missing
    );
    // A byte of the model changed, checksum resealed so only the signature can tell.
    let mut t = signed.clone();
    t[plain.len() - 1] ^= 0x40;
    rhythm::model::writer::reseal(&mut t[..plain.len()]);
    assert_eq!(
        signature_error(Model::from_bytes_signed(&t, &key)),
        SignatureError::Invalid
    );
    // A byte of the signature changed.
    let mut t = signed.clone();
    *t.last_mut().unwrap() ^= 1;
    assert_eq!(
        signature_error(Model::from_bytes_signed(&t, &key)),
        SignatureError::Invalid
    );
    // Signed by another key: named, and the required key's own check fails.
    let other = SigningKey::from_bytes(&[5u8; 32]);
    let resigned = signature::sign(&signed, &other).unwrap();
    assert_eq!(resigned.len(), signed.len(), "the old trailer is replaced");
    assert!(matches!(
        signature_error(Model::from_bytes_signed(&resigned, &key)),
        SignatureError::WrongKey { .. }
    ));
    Model::from_bytes_signed(&resigned, &other.verifying_key()).unwrap();
    // The trailer cut short, or garbage after the model.
    for cut in [1, TRAILER_LEN - 8, TRAILER_LEN - 1] {
        let t = &signed[..signed.len() - cut];
        assert!(matches!(
            signature_error(Model::from_bytes_signed(t, &key)),
            SignatureError::Malformed(_)
        ));
    }
    // A key's text that is not a key.
    assert!(signature::verifying_key_from_hex("not a key").is_err());
}
