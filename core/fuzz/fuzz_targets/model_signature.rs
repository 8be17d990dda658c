//! Signed models: any bytes through the signature checks (`signer`, `verify`,
//! `Model::from_bytes_signed`) and the key-file parser; then the shipped signed model with the
//! input as its trailer, which must verify only when the input is the shipped trailer itself
//! (anything else verifying would be a forgery or a parser that skips the check).
#![no_main]
use libfuzzer_sys::fuzz_target;
use rhythm::model::signature::{self, TRAILER_LEN};
use rhythm::Model;

const SIGNED: &[u8] = include_bytes!("../../../fixtures/models/rhythm-int8.signed.rhm");
const PUBLIC_KEY: &str = include_str!("../../../fixtures/keys/test-signing.pub");

fuzz_target!(|data: &[u8]| {
    let key = signature::verifying_key_from_hex(PUBLIC_KEY).unwrap();
    let _ = signature::signer(data);
    let _ = Model::from_bytes_signed(data, &key);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = signature::verifying_key_from_hex(text);
    }
    let model = &SIGNED[..SIGNED.len() - TRAILER_LEN];
    let mut spliced = model.to_vec();
    spliced.extend_from_slice(data);
    if signature::verify(&spliced, &key).is_ok() {
        assert_eq!(data, &SIGNED[model.len()..], "a trailer other than the signer's verified");
    }
});
