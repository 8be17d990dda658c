//! [`SignalReader`]: one signal of a record read in chunks, so a 24-hour recording costs a
//! chunk of memory instead of the whole file.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::header::{parse_with_offsets, Header, SignalFormat};
use super::signal::{bytes_needed, sign12, MillivoltScale};
use super::{read_file, with_suffix, WfdbError};

/// Bytes read from the signal file at a time: a multiple of 2 (format 16) and of 3 (212).
const CHUNK_BYTES: usize = 3 * 2 * 8192;

/// One signal of a WFDB record, in millivolts, read from its signal file in chunks.
///
/// Gives the samples [`super::Record::millivolts`] gives for the same signal, bit for bit,
/// with the same checks: the scale when opened, a file too short for the header's sample
/// count ([`WfdbError::Truncated`]) when opened, and the header's checksum for this signal
/// after its last sample ([`WfdbError::Checksum`] from the call that reaches the end). Only
/// the file holding this signal is read (the whole-record reader also checks the others), and
/// the file may be longer than [`super::MAX_SIGNAL_FILE_BYTES`].
#[derive(Debug)]
pub struct SignalReader {
    header: Header,
    signal: usize,
    path: PathBuf,
    file: File,
    format: SignalFormat,
    /// Signals in this file, and this signal's place among them.
    group_len: usize,
    place: usize,
    /// Samples of the interleaved stream still to decode, and the next one's index.
    remaining: u64,
    next: u64,
    scale: MillivoltScale,
    bytes: Vec<u8>,
    checksum: i32,
    delivered: u64,
}

impl SignalReader {
    /// Opens `record_path` (without extension) for signal `signal` (header order).
    pub fn open(record_path: impl AsRef<Path>, signal: usize) -> Result<SignalReader, WfdbError> {
        SignalReader::open_chosen(record_path, |_| Ok::<_, WfdbError>(signal))
    }

    /// Opens `record_path` for the signal `choose` picks from its header: the header is
    /// read once, for the choice and the reading.
    pub(crate) fn open_chosen<E: From<WfdbError>>(
        record_path: impl AsRef<Path>,
        choose: impl FnOnce(&Header) -> Result<usize, E>,
    ) -> Result<SignalReader, E> {
        let record_path = record_path.as_ref();
        let hea = with_suffix(record_path, "hea");
        let bytes = read_file(&hea, super::MAX_HEADER_BYTES, false)?;
        let text = std::str::from_utf8(&bytes).map_err(|e| WfdbError::Header {
            line: 0,
            msg: format!("not UTF-8: {e}"),
        })?;
        let (header, offsets) = parse_with_offsets(text)?;
        let signal = choose(&header)?;
        Ok(SignalReader::with_header(
            record_path,
            header,
            &offsets,
            signal,
        )?)
    }

    fn with_header(
        record_path: &Path,
        header: Header,
        offsets: &[u64],
        signal: usize,
    ) -> Result<SignalReader, WfdbError> {
        let count = header.n_signals;
        let spec = header.signals.get(signal).ok_or(WfdbError::NoSuchSignal {
            index: signal,
            count,
        })?;
        let scale = MillivoltScale::of(spec, signal)?;
        let (file_name, group) = header
            .file_groups()
            .into_iter()
            .find(|(_, idx)| idx.contains(&signal))
            .ok_or(WfdbError::NoSuchSignal {
                index: signal,
                count,
            })?;
        let dir = record_path.parent().unwrap_or(Path::new(""));
        let path = dir.join(&file_name);
        let offset = offsets[group[0]];
        let format = header.signals[group[0]].format;
        let io = |source| WfdbError::Io {
            path: path.clone(),
            source,
        };
        let meta = std::fs::metadata(&path).map_err(io)?;
        if !meta.is_file() {
            return Err(WfdbError::NotRegularFile { path });
        }
        let actual = meta.len();
        let truncated = |expected: u64| WfdbError::Truncated {
            path: path.clone(),
            expected,
            actual,
        };
        if offset > actual {
            return Err(truncated(offset));
        }
        let nsig = group.len() as u64;
        // The interleaved samples to decode: the header's count, or whole frames of the file.
        let total = match header.n_samples {
            Some(n) => {
                let need = bytes_needed(offset, format, group.len(), Some(n))
                    .ok_or_else(|| truncated(u64::MAX))?;
                if need > actual {
                    return Err(truncated(need));
                }
                n * nsig
            }
            None => {
                let avail = actual - offset;
                let whole = match format {
                    SignalFormat::F212 => avail * 2 / 3,
                    SignalFormat::F16 => avail / 2,
                };
                whole - whole % nsig
            }
        };
        let mut file = File::open(&path).map_err(io)?;
        // Skip the byte offset by reading (a FIFO or pipe has no seek).
        std::io::copy(&mut (&mut file).take(offset), &mut std::io::sink()).map_err(io)?;
        let place = group.iter().position(|&i| i == signal).unwrap_or(0);
        Ok(SignalReader {
            signal,
            path,
            file,
            format,
            group_len: group.len(),
            place,
            remaining: total,
            next: 0,
            scale,
            bytes: Vec::with_capacity(CHUNK_BYTES),
            checksum: 0,
            delivered: 0,
            header,
        })
    }

    /// The record's header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The signal read (header order).
    pub fn signal(&self) -> usize {
        self.signal
    }

    /// Samples of this signal the file holds (the header's count, or whole frames of the file).
    pub fn len(&self) -> u64 {
        (self.next + self.remaining) / self.group_len as u64
    }

    /// Whether the signal holds no sample.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Samples delivered so far.
    pub fn position(&self) -> u64 {
        self.delivered
    }

    /// Replaces `out`'s contents with the next samples in mV (a chunk of up to about 16 000 per
    /// signal in the file); an empty `out` means the end. The checksum is verified by the call
    /// that delivers the last sample.
    pub(crate) fn read_mv(&mut self, out: &mut Vec<f32>) -> Result<(), WfdbError> {
        out.clear();
        if self.remaining == 0 {
            return Ok(());
        }
        let want = match self.format {
            SignalFormat::F16 => self.remaining.saturating_mul(2),
            SignalFormat::F212 => self.remaining.saturating_mul(3).div_ceil(2),
        }
        .min(CHUNK_BYTES as u64) as usize;
        self.bytes.clear();
        let got = (&mut self.file)
            .take(want as u64)
            .read_to_end(&mut self.bytes)
            .map_err(|source| WfdbError::Io {
                path: self.path.clone(),
                source,
            })?;
        if got < want {
            // The file shrank after it was opened.
            return Err(WfdbError::Truncated {
                path: self.path.clone(),
                expected: want as u64,
                actual: got as u64,
            });
        }
        let (nsig, place) = (self.group_len as u64, self.place as u64);
        let mut take = |k: u64, v: i32, checksum: &mut i32| {
            if k % nsig == place {
                *checksum = checksum.wrapping_add(v);
                out.push(self.scale.apply(v));
            }
        };
        let mut k = self.next;
        let end = self.next + self.remaining;
        match self.format {
            SignalFormat::F16 => {
                for b in self.bytes.chunks_exact(2) {
                    if k >= end {
                        break;
                    }
                    take(
                        k,
                        i32::from(i16::from_le_bytes([b[0], b[1]])),
                        &mut self.checksum,
                    );
                    k += 1;
                }
            }
            SignalFormat::F212 => {
                for b in self.bytes.chunks(3) {
                    if k >= end {
                        break;
                    }
                    if b.len() >= 2 {
                        let v = sign12(u16::from(b[0]) | (u16::from(b[1]) & 0x0F) << 8);
                        take(k, v, &mut self.checksum);
                        k += 1;
                    }
                    if k < end && b.len() == 3 {
                        let v = sign12(u16::from(b[2]) | (u16::from(b[1]) & 0xF0) << 4);
                        take(k, v, &mut self.checksum);
                        k += 1;
                    }
                }
            }
        }
        self.remaining -= k - self.next;
        self.next = k;
        self.delivered += out.len() as u64;
        if self.remaining == 0 {
            if let Some(expected) = self.header.signals[self.signal].checksum {
                let actual = self.checksum as i16 as i32;
                // Headers may store the sum unsigned; compare mod 65536.
                if (expected - actual) & 0xFFFF != 0 {
                    return Err(WfdbError::Checksum {
                        signal: self.signal,
                        expected,
                        actual,
                    });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wfdb::Record;

    fn record_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rhythm-reader-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn write(dir: &Path, header: &str, adc: Vec<Vec<i32>>) {
        let header = Header::parse(header).unwrap();
        Record::from_parts(header, adc).unwrap().write(dir).unwrap();
    }

    fn read_all(path: &Path, signal: usize) -> Result<Vec<f32>, WfdbError> {
        let mut reader = SignalReader::open(path, signal)?;
        let (mut all, mut chunk) = (Vec::new(), Vec::new());
        loop {
            reader.read_mv(&mut chunk)?;
            if chunk.is_empty() {
                return Ok(all);
            }
            all.extend_from_slice(&chunk);
        }
    }

    #[test]
    fn chunks_equal_the_whole_record_in_every_format_and_signal() {
        let dir = record_dir("formats");
        // Odd sample counts and three signals: 212 pairs cross frames; several chunks.
        let n = 40_001;
        let adc = |k: i32| (0..n).map(|i| ((i * 37 + k * 11) % 4000) - 2000).collect();
        for (name, fmt) in [("r16", 16), ("r212", 212)] {
            let header = format!(
                "{name} 3 250 {n}\n{name}.dat {fmt} 200 12 0 0 0 0 MLII\n\
                 {name}.dat {fmt} 100/uV 12 0 -5 0 0 V1\n{name}.dat {fmt} 50 12 0 3 0 0 V5\n"
            );
            write(&dir, &header, vec![adc(0), adc(1), adc(2)]);
            let path = dir.join(name);
            let whole = Record::read(&path).unwrap();
            for sig in 0..3 {
                let chunked = read_all(&path, sig).unwrap();
                let expected = whole.millivolts(sig).unwrap();
                assert_eq!(chunked.len(), n as usize);
                assert!(chunked
                    .iter()
                    .zip(&expected)
                    .all(|(a, b)| a.to_bits() == b.to_bits()));
            }
            assert_eq!(SignalReader::open(&path, 1).unwrap().len(), n as u64);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_bad_checksum_a_short_file_and_a_missing_signal_are_errors() {
        let dir = record_dir("errors");
        write(
            &dir,
            "r 1 360 1000\nr.dat 16 200 12 0 0 0 0 MLII\n",
            vec![(0..1000).collect()],
        );
        let path = dir.join("r");
        assert!(matches!(
            SignalReader::open(&path, 1),
            Err(WfdbError::NoSuchSignal { index: 1, count: 1 })
        ));
        // A changed sample: every sample is still delivered, then the checksum fails.
        let dat = dir.join("r.dat");
        let mut bytes = std::fs::read(&dat).unwrap();
        bytes[10] ^= 1;
        std::fs::write(&dat, &bytes).unwrap();
        assert!(matches!(
            read_all(&path, 0),
            Err(WfdbError::Checksum { .. })
        ));
        std::fs::write(&dat, &bytes[..1000]).unwrap();
        assert!(matches!(
            SignalReader::open(&path, 0),
            Err(WfdbError::Truncated {
                expected: 2000,
                actual: 1000,
                ..
            })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
