//! `.hea` header files: parsing, validation and writing.

use std::fmt::Write as _;
use std::path::Path;

use super::WfdbError;

/// Gain WFDB assumes when a header gives gain 0 (uncalibrated), in adu per mV.
const DEFAULT_GAIN: f64 = 200.0;
/// Sampling frequency WFDB assumes when the record line omits it.
const DEFAULT_FS: f64 = 250.0;

/// Storage format of a signal in its `.dat` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignalFormat {
    /// Two 12-bit two's-complement samples packed in 3 bytes.
    F212,
    /// Little-endian 16-bit two's-complement samples.
    F16,
}

impl SignalFormat {
    /// Format for a WFDB format code; other codes give [`WfdbError::UnsupportedFormat`].
    pub(crate) fn from_code(code: u32) -> Result<SignalFormat, WfdbError> {
        match code {
            212 => Ok(SignalFormat::F212),
            16 => Ok(SignalFormat::F16),
            other => Err(WfdbError::UnsupportedFormat(other)),
        }
    }

    /// The WFDB format code (212 or 16).
    pub fn code(self) -> u32 {
        match self {
            SignalFormat::F212 => 212,
            SignalFormat::F16 => 16,
        }
    }

    /// Smallest and largest ADC value the format can store.
    pub fn range(self) -> (i32, i32) {
        match self {
            SignalFormat::F212 => (-2048, 2047),
            SignalFormat::F16 => (i16::MIN as i32, i16::MAX as i32),
        }
    }

    /// Default ADC resolution in bits when the header omits it.
    fn default_adc_resolution(self) -> u32 {
        match self {
            SignalFormat::F212 => 12,
            SignalFormat::F16 => 16,
        }
    }
}

/// One signal line of a header.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalSpec {
    /// Name of the `.dat` file holding the samples, relative to the header's folder.
    pub file_name: String,
    /// Storage format.
    pub format: SignalFormat,
    /// ADC units per physical unit; a header gain of 0 becomes 200.0 with `uncalibrated`.
    pub gain: f64,
    /// True when the header gives gain 0 (or none): physical values are nominal.
    pub uncalibrated: bool,
    /// ADC value of physical zero; defaults to `adc_zero`.
    pub baseline: i32,
    /// Physical units, e.g. "mV" (the WFDB default).
    pub units: String,
    /// ADC resolution in bits.
    pub adc_resolution: u32,
    /// ADC value at the middle of the ADC range.
    pub adc_zero: i32,
    /// First sample value.
    pub initial_value: i32,
    /// Sum of all samples mod 65536 as i16, when the header gives it.
    pub checksum: Option<i32>,
    /// Block size in bytes (0: not a block device).
    pub block_size: u32,
    /// Signal description; for ECG the lead name, e.g. "MLII".
    pub description: String,
}

/// A parsed single-segment record header.
///
/// Base time, base date and counter frequency are validated loosely and dropped:
/// nothing downstream uses them.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// Record name, e.g. "100".
    pub record: String,
    /// Number of signals (equals `signals.len()`).
    pub n_signals: usize,
    /// Sampling frequency in Hz (per signal).
    pub fs: f64,
    /// Samples per signal, when the header gives it.
    pub n_samples: Option<u64>,
    /// One entry per signal, in header order.
    pub signals: Vec<SignalSpec>,
    /// Comment lines, without the leading `#` and one following space.
    pub comments: Vec<String>,
}

impl Header {
    /// Parse header text (CRLF or LF line endings).
    pub fn parse(text: &str) -> Result<Header, WfdbError> {
        parse_with_offsets(text).map(|(h, _)| h)
    }

    /// Read and parse a `.hea` file.
    pub fn read(path: &Path) -> Result<Header, WfdbError> {
        let bytes = super::read_file(path, super::MAX_HEADER_BYTES, false)?;
        let text = std::str::from_utf8(&bytes).map_err(|e| WfdbError::Header {
            line: 0,
            msg: format!("not UTF-8: {e}"),
        })?;
        Header::parse(text)
    }

    /// Header text that [`Header::parse`] reads back to an equal header, with CRLF
    /// line endings like PhysioNet's files.
    ///
    /// A signal without a checksum is written without its block size and
    /// description (the fields are positional), so those are lost in that case.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = write!(out, "{} {} {}", self.record, self.n_signals, self.fs);
        if let Some(n) = self.n_samples {
            let _ = write!(out, " {n}");
        }
        out.push_str("\r\n");
        for s in &self.signals {
            let gain = if s.uncalibrated { 0.0 } else { s.gain };
            let _ = write!(
                out,
                "{} {} {}({})/{} {} {} {}",
                s.file_name,
                s.format.code(),
                gain,
                s.baseline,
                s.units,
                s.adc_resolution,
                s.adc_zero,
                s.initial_value
            );
            if let Some(c) = s.checksum {
                let _ = write!(out, " {c} {}", s.block_size);
                if !s.description.is_empty() {
                    let _ = write!(out, " {}", s.description);
                }
            }
            out.push_str("\r\n");
        }
        for c in &self.comments {
            let _ = write!(out, "# {c}\r\n");
        }
        out
    }

    /// Indices of signals grouped by `.dat` file, in order of first appearance.
    pub(crate) fn file_groups(&self) -> Vec<(String, Vec<usize>)> {
        let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
        for (i, s) in self.signals.iter().enumerate() {
            match groups.iter_mut().find(|(f, _)| *f == s.file_name) {
                Some((_, idx)) => idx.push(i),
                None => groups.push((s.file_name.clone(), vec![i])),
            }
        }
        groups
    }

    /// Check the invariants the reader and writer rely on; `Err` holds a message.
    pub(crate) fn check(&self) -> Result<(), String> {
        check_record_name(&self.record)?;
        if self.signals.len() != self.n_signals {
            return Err(format!(
                "n_signals is {} but {} signal specs are given",
                self.n_signals,
                self.signals.len()
            ));
        }
        if !(self.fs.is_finite() && self.fs > 0.0) {
            return Err(format!("sampling frequency {} is not positive", self.fs));
        }
        for (i, s) in self.signals.iter().enumerate() {
            check_file_name(&s.file_name)?;
            if !(s.gain.is_finite() && s.gain != 0.0) {
                return Err(format!(
                    "signal {i}: gain {} must be finite and non-zero",
                    s.gain
                ));
            }
            if s.units.is_empty() || s.units.chars().any(char::is_whitespace) {
                return Err(format!("signal {i}: units {:?} must be one word", s.units));
            }
            if s.description.contains(['\r', '\n']) {
                return Err(format!("signal {i}: description contains a line break"));
            }
        }
        // Signals sharing a file are interleaved frame by frame, which needs one format.
        for (file, idx) in self.file_groups() {
            let f = self.signals[idx[0]].format;
            if idx.iter().any(|&i| self.signals[i].format != f) {
                return Err(format!("signals in {file} use different formats"));
            }
        }
        if self.comments.iter().any(|c| c.contains(['\r', '\n'])) {
            return Err("a comment contains a line break".into());
        }
        Ok(())
    }
}

/// Record names: letters, digits, `_` and `-` (they become file names).
fn check_record_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!("bad record name {name:?}"));
    }
    Ok(())
}

/// Signal file names stay inside the record's folder: no absolute paths, no `..`,
/// and not `-` (standard input in WFDB).
fn check_file_name(name: &str) -> Result<(), String> {
    let bad = name.is_empty()
        || name == "-"
        || name.starts_with('/')
        || name.contains('\\')
        || name.chars().any(|c| c.is_whitespace() || c.is_control())
        || name.split('/').any(|part| part.is_empty() || part == "..");
    if bad {
        return Err(format!("bad signal file name {name:?}"));
    }
    Ok(())
}

/// Whitespace-separated tokens of `line` with their byte positions, so the
/// free-text description can be taken verbatim from the rest of the line.
fn tokens(line: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in line.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                out.push((s, &line[s..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, &line[s..]));
    }
    out
}

fn num<T: std::str::FromStr>(tok: &str, what: &str, line: usize) -> Result<T, WfdbError> {
    tok.parse::<T>().map_err(|_| WfdbError::Header {
        line,
        msg: format!("bad {what} {tok:?}"),
    })
}

fn finite(tok: &str, what: &str, line: usize) -> Result<f64, WfdbError> {
    let v: f64 = num(tok, what, line)?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(WfdbError::Header {
            line,
            msg: format!("bad {what} {tok:?}"),
        })
    }
}

/// Parse header text, also returning each signal's byte offset into its file
/// (the `+offset` suffix of the format field), which [`Header`] does not carry.
pub(crate) fn parse_with_offsets(text: &str) -> Result<(Header, Vec<u64>), WfdbError> {
    let mut record_line: Option<(usize, Vec<(usize, &str)>)> = None;
    let mut signal_lines: Vec<(usize, &str)> = Vec::new();
    let mut comments = Vec::new();
    // Lines end in LF or CR LF; a file with CRs and no LF (classic Mac OS) ends them in CR.
    let eol = if text.contains('\n') { '\n' } else { '\r' };
    for (i, raw) in text.split(eol).enumerate() {
        let line_no = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let trimmed = line.trim_start();
        if let Some(c) = trimmed.strip_prefix('#') {
            comments.push(c.strip_prefix(' ').unwrap_or(c).trim_end().to_string());
            continue;
        }
        if trimmed.trim_end().is_empty() {
            continue;
        }
        if record_line.is_none() {
            record_line = Some((line_no, tokens(line)));
        } else {
            signal_lines.push((line_no, line));
        }
    }
    let (rl, rtoks) = record_line.ok_or(WfdbError::Header {
        line: 1,
        msg: "no record line".into(),
    })?;

    let name_tok = rtoks[0].1;
    let record = match name_tok.split_once('/') {
        Some((_, segs)) => {
            let segments = num(segs, "segment count", rl)?;
            return Err(WfdbError::MultiSegment { segments });
        }
        None => name_tok.to_string(),
    };
    check_record_name(&record).map_err(|msg| WfdbError::Header { line: rl, msg })?;
    let n_signals: usize = match rtoks.get(1) {
        Some((_, t)) => num(t, "signal count", rl)?,
        None => {
            return Err(WfdbError::Header {
                line: rl,
                msg: "missing signal count".into(),
            })
        }
    };
    let fs = match rtoks.get(2) {
        Some((_, t)) => parse_fs(t, rl)?,
        None => DEFAULT_FS,
    };
    let n_samples = match rtoks.get(3) {
        Some((_, t)) => Some(num::<u64>(t, "sample count", rl)?),
        None => None,
    };
    // Tokens 4 and 5 are base time and date; their many spellings are not checked.

    if signal_lines.len() != n_signals {
        return Err(WfdbError::Header {
            line: rl,
            msg: format!(
                "record line declares {n_signals} signals, found {} signal lines",
                signal_lines.len()
            ),
        });
    }
    let mut signals = Vec::with_capacity(n_signals);
    let mut offsets = Vec::with_capacity(n_signals);
    for &(ln, line) in &signal_lines {
        let (spec, offset) = parse_signal_line(line, ln)?;
        signals.push(spec);
        offsets.push(offset);
    }
    let header = Header {
        record,
        n_signals,
        fs,
        n_samples,
        signals,
        comments,
    };
    header
        .check()
        .map_err(|msg| WfdbError::Header { line: rl, msg })?;
    Ok((header, offsets))
}

/// `fs[/counterfreq][(basecounter)]`; only `fs` is kept.
fn parse_fs(tok: &str, line: usize) -> Result<f64, WfdbError> {
    let (rest, base) = match tok.split_once('(') {
        Some((r, b)) => {
            let b = b.strip_suffix(')').ok_or(WfdbError::Header {
                line,
                msg: format!("unclosed base counter in {tok:?}"),
            })?;
            (r, Some(b))
        }
        None => (tok, None),
    };
    let (fs_tok, counter) = match rest.split_once('/') {
        Some((f, c)) => (f, Some(c)),
        None => (rest, None),
    };
    let fs = finite(fs_tok, "sampling frequency", line)?;
    if fs <= 0.0 {
        return Err(WfdbError::Header {
            line,
            msg: format!("sampling frequency {fs} is not positive"),
        });
    }
    if let Some(c) = counter {
        finite(c, "counter frequency", line)?;
    }
    if let Some(b) = base {
        finite(b, "base counter", line)?;
    }
    Ok(fs)
}

fn parse_signal_line(line: &str, ln: usize) -> Result<(SignalSpec, u64), WfdbError> {
    let toks = tokens(line);
    let file_name = toks[0].1.to_string();
    check_file_name(&file_name).map_err(|msg| WfdbError::Header { line: ln, msg })?;
    let fmt_tok = match toks.get(1) {
        Some((_, t)) => *t,
        None => {
            return Err(WfdbError::Header {
                line: ln,
                msg: "missing format".into(),
            })
        }
    };
    let (format, offset) = parse_format_field(fmt_tok, ln)?;

    let mut gain = 0.0;
    let mut baseline = None;
    let mut units = "mV".to_string();
    if let Some((_, g)) = toks.get(2) {
        let (g, u) = match g.split_once('/') {
            Some((g, u)) => (g, Some(u)),
            None => (*g, None),
        };
        let g = match g.split_once('(') {
            Some((g, b)) => {
                let b = b.strip_suffix(')').ok_or(WfdbError::Header {
                    line: ln,
                    msg: format!("unclosed baseline in {g:?}"),
                })?;
                baseline = Some(num::<i32>(b, "baseline", ln)?);
                g
            }
            None => g,
        };
        gain = finite(g, "gain", ln)?;
        if let Some(u) = u {
            if u.is_empty() {
                return Err(WfdbError::Header {
                    line: ln,
                    msg: "empty units".into(),
                });
            }
            units = u.to_string();
        }
    }
    let uncalibrated = gain == 0.0;
    if uncalibrated {
        gain = DEFAULT_GAIN;
    }
    let adc_resolution = match toks.get(3) {
        Some((_, t)) => num(t, "ADC resolution", ln)?,
        None => format.default_adc_resolution(),
    };
    let adc_zero = match toks.get(4) {
        Some((_, t)) => num(t, "ADC zero", ln)?,
        None => 0,
    };
    let initial_value = match toks.get(5) {
        Some((_, t)) => num(t, "initial value", ln)?,
        None => adc_zero,
    };
    let checksum = match toks.get(6) {
        Some((_, t)) => Some(num(t, "checksum", ln)?),
        None => None,
    };
    let block_size = match toks.get(7) {
        Some((_, t)) => num(t, "block size", ln)?,
        None => 0,
    };
    let description = match toks.get(8) {
        Some(&(pos, _)) => line[pos..].trim_end().to_string(),
        None => String::new(),
    };
    let spec = SignalSpec {
        file_name,
        format,
        gain,
        uncalibrated,
        baseline: baseline.unwrap_or(adc_zero),
        units,
        adc_resolution,
        adc_zero,
        initial_value,
        checksum,
        block_size,
        description,
    };
    Ok((spec, offset))
}

/// `fmt[xspf][:skew][+offset]`.
fn parse_format_field(tok: &str, ln: usize) -> Result<(SignalFormat, u64), WfdbError> {
    let (rest, offset) = match tok.split_once('+') {
        Some((r, o)) => (r, num::<u64>(o, "byte offset", ln)?),
        None => (tok, 0),
    };
    let (rest, skew) = match rest.split_once(':') {
        Some((r, s)) => (r, num::<u32>(s, "skew", ln)?),
        None => (rest, 0),
    };
    let (code, spf) = match rest.split_once('x') {
        Some((c, s)) => (c, num::<u32>(s, "samples per frame", ln)?),
        None => (rest, 1),
    };
    let code: u32 = num(code, "format", ln)?;
    let format = SignalFormat::from_code(code)?;
    if spf > 1 {
        return Err(WfdbError::Unsupported {
            line: ln,
            feature: format!("{spf} samples per frame"),
        });
    }
    if skew != 0 {
        return Err(WfdbError::Unsupported {
            line: ln,
            feature: format!("skew {skew}"),
        });
    }
    Ok((format, offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    const H100: &str = "100 2 360 650000\r\n100.dat 212 200 11 1024 995 -22131 0 MLII\r\n\
                        100.dat 212 200 11 1024 1011 20052 0 V5\r\n# 69 M 1085 1629 x1\r\n# Aldomet, Inderal\r\n";

    #[test]
    fn parses_mitdb_header_with_crlf() {
        let h = Header::parse(H100).unwrap();
        assert_eq!(h.record, "100");
        assert_eq!(h.n_signals, 2);
        assert_eq!(h.fs, 360.0);
        assert_eq!(h.n_samples, Some(650000));
        let s = &h.signals[0];
        assert_eq!(s.format, SignalFormat::F212);
        assert_eq!(
            (s.gain, s.uncalibrated, s.baseline, s.adc_zero),
            (200.0, false, 1024, 1024)
        );
        assert_eq!(
            (s.adc_resolution, s.initial_value, s.checksum),
            (11, 995, Some(-22131))
        );
        assert_eq!((s.units.as_str(), s.description.as_str()), ("mV", "MLII"));
        assert_eq!(h.comments, vec!["69 M 1085 1629 x1", "Aldomet, Inderal"]);
        assert_eq!(Header::parse(&H100.replace("\r\n", "\n")).unwrap(), h);
    }

    #[test]
    fn gain_zero_is_uncalibrated_200_and_baseline_parsed() {
        let h = Header::parse("bw 1 360 10\nbw.dat 212 0 12 0 -29 -3562 0 noise1\n").unwrap();
        assert!(h.signals[0].uncalibrated);
        assert_eq!(h.signals[0].gain, 200.0);
        let h =
            Header::parse("x 1 360\nx.dat 16 200(1024)/uV 11 0 -167 29505 0 MLII lead\n").unwrap();
        let s = &h.signals[0];
        assert_eq!((s.baseline, s.adc_zero, s.units.as_str()), (1024, 0, "uV"));
        assert_eq!(s.description, "MLII lead");
        assert_eq!(h.n_samples, None);
    }

    #[test]
    fn record_line_variants() {
        let h = Header::parse(
            "16265 2 128 11730944  8:04:00\n16265.dat 212 0 12 0 -33 15756 0 ECG1\n\
                               16265.dat 212 0 12 0 -65 -21174 0 ECG2\n# 32 M\n",
        )
        .unwrap();
        assert_eq!((h.fs, h.n_samples), (128.0, Some(11730944)));
        let h = Header::parse("r 0 360/1000(5) 100 10:00:00 01/01/2000\n").unwrap();
        assert_eq!(h.fs, 360.0);
        assert_eq!(Header::parse("r 0\n").unwrap().fs, 250.0);
        let minimal = Header::parse("r 1\nr.dat 16\n").unwrap();
        assert!(minimal.signals[0].uncalibrated);
        assert_eq!(minimal.signals[0].adc_resolution, 16);
    }

    #[test]
    fn rejects_unsupported_and_malformed() {
        let err = |t: &str| Header::parse(t).unwrap_err();
        assert!(matches!(
            err("r/3 2 360\n"),
            WfdbError::MultiSegment { segments: 3 }
        ));
        assert!(matches!(
            err("r 1 360\nr.dat 80\n"),
            WfdbError::UnsupportedFormat(80)
        ));
        assert!(matches!(
            err("r 1 360\nr.dat 212x2\n"),
            WfdbError::Unsupported { line: 2, .. }
        ));
        assert!(matches!(
            err("r 1 360\nr.dat 212:3\n"),
            WfdbError::Unsupported { .. }
        ));
        assert!(matches!(
            err("r 1 36O\nr.dat 212\n"),
            WfdbError::Header { line: 1, .. }
        ));
        assert!(matches!(
            err("r 2 360\nr.dat 212\n"),
            WfdbError::Header { .. }
        ));
        assert!(matches!(
            err("r 1 360\nr.dat 212 2x0\n"),
            WfdbError::Header { line: 2, .. }
        ));
        assert!(matches!(
            err("r 1 360\nr.dat 212 200(10 \n"),
            WfdbError::Header { .. }
        ));
        assert!(matches!(
            err("r 1 360\nr.dat 212 200 12 0 0 abc\n"),
            WfdbError::Header { .. }
        ));
        assert!(matches!(
            err("r 1 -360\nr.dat 212\n"),
            WfdbError::Header { .. }
        ));
        assert!(matches!(
            err("r 1 NaN\nr.dat 212\n"),
            WfdbError::Header { .. }
        ));
        assert!(matches!(
            err("r 1 360\n../r.dat 212\n"),
            WfdbError::Header { .. }
        ));
        assert!(matches!(
            err("r 2 360\nr.dat 212\nr.dat 16\n"),
            WfdbError::Header { .. }
        ));
        assert!(matches!(
            err("# only a comment\n"),
            WfdbError::Header { .. }
        ));
        assert!(matches!(err(""), WfdbError::Header { .. }));
    }

    #[test]
    fn byte_offset_is_parsed() {
        let (_, off) = parse_with_offsets("r 1 360\nr.dat 16+512 200\n").unwrap();
        assert_eq!(off, vec![512]);
    }

    #[test]
    fn to_text_round_trips() {
        let h = Header::parse(H100).unwrap();
        assert_eq!(Header::parse(&h.to_text()).unwrap(), h);
        let h = Header::parse("bw 1 128.5\nbw.dat 16 0(-3)/uV 12 0 -29 -3562 0 noise 1\n").unwrap();
        assert_eq!(Header::parse(&h.to_text()).unwrap(), h);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn parse_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
                let _ = Header::parse(&String::from_utf8_lossy(&bytes));
            }

            #[test]
            fn parse_never_panics_on_headerish_text(s in "[0-9a-z ./():+x#\\-\r\n]{0,200}") {
                let _ = Header::parse(&s);
                let _ = Header::parse(&format!("r 2 360 10\n{s}"));
                let _ = Header::parse(&format!("r 1 360 10\nr.dat {s}"));
            }

            #[test]
            fn to_text_parse_identity(
                fs in 1u32..100_000, n in proptest::option::of(0u64..u64::MAX), gain in -1e6f64..1e6,
                base in any::<i32>(), zero in any::<i32>(), init in any::<i32>(), ck in any::<i16>(),
                res in 0u32..64, block in any::<u32>(), f16 in any::<bool>(),
                desc in "([A-Za-z0-9][A-Za-z0-9 ]{0,10}[A-Za-z0-9])?", comment in "[ -~]{0,20}",
            ) {
                let spec = SignalSpec {
                    file_name: "a.dat".into(),
                    format: if f16 { SignalFormat::F16 } else { SignalFormat::F212 },
                    gain: if gain == 0.0 { 200.0 } else { gain },
                    uncalibrated: gain == 0.0,
                    baseline: base, units: "mV".into(), adc_resolution: res, adc_zero: zero,
                    initial_value: init, checksum: Some(ck as i32), block_size: block, description: desc,
                };
                let h = Header {
                    record: "a_1".into(), n_signals: 2, fs: fs as f64 / 7.0, n_samples: n,
                    signals: vec![spec.clone(), spec],
                    comments: vec![comment.trim().to_string()],
                };
                prop_assert_eq!(Header::parse(&h.to_text()).unwrap(), h);
            }
        }
    }
}
