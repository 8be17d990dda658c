//! A WFDB record on disk as the classifier takes it: one lead (the lead choice) in mV at
//! the model's rate, with its reference beats and ventricular flutter episodes.

use crate::aami::AamiClass;
use crate::detect;
use crate::error::Error;
use crate::wfdb;
use std::path::Path;

/// A reference beat annotation, at the model's sampling rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ReferenceBeat {
    /// Sample index at the model's rate.
    pub sample: u64,
    /// MIT-BIH symbol.
    pub symbol: &'static str,
    /// AAMI class.
    pub class: AamiClass,
}

/// A reference rhythm episode `[start, end)` at the model's rate, e.g. `(AFIB`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RhythmSpan {
    /// First sample.
    pub start: u64,
    /// One past the last sample.
    pub end: u64,
    /// The annotation's aux text without its trailing NULs, e.g. `(AFIB`.
    pub rhythm: String,
}

/// One lead of a record in mV at the model's sampling rate, with its reference beats.
#[derive(Debug, Clone)]
pub struct Record {
    /// Record name.
    pub name: String,
    /// Lead name (e.g. "MLII").
    pub lead: String,
    /// Sampling rate of the file.
    pub original_fs: f64,
    /// Sampling rate of `signal_mv` (the model's).
    pub fs: f64,
    /// Samples in mV (the whole lead, or the span [`Record::load_span`] read).
    pub signal_mv: Vec<f32>,
    /// Where `signal_mv` begins in the record, at the model's rate (0 but for a span).
    /// Beats, reference beats and episodes count from the record's start, not the span's.
    pub start: u64,
    /// Reference beats (empty when the record has no `.atr`).
    pub reference: Vec<ReferenceBeat>,
    /// Ventricular flutter/fibrillation episodes `[start, end)` from the `[` and `]`
    /// annotations, at the model's rate.
    pub flutter: Vec<(u64, u64)>,
    /// Rhythm episodes from the `+` annotations (aux text such as `(N`, `(AFIB`, `(AFL`):
    /// each runs to the next rhythm annotation or the signal's end, at the model's rate.
    pub rhythms: Vec<RhythmSpan>,
    /// Beat annotations that lie outside the signal (not in `reference`): counted so that
    /// none is lost silently.
    pub reference_outside_signal: usize,
}

/// The signal to classify: `lead` by name (an error if the record has none of that name), by
/// default MLII if present, else the first signal; with its name. Also checks that the
/// record's rate is one rhythm takes. The one rule for [`Record::load`] and
/// [`crate::record_file`].
pub(crate) fn choose_lead(
    header: &wfdb::Header,
    target_fs: f64,
    lead: Option<&str>,
) -> Result<(usize, String), Error> {
    let fs = header.fs;
    if !(fs.is_finite() && fs >= detect::MIN_FS as f64 && fs <= detect::MAX_FS as f64) {
        return Err(Error::SampleRate {
            given: fs,
            model: target_fs as u32,
        });
    }
    let named = |name: &str| header.signals.iter().position(|s| s.description == name);
    let idx = match lead {
        Some(name) => named(name).ok_or_else(|| Error::NoSuchLead(name.to_string()))?,
        None => named("MLII").unwrap_or(0),
    };
    let lead = header
        .signals
        .get(idx)
        .map(|s| s.description.clone())
        .unwrap_or_default();
    Ok((idx, lead))
}

impl Record {
    /// Reads `path` (without extension), picks `lead` (default: MLII if present, else the
    /// first signal) and resamples to `target_fs` if the record's rate differs.
    pub fn load(
        path: impl AsRef<Path>,
        target_fs: f64,
        lead: Option<&str>,
    ) -> Result<Record, Error> {
        let path = path.as_ref();
        let rec = wfdb::Record::read(path)?;
        let fs = rec.fs();
        let (idx, lead) = choose_lead(&rec.header, target_fs, lead)?;
        let mut signal_mv = rec.millivolts(idx)?;
        if (fs - target_fs).abs() > 1e-9 {
            signal_mv = wfdb::resample(&signal_mv, fs, target_fs);
        }
        let mut record = Record::reference_only(path, lead, fs, target_fs, signal_mv.len() as u64)?;
        record.signal_mv = signal_mv;
        Ok(record)
    }

    /// Like [`Record::load`], but only the samples from `from_s` to `to_s` seconds (clamped
    /// to the record) are read, through the chunked reader: memory for the span, not the
    /// record, whatever the file's size. `start` says where the span begins; the reference
    /// annotations are the whole record's. The file's checksum is verified only when the
    /// span reaches its end.
    pub fn load_span(
        path: impl AsRef<Path>,
        target_fs: f64,
        lead: Option<&str>,
        from_s: f64,
        to_s: f64,
    ) -> Result<Record, Error> {
        let path = path.as_ref();
        let mut name = String::new();
        let mut reader = wfdb::SignalReader::open_chosen(path, |header| {
            let (signal, lead) = choose_lead(header, target_fs, lead)?;
            name = lead;
            Ok::<_, Error>(signal)
        })?;
        let fs = reader.header().fs;
        let total = reader.len();
        let at_rate = |s: f64| {
            if s.is_finite() {
                ((s.max(0.0) * fs).round() as u64).min(total)
            } else {
                total
            }
        };
        let (first, last) = (at_rate(from_s), at_rate(to_s));
        let mut signal_mv = Vec::with_capacity(last.saturating_sub(first) as usize);
        let (mut chunk, mut at) = (Vec::new(), 0u64);
        while at < last {
            reader.read_mv(&mut chunk)?;
            if chunk.is_empty() {
                break;
            }
            let n = chunk.len() as u64;
            let part = |s: u64| s.saturating_sub(at).min(n) as usize;
            signal_mv.extend_from_slice(&chunk[part(first)..part(last)]);
            at += n;
        }
        let resampled = (fs - target_fs).abs() > 1e-9;
        let model = |s: u64| {
            if resampled {
                (s as f64 * target_fs / fs).round() as u64
            } else {
                s
            }
        };
        if resampled {
            signal_mv = wfdb::resample(&signal_mv, fs, target_fs);
        }
        let mut record = Record::reference_only(path, name, fs, target_fs, model(total))?;
        record.signal_mv = signal_mv;
        record.start = model(first);
        Ok(record)
    }

    /// The record at `path` without its signal: name, lead, rates and the reference
    /// annotations (`.atr`, if any) for a signal of `model_samples` samples at `target_fs`,
    /// as [`Record::load`] gives them (`signal_mv` stays empty). For the whole-record path
    /// ([`crate::record_file`]), which streams the signal instead of holding it.
    pub(crate) fn reference_only(
        path: impl AsRef<Path>,
        lead: String,
        original_fs: f64,
        target_fs: f64,
        model_samples: u64,
    ) -> Result<Record, Error> {
        let path = path.as_ref();
        let fs = original_fs;
        let resampled = (fs - target_fs).abs() > 1e-9;
        let mut atr = path.as_os_str().to_owned();
        atr.push(".atr");
        let annotations = if Path::new(&atr).exists() {
            wfdb::read_annotations(path, "atr")?
        } else {
            Vec::new()
        };
        let at_model_rate = |s: i64| {
            if resampled {
                wfdb::resample_index(s, fs, target_fs)
            } else {
                s
            }
        };
        let in_signal = |s: i64| s >= 0 && (s as u64) < model_samples;
        let reference: Vec<ReferenceBeat> = annotations
            .iter()
            .filter_map(|a| {
                let class = a.aami_class()?;
                let s = at_model_rate(a.sample);
                in_signal(s).then_some(ReferenceBeat {
                    sample: s as u64,
                    symbol: a.symbol(),
                    class,
                })
            })
            .collect();
        // Ventricular flutter/fibrillation episodes: '[' opens, ']' closes (EC57 leaves them
        // out of beat-by-beat scoring: they hold no annotated beats to match).
        let mut flutter = Vec::new();
        let mut open = None;
        for a in &annotations {
            let s = at_model_rate(a.sample).max(0) as u64;
            match a.symbol() {
                "[" => open = Some(s),
                "]" => {
                    if let Some(o) = open.take() {
                        flutter.push((o, s));
                    }
                }
                _ => {}
            }
        }
        if let Some(o) = open {
            flutter.push((o, model_samples));
        }
        let mut rhythms: Vec<RhythmSpan> = Vec::new();
        for a in annotations.iter().filter(|a| a.symbol() == "+") {
            let Some(aux) = &a.aux else { continue };
            let rhythm = String::from_utf8_lossy(aux)
                .trim_end_matches('\0')
                .to_string();
            let s = (at_model_rate(a.sample).max(0) as u64).min(model_samples);
            if let Some(last) = rhythms.last_mut() {
                last.end = s.max(last.start);
            }
            rhythms.push(RhythmSpan {
                start: s,
                end: model_samples,
                rhythm,
            });
        }
        rhythms.retain(|r| r.end > r.start);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Record {
            name,
            lead,
            original_fs: fs,
            fs: target_fs,
            reference_outside_signal: annotations
                .iter()
                .filter(|a| a.aami_class().is_some())
                .count()
                - reference.len(),
            signal_mv: Vec::new(),
            start: 0,
            reference,
            flutter,
            rhythms,
        })
    }

    /// Whether `sample` lies in a ventricular flutter/fibrillation episode.
    pub fn in_flutter(&self, sample: u64) -> bool {
        self.flutter.iter().any(|&(a, b)| sample >= a && sample < b)
    }

    /// The reference episodes of one rhythm (`"(AFIB"`, `"(AFL"`, …) as `[start, end)`.
    pub fn rhythm_episodes(&self, rhythm: &str) -> Vec<(u64, u64)> {
        self.rhythms
            .iter()
            .filter(|r| r.rhythm == rhythm)
            .map(|r| (r.start, r.end))
            .collect()
    }

    /// Reference beat positions.
    pub fn reference_positions(&self) -> Vec<u64> {
        self.reference.iter().map(|b| b.sample).collect()
    }

    /// `sample`, at the model's rate (as beats and `reference` are), in the record's own
    /// timebase (`original_fs`): the index the record's annotations and other WFDB tools use.
    pub fn record_sample(&self, sample: u64) -> u64 {
        if self.fs == self.original_fs {
            return sample;
        }
        let s = i64::try_from(sample).unwrap_or(i64::MAX);
        crate::wfdb::resample_index(s, self.fs, self.original_fs).max(0) as u64
    }
}
