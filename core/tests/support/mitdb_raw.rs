//! TEMPORARY, TEST-ONLY MIT-BIH reader for the spectrogram accuracy measurements.
//!
//! This is deliberately minimal (format 212, two signals, first signal used) and is NOT the
//! project's WFDB reader: `rhythm::wfdb` is being written separately. Delete this file and
//! switch `core/tests/spectrogram_mitdb.rs` to `rhythm::wfdb` once that lands.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// One record: first signal (MLII for the records used) in mV and the annotated beats.
pub struct Record {
    /// First signal, `(adu - zero) / gain`, mV.
    pub signal_mv: Vec<f32>,
    /// Beat annotations: (sample index, MIT annotation code).
    pub beats: Vec<(u64, u8)>,
}

/// MIT-BIH data directory: `$RHYTHM_MITDB_DIR`, else `/work/shared/data/mitdb`, if present.
pub fn data_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("RHYTHM_MITDB_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/shared/data/mitdb"));
    dir.join("100.hea").exists().then_some(dir)
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Reads `<name>.hea/.dat/.atr` from `dir`.
pub fn read_record(dir: &Path, name: &str) -> io::Result<Record> {
    let hea = fs::read_to_string(dir.join(format!("{name}.hea")))?;
    let sig_line = hea
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .nth(1)
        .ok_or_else(|| bad("no signal line".into()))?;
    let f: Vec<&str> = sig_line.split_whitespace().collect();
    if f.len() < 5 || f[1] != "212" {
        return Err(bad(format!("unsupported signal line {sig_line:?}")));
    }
    let gain: f32 = f[2]
        .split(['(', '/'])
        .next()
        .unwrap_or("200")
        .parse()
        .map_err(|e| bad(format!("{e}")))?;
    let zero: i32 = f[4].parse().map_err(|e| bad(format!("{e}")))?;

    let dat = fs::read(dir.join(format!("{name}.dat")))?;
    let sext = |v: i32| if v & 0x800 != 0 { v - 0x1000 } else { v };
    let signal_mv = dat
        .chunks_exact(3)
        .map(|b| {
            let s0 = sext(i32::from(b[0]) | (i32::from(b[1]) & 0x0f) << 8);
            (s0 - zero) as f32 / gain
        })
        .collect();

    let atr = fs::read(dir.join(format!("{name}.atr")))?;
    let word = |i: usize| u16::from_le_bytes([atr[i], atr[i + 1]]);
    let mut beats = Vec::new();
    let (mut t, mut i) = (0i64, 0usize);
    while i + 1 < atr.len() {
        let w = word(i);
        i += 2;
        let (code, val) = ((w >> 10) as u8, i64::from(w & 0x3ff));
        match code {
            0 if val == 0 => break,
            59 => {
                // SKIP: the next two words are an i32 time delta, high word first.
                if i + 3 >= atr.len() {
                    break;
                }
                let d = (u32::from(word(i)) << 16 | u32::from(word(i + 2))) as i32;
                t += i64::from(d);
                i += 4;
            }
            60..=62 => {}
            63 => i += (val as usize + 1) & !1,
            _ => {
                t += val;
                if matches!(code, 1..=13 | 25 | 30 | 34 | 35 | 38 | 41) {
                    beats.push((t as u64, code));
                }
            }
        }
    }
    Ok(Record { signal_mv, beats })
}
