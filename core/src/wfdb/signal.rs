//! Signal files (`.dat`): decoding and encoding formats 212 and 16, and [`Record`].

use std::path::Path;

use super::header::{parse_with_offsets, Header, SignalFormat};
use super::{read_file, with_suffix, WfdbError};

/// A record: its header and every signal's samples in raw ADC units.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The parsed header.
    pub header: Header,
    /// Samples per signal, in header order, raw ADC units.
    pub adc: Vec<Vec<i32>>,
}

impl Record {
    /// Read `NAME.hea` and its signal files; `record_path` has no extension,
    /// e.g. `.../mitdb/100`. Checksums given in the header are verified.
    pub fn read(record_path: impl AsRef<Path>) -> Result<Record, WfdbError> {
        let record_path = record_path.as_ref();
        let hea = with_suffix(record_path, "hea");
        let bytes = read_file(&hea, super::MAX_HEADER_BYTES, false)?;
        let dir = record_path.parent().unwrap_or(Path::new(""));
        Record::from_bytes(&bytes, dir, read_file)
    }

    /// [`Record::read`] without the file system: `header` is the `.hea` file's bytes and
    /// `signal_file(path, max_bytes, exact)` returns the bytes of a signal file the header
    /// names (`path` is `dir` joined with the name), at most `max_bytes` of them, and
    /// exactly that many if `exact` (else an error). For records held in memory, and the
    /// fuzz targets.
    pub fn from_bytes(
        header: &[u8],
        dir: &Path,
        mut signal_file: impl FnMut(&Path, u64, bool) -> Result<Vec<u8>, WfdbError>,
    ) -> Result<Record, WfdbError> {
        if header.len() as u64 > super::MAX_HEADER_BYTES {
            return Err(WfdbError::Header {
                line: 0,
                msg: format!("longer than the {} bytes accepted", super::MAX_HEADER_BYTES),
            });
        }
        let text = std::str::from_utf8(header).map_err(|e| WfdbError::Header {
            line: 0,
            msg: format!("not UTF-8: {e}"),
        })?;
        let (header, offsets) = parse_with_offsets(text)?;

        let mut adc = vec![Vec::new(); header.n_signals];
        for (file, idx) in header.file_groups() {
            let path = dir.join(&file);
            // WFDB takes a file's byte offset from the first signal stored in it.
            let offset = offsets[idx[0]];
            let format = header.signals[idx[0]].format;
            // Only the bytes the header's sample count needs (a sparse or endless file
            // costs nothing more); without a count, the whole file up to the cap.
            let max = super::MAX_SIGNAL_FILE_BYTES;
            let data = match (
                header.n_samples,
                bytes_needed(offset, format, idx.len(), header.n_samples),
            ) {
                (None, _) => signal_file(&path, max, false)?,
                (Some(_), Some(need)) if need <= max => signal_file(&path, need, true)?,
                (Some(_), _) => return Err(WfdbError::TooLarge { path, limit: max }),
            };
            let signals = decode_group(&data, offset, format, idx.len(), header.n_samples, &path)?;
            for (i, samples) in idx.into_iter().zip(signals) {
                adc[i] = samples;
            }
        }
        // Without a sample count each file's length decides; they must agree.
        if adc.windows(2).any(|w| w[0].len() != w[1].len()) {
            return Err(WfdbError::InvalidRecord(
                "signal files hold different numbers of samples".into(),
            ));
        }
        for (i, (spec, samples)) in header.signals.iter().zip(&adc).enumerate() {
            if let Some(expected) = spec.checksum {
                let actual = checksum(samples);
                // Headers may store the sum unsigned; compare mod 65536.
                if (expected - actual) & 0xFFFF != 0 {
                    return Err(WfdbError::Checksum {
                        signal: i,
                        expected,
                        actual,
                    });
                }
            }
        }
        Ok(Record { header, adc })
    }

    /// Build a record from a header and samples, checking that they agree
    /// (signal count, equal lengths, `n_samples` if given, one format per file).
    pub fn from_parts(header: Header, adc: Vec<Vec<i32>>) -> Result<Record, WfdbError> {
        header.check().map_err(WfdbError::InvalidRecord)?;
        if adc.len() != header.n_signals {
            return Err(WfdbError::InvalidRecord(format!(
                "header has {} signals but {} sample vectors given",
                header.n_signals,
                adc.len()
            )));
        }
        if adc.windows(2).any(|w| w[0].len() != w[1].len()) {
            return Err(WfdbError::InvalidRecord(
                "signals have different lengths".into(),
            ));
        }
        if let (Some(n), Some(first)) = (header.n_samples, adc.first()) {
            if n != first.len() as u64 {
                return Err(WfdbError::InvalidRecord(format!(
                    "header says {n} samples but signals have {}",
                    first.len()
                )));
            }
        }
        Ok(Record { header, adc })
    }

    /// Sampling frequency in Hz.
    pub fn fs(&self) -> f64 {
        self.header.fs
    }

    /// Samples per signal.
    pub fn len(&self) -> usize {
        self.adc.first().map_or(0, Vec::len)
    }

    /// True when the record holds no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Index of the first signal whose description is `name` (e.g. "MLII").
    /// Leads must be chosen by name: record 114 stores MLII second.
    pub fn signal_index(&self, name: &str) -> Option<usize> {
        self.header
            .signals
            .iter()
            .position(|s| s.description == name)
    }

    /// Signal `sig` in physical units (mV for ECG): `(adc - baseline) / gain`.
    pub fn physical(&self, sig: usize) -> Result<Vec<f32>, WfdbError> {
        let count = self.adc.len();
        let (spec, samples) = self
            .header
            .signals
            .get(sig)
            .zip(self.adc.get(sig))
            .ok_or(WfdbError::NoSuchSignal { index: sig, count })?;
        let base = f64::from(spec.baseline);
        Ok(samples
            .iter()
            .map(|&v| ((f64::from(v) - base) / spec.gain) as f32)
            .collect())
    }

    /// Signal `sig` in millivolts: [`Record::physical`] scaled by the header's units (mV, µV,
    /// V), after checking the scale ([`super::check_adc_scale`]): a gain, baseline or unit
    /// that cannot be ECG is a [`WfdbError::Scale`], not a record whose beats all vanish.
    pub fn millivolts(&self, sig: usize) -> Result<Vec<f32>, WfdbError> {
        let spec = self
            .header
            .signals
            .get(sig)
            .ok_or(WfdbError::NoSuchSignal {
                index: sig,
                count: self.adc.len(),
            })?;
        let scale = MillivoltScale::of(spec, sig)?;
        let samples = &self.adc[sig];
        Ok(samples.iter().map(|&v| scale.apply(v)).collect())
    }

    /// Write `NAME.hea` and the signal files into `dir` (created if missing).
    ///
    /// As WFDB's writers do, the header written carries the actual sample count,
    /// checksums and initial values, which may differ from `self.header`.
    pub fn write(&self, dir: &Path) -> Result<(), WfdbError> {
        let mut header = self.header.clone();
        header.check().map_err(WfdbError::InvalidRecord)?;
        header.n_samples = Some(self.len() as u64);
        for (i, (spec, samples)) in header.signals.iter_mut().zip(&self.adc).enumerate() {
            let (lo, hi) = spec.format.range();
            if let Some(&value) = samples.iter().find(|&&v| v < lo || v > hi) {
                return Err(WfdbError::OutOfRange {
                    signal: i,
                    value,
                    format: spec.format.code(),
                });
            }
            spec.checksum = Some(checksum(samples));
            spec.initial_value = samples.first().copied().unwrap_or(spec.adc_zero);
        }
        std::fs::create_dir_all(dir).map_err(|source| WfdbError::Io {
            path: dir.to_owned(),
            source,
        })?;
        for (file, idx) in header.file_groups() {
            let format = header.signals[idx[0]].format;
            let signals: Vec<&[i32]> = idx.iter().map(|&i| self.adc[i].as_slice()).collect();
            write_bytes(&dir.join(&file), &encode_group(&signals, format))?;
        }
        let hea = with_suffix(&dir.join(&header.record), "hea");
        write_bytes(&hea, header.to_text().as_bytes())
    }
}

/// ADC units to millivolts for one signal, checked once ([`super::check_adc_scale`]): the one
/// conversion the whole-record reader and [`super::SignalReader`] share.
#[derive(Debug, Clone, Copy)]
pub(super) struct MillivoltScale {
    baseline: f64,
    gain: f64,
    /// mV per header unit (1 for mV), applied after the physical value as f32.
    per_unit: Option<f32>,
}

impl MillivoltScale {
    pub(super) fn of(spec: &super::SignalSpec, sig: usize) -> Result<MillivoltScale, WfdbError> {
        let scale = |why: String| WfdbError::Scale { signal: sig, why };
        let per_unit = super::millivolts_per_unit(&spec.units).ok_or_else(|| {
            scale(format!(
                "units {:?} are not a voltage (mV, uV or V)",
                spec.units
            ))
        })?;
        super::check_adc_scale(spec.gain / per_unit, i64::from(spec.baseline)).map_err(scale)?;
        Ok(MillivoltScale {
            baseline: f64::from(spec.baseline),
            gain: spec.gain,
            per_unit: (per_unit != 1.0).then_some(per_unit as f32),
        })
    }

    /// `(adc − baseline) / gain` as [`Record::physical`] computes it, in mV.
    pub(super) fn apply(&self, adc: i32) -> f32 {
        let physical = ((f64::from(adc) - self.baseline) / self.gain) as f32;
        match self.per_unit {
            Some(k) => physical * k,
            None => physical,
        }
    }
}

fn write_bytes(path: &Path, bytes: &[u8]) -> Result<(), WfdbError> {
    std::fs::write(path, bytes).map_err(|source| WfdbError::Io {
        path: path.to_owned(),
        source,
    })
}

/// WFDB signal checksum: the sum of the samples mod 65536, as a signed 16-bit value.
pub(super) fn checksum(samples: &[i32]) -> i32 {
    samples.iter().fold(0i32, |acc, &v| acc.wrapping_add(v)) as i16 as i32
}

/// Decode the `nsig` interleaved signals of one file. `n_samples` (per signal)
/// comes from the header; when absent, the file length decides.
/// Bytes a signal file must hold for `n_samples` frames of `nsig` signals after `offset`;
/// `None` without a sample count or when the count overflows.
pub(super) fn bytes_needed(
    offset: u64,
    format: SignalFormat,
    nsig: usize,
    n_samples: Option<u64>,
) -> Option<u64> {
    let total = n_samples?.checked_mul(nsig as u64)?;
    match format {
        SignalFormat::F212 => total.checked_mul(3).map(|b| b.div_ceil(2)),
        SignalFormat::F16 => total.checked_mul(2),
    }?
    .checked_add(offset)
}

fn decode_group(
    data: &[u8],
    offset: u64,
    format: SignalFormat,
    nsig: usize,
    n_samples: Option<u64>,
    path: &Path,
) -> Result<Vec<Vec<i32>>, WfdbError> {
    let actual = data.len() as u64;
    let truncated = |expected: u64| WfdbError::Truncated {
        path: path.to_owned(),
        expected,
        actual,
    };
    let start = usize::try_from(offset)
        .ok()
        .filter(|&o| o <= data.len())
        .ok_or_else(|| truncated(offset))?;
    let body = &data[start..];
    let avail = body.len() as u64;
    // Total samples in the interleaved stream, capped by what the file holds, so a
    // header claiming billions of samples fails before any allocation.
    let total = match n_samples {
        Some(n) => {
            let need =
                bytes_needed(offset, format, nsig, Some(n)).ok_or_else(|| truncated(u64::MAX))?;
            if need > actual {
                return Err(truncated(need));
            }
            // `need` did not overflow, so neither does this.
            n * nsig as u64
        }
        None => {
            let whole = match format {
                SignalFormat::F212 => avail * 2 / 3,
                SignalFormat::F16 => avail / 2,
            };
            whole - whole % nsig as u64
        }
    };
    // `total` is bounded by the file length, so it fits in usize.
    let total = total as usize;
    let frames = total.checked_div(nsig).unwrap_or(0);
    let mut out: Vec<Vec<i32>> = (0..nsig).map(|_| Vec::with_capacity(frames)).collect();
    let mut push = |k: usize, v: i32| out[k % nsig].push(v);
    match format {
        SignalFormat::F16 => {
            for (k, b) in body.chunks_exact(2).take(total).enumerate() {
                push(k, i32::from(i16::from_le_bytes([b[0], b[1]])));
            }
        }
        SignalFormat::F212 => {
            let mut k = 0;
            for b in body.chunks(3) {
                if k >= total {
                    break;
                }
                if b.len() >= 2 {
                    push(k, sign12(u16::from(b[0]) | (u16::from(b[1]) & 0x0F) << 8));
                    k += 1;
                }
                if k < total && b.len() == 3 {
                    push(k, sign12(u16::from(b[2]) | (u16::from(b[1]) & 0xF0) << 4));
                    k += 1;
                }
            }
        }
    }
    Ok(out)
}

/// Sign-extend a 12-bit two's-complement value.
pub(super) fn sign12(v: u16) -> i32 {
    i32::from(((v << 4) as i16) >> 4)
}

/// Encode signals (equal lengths, values already range-checked) frame-interleaved.
fn encode_group(signals: &[&[i32]], format: SignalFormat) -> Vec<u8> {
    let frames = signals.first().map_or(0, |s| s.len());
    let stream = (0..frames).flat_map(|f| signals.iter().map(move |s| s[f]));
    match format {
        SignalFormat::F16 => stream.flat_map(|v| (v as i16).to_le_bytes()).collect(),
        SignalFormat::F212 => {
            let values: Vec<u16> = stream.map(|v| (v as u16) & 0x0FFF).collect();
            let mut out = Vec::with_capacity(values.len() * 3 / 2 + 2);
            for pair in values.chunks(2) {
                out.push(pair[0] as u8);
                let hi1 = pair.get(1).map_or(0, |&s| (s >> 8) << 4);
                out.push(((pair[0] >> 8) | hi1) as u8);
                // An odd final sample takes 2 bytes, as WFDB's own writer does.
                if let Some(&s) = pair.get(1) {
                    out.push(s as u8);
                }
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_212_bit_layout() {
        // Samples 0x123 and -1 (0xFFF): byte0 = 0x23, byte1 = 0xF1, byte2 = 0xFF.
        let bytes = encode_group(&[&[0x123, -1]], SignalFormat::F212);
        assert_eq!(bytes, vec![0x23, 0xF1, 0xFF]);
        let back = decode_group(&bytes, 0, SignalFormat::F212, 1, Some(2), Path::new("x")).unwrap();
        assert_eq!(back, vec![vec![0x123, -1]]);
        let bytes = encode_group(&[&[-2048, 2047, 5]], SignalFormat::F212);
        assert_eq!(bytes.len(), 5);
        let back = decode_group(&bytes, 0, SignalFormat::F212, 1, Some(3), Path::new("x")).unwrap();
        assert_eq!(back, vec![vec![-2048, 2047, 5]]);
    }

    #[test]
    fn interleaving_and_offset() {
        let bytes = encode_group(&[&[1, 2, 3], &[-1, -2, -3]], SignalFormat::F16);
        let mut with_offset = vec![9u8; 4];
        with_offset.extend_from_slice(&bytes);
        let back =
            decode_group(&with_offset, 4, SignalFormat::F16, 2, None, Path::new("x")).unwrap();
        assert_eq!(back, vec![vec![1, 2, 3], vec![-1, -2, -3]]);
        let err =
            decode_group(&bytes, 0, SignalFormat::F16, 2, Some(4), Path::new("x")).unwrap_err();
        assert!(matches!(
            err,
            WfdbError::Truncated {
                expected: 16,
                actual: 12,
                ..
            }
        ));
        let err =
            decode_group(&bytes, 100, SignalFormat::F16, 2, None, Path::new("x")).unwrap_err();
        assert!(matches!(err, WfdbError::Truncated { .. }));
        let err = decode_group(
            &bytes,
            0,
            SignalFormat::F212,
            2,
            Some(u64::MAX),
            Path::new("x"),
        )
        .unwrap_err();
        assert!(matches!(err, WfdbError::Truncated { .. }));
    }

    #[test]
    fn checksum_wraps_to_i16() {
        assert_eq!(checksum(&[30000, 30000]), (60000u16 as i16) as i32);
        assert_eq!(checksum(&[-5, 2]), -3);
    }
}
