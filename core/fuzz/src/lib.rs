//! What the fuzz targets share: the shipped model, a synthetic ECG, resealing a mutated
//! model file's checksum (else nearly every mutation stops at the CRC check).

use rhythm::model::format::{CRC_START, HEADER_LEN, MAGIC};
use rhythm::Model;
use std::sync::{Arc, OnceLock};

/// The shipped int8 model (the file `rhythm classify` uses by default).
pub const SHIPPED_MODEL: &[u8] = include_bytes!("../../../fixtures/models/rhythm-int8.rhm");

/// The shipped model, parsed once per process.
pub fn shipped_model() -> Arc<Model> {
    static MODEL: OnceLock<Arc<Model>> = OnceLock::new();
    MODEL
        .get_or_init(|| Model::from_bytes(SHIPPED_MODEL).expect("the shipped model loads"))
        .clone()
}

/// `seconds` of an ECG-like signal at `fs` (mV): a narrow QRS every 0.8 s with a T wave.
pub fn synthetic_ecg(fs: f64, seconds: f64) -> Vec<f32> {
    let n = (fs * seconds).max(0.0) as usize;
    (0..n)
        .map(|i| {
            let t = i as f64 / fs;
            let phase = t % 0.8;
            let qrs = (-((phase - 0.3) / 0.012).powi(2)).exp() * 1.2;
            let tw = (-((phase - 0.55) / 0.05).powi(2)).exp() * 0.3;
            (qrs + tw) as f32
        })
        .collect()
}

/// A copy of `data` whose header's file length is its length and whose CRC is right, so
/// that a mutated model reaches the parser behind the checksum (a hostile user reseals the
/// CRC too). Input that is not a model header comes back unchanged.
pub fn resealed(data: &[u8]) -> Vec<u8> {
    let mut b = data.to_vec();
    if b.len() >= HEADER_LEN && b[..8] == MAGIC {
        let len = b.len() as u64;
        b[16..24].copy_from_slice(&len.to_le_bytes());
        let crc = crc32fast::hash(&b[CRC_START..]);
        b[24..28].copy_from_slice(&crc.to_le_bytes());
    }
    b
}

/// Bytes read from the front of the fuzz input, zeros once it runs out.
pub struct Bytes<'a>(pub &'a [u8]);

impl Bytes<'_> {
    pub fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    pub fn f32(&mut self) -> f32 {
        f32::from_bits(self.u32())
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// A sample: mostly an ordinary value, sometimes NaN, ±∞, a huge or tiny one.
    pub fn sample(&mut self, ordinary: f32) -> f32 {
        match self.u8() {
            0 => f32::NAN,
            1 => f32::INFINITY,
            2 => f32::NEG_INFINITY,
            3 => f32::MAX,
            4 => -1.0e6,
            5 => self.f32(),
            _ => ordinary,
        }
    }
}
