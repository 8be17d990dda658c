//! MIT-BIH beats as training data, made by core's own reader, conditioning, beat window and
//! spectrogram code (never a second copy of the preprocessing).

use crate::augment::Augment;
use anyhow::{Context, Result};
use rhythm::aami::AamiClass;
use rhythm::featurize::{Featurizer, Signal, SpectrogramImpl, SIDE_FEATURES};
use rhythm::record::Record;
use rhythm::spectrogram::SpectrogramConfig;
use std::path::Path;

/// de Chazal et al. 2004 inter-patient split (paced records excluded): core's one definition.
pub use rhythm::evaluate::{DS1, DS2};
/// Patient adaptation may use beats from the first five minutes only.
pub const ADAPTATION_SECONDS: f64 = 300.0;

/// Spectrogram images, RR features and labels of many beats, with where they came from.
#[derive(Debug, Clone, Default)]
pub struct BeatSet {
    /// `n × image_len` normalised images (row-major bins × frames).
    pub images: Vec<f32>,
    /// `n × SIDE_FEATURES` side features (every feature the runtime computes).
    pub side: Vec<f32>,
    /// Side features the model takes: the first `n_side` of each beat's (see
    /// [`rhythm::featurize::side_features`]); set by [`BeatSet::with_side_features`].
    pub n_side: usize,
    /// AAMI class index of each beat.
    pub labels: Vec<u8>,
    /// Index into `records` of each beat.
    pub record: Vec<u16>,
    /// R-peak sample of each beat, at `sample_rate_hz`.
    pub sample: Vec<u64>,
    /// Sampling rate of `sample` (the model's), Hz.
    pub sample_rate_hz: f64,
    /// Record names.
    pub records: Vec<String>,
    /// Elements per image.
    pub image_len: usize,
    /// Whether beat `i` is from a noisy copy of its record (`crate::augment`): training only,
    /// never predicted or scored. Empty means none is.
    pub augmented: Vec<bool>,
}

impl BeatSet {
    /// Number of beats.
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    /// Whether there are no beats.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    /// Image of beat `i`.
    pub fn image(&self, i: usize) -> &[f32] {
        &self.images[i * self.image_len..(i + 1) * self.image_len]
    }
    /// Side features of beat `i`.
    pub fn side(&self, i: usize) -> &[f32] {
        &self.side[i * SIDE_FEATURES..i * SIDE_FEATURES + self.n_side]
    }
    /// The same beats with the model taking the first `n` side features.
    pub fn with_side_features(mut self, n: usize) -> BeatSet {
        self.n_side = n.min(SIDE_FEATURES);
        self
    }
    /// Beats per class.
    pub fn class_counts(&self) -> [usize; 5] {
        let mut c = [0; 5];
        self.labels.iter().for_each(|&l| c[l as usize] += 1);
        c
    }
    /// Whether beat `i` is from a noisy copy (see [`BeatSet::augmented`]).
    pub fn is_augmented(&self, i: usize) -> bool {
        self.augmented.get(i).copied().unwrap_or(false)
    }
    /// Indices of the beats of record `name` (noisy copies included).
    pub fn indices_of(&self, name: &str) -> Vec<usize> {
        match self.records.iter().position(|r| r == name) {
            Some(r) => (0..self.len())
                .filter(|&i| self.record[i] as usize == r)
                .collect(),
            None => Vec::new(),
        }
    }
    fn append(&mut self, mut o: BeatSet) {
        let offset = self.records.len() as u16;
        self.image_len = o.image_len;
        self.sample_rate_hz = o.sample_rate_hz;
        self.n_side = o.n_side;
        self.images.append(&mut o.images);
        self.side.append(&mut o.side);
        self.labels.append(&mut o.labels);
        self.record.extend(o.record.iter().map(|r| r + offset));
        self.sample.append(&mut o.sample);
        self.records.append(&mut o.records);
        if !o.augmented.is_empty() || !self.augmented.is_empty() {
            let n = self.labels.len() - o.labels.len();
            self.augmented.resize(n, false);
            o.augmented.resize(o.labels.len(), false);
            self.augmented.append(&mut o.augmented);
        }
    }
}

/// Writes the side features of every beat of the config's training records as CSV
/// (`record,sample,class,f0,…`).
pub fn write_side_features(cfg: &crate::config::Config, out: &Path) -> Result<()> {
    use std::io::Write;
    let names: Vec<&str> = cfg.train_records.iter().map(String::as_str).collect();
    let set = load_beats(
        &cfg.data_dir.join("mitdb"),
        &names,
        &cfg.spectrogram(),
        cfg.threads,
        &indicatif::ProgressBar::hidden(),
        None,
    )?;
    let mut w = std::io::BufWriter::new(std::fs::File::create(out)?);
    write!(w, "record,sample,class")?;
    for k in 0..SIDE_FEATURES {
        write!(w, ",f{k}")?;
    }
    writeln!(w)?;
    for i in 0..set.len() {
        write!(
            w,
            "{},{},{}",
            set.records[set.record[i] as usize], set.sample[i], set.labels[i]
        )?;
        for v in set.side(i) {
            write!(w, ",{v}")?;
        }
        writeln!(w)?;
    }
    Ok(())
}

/// Every reference beat of one record as a model input, and with `augment` a noisy copy of
/// each too (beats whose noisy window is not classifiable are left out of the copy).
pub fn record_beats(
    dir: &Path,
    name: &str,
    sc: &SpectrogramConfig,
    augment: Option<&Augment>,
) -> Result<BeatSet> {
    let rec = Record::load(dir.join(name), sc.sample_rate_hz as f64, None)
        .with_context(|| format!("record {name}"))?;
    let signal = Signal::new(&rec.signal_mv, rec.fs);
    let pos = rec.reference_positions();
    let mut featurizer = Featurizer::new(*sc, SIDE_FEATURES, SpectrogramImpl::F32)?;
    let n = pos.len();
    let mut set = BeatSet {
        images: Vec::with_capacity(n * sc.image_len()),
        image_len: sc.image_len(),
        sample_rate_hz: rec.fs,
        n_side: SIDE_FEATURES,
        records: vec![name.to_string()],
        ..Default::default()
    };
    for (i, beat) in rec.reference.iter().enumerate() {
        let f = featurizer.beat(&signal, &pos, i)?;
        anyhow::ensure!(
            f.classifiable(),
            "record {name}: reference beat {i} has no image ({:?})",
            f.quality
        );
        set.images.extend_from_slice(f.image);
        set.side.extend_from_slice(f.side);
        set.labels.push(beat.class.index() as u8);
        set.record.push(0);
        set.sample.push(beat.sample);
    }
    if let Some(aug) = augment {
        let noisy = aug.noisy_copy(name, &rec.signal_mv, &pos, rec.fs);
        let signal = Signal::new(&noisy, rec.fs);
        set.augmented = vec![false; n];
        for (i, beat) in rec.reference.iter().enumerate() {
            let f = featurizer.beat(&signal, &pos, i)?;
            if !f.classifiable() {
                continue;
            }
            set.images.extend_from_slice(f.image);
            set.side.extend_from_slice(f.side);
            set.labels.push(beat.class.index() as u8);
            set.record.push(0);
            set.sample.push(beat.sample);
            set.augmented.push(true);
        }
    }
    Ok(set)
}

/// Beats of several records, made on `threads` threads, in the order of `names`.
pub fn load_beats(
    dir: &Path,
    names: &[&str],
    sc: &SpectrogramConfig,
    threads: usize,
    progress: &indicatif::ProgressBar,
    augment: Option<&Augment>,
) -> Result<BeatSet> {
    let threads = threads.max(1);
    let mut parts: Vec<Option<Result<BeatSet>>> = (0..names.len()).map(|_| None).collect();
    std::thread::scope(|s| {
        let chunks: Vec<Vec<(usize, &str)>> = (0..threads)
            .map(|t| {
                names
                    .iter()
                    .copied()
                    .enumerate()
                    .skip(t)
                    .step_by(threads)
                    .collect()
            })
            .collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .into_iter()
                        .map(|(i, n)| {
                            let r = record_beats(dir, n, sc, augment);
                            progress.inc(1);
                            (i, r)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            for (i, r) in h.join().unwrap_or_default() {
                parts[i] = Some(r);
            }
        }
    });
    let mut all = BeatSet::default();
    for (i, p) in parts.into_iter().enumerate() {
        let set = p.with_context(|| format!("worker for record {} failed", names[i]))??;
        all.append(set);
    }
    Ok(all)
}

/// Human-readable class counts.
pub fn describe_counts(c: &[usize; 5]) -> String {
    AamiClass::ALL
        .iter()
        .map(|k| format!("{k} {}", c[k.index()]))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first `k` beats of each class in time (all of them when `k` is 0): what a clinician
/// labels first.
pub fn first_k_per_class(pool: &[usize], labels: &[u8], k: usize) -> Vec<usize> {
    let mut taken = [0usize; 5];
    pool.iter()
        .copied()
        .filter(|&i| {
            let c = labels[i] as usize;
            taken[c] += 1;
            k == 0 || taken[c] <= k
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The trainer's beats are the device's: the same image and side features as core's
    /// featurize (and so the engine, streams and C API) for the same reference beats.
    #[test]
    fn training_beats_are_featurized_by_core() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/records");
        let sc = SpectrogramConfig::default_360hz();
        let set = record_beats(&dir, "100", &sc, None).unwrap();
        let rec = Record::load(dir.join("100"), f64::from(sc.sample_rate_hz), None).unwrap();
        let signal = Signal::new(&rec.signal_mv, rec.fs);
        let beats = rec.reference_positions();
        assert_eq!(set.len(), beats.len());
        let mut f = Featurizer::new(sc, SIDE_FEATURES, SpectrogramImpl::F32).unwrap();
        for i in (0..beats.len()).step_by(97) {
            let b = f.beat(&signal, &beats, i).unwrap();
            assert_eq!(set.image(i), b.image, "beat {i}");
            assert_eq!(set.side(i), b.side, "beat {i}");
            assert_eq!(set.sample[i], beats[i]);
        }
    }

    /// A noisy copy adds marked beats with the clean beats' labels and positions and other
    /// images; the clean beats are unchanged.
    #[test]
    fn augmented_record_has_marked_noisy_copies() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/records");
        let sc = SpectrogramConfig::default_360hz();
        let clean = record_beats(&dir, "100", &sc, None).unwrap();
        let mut rng = rhythm::rng::SplitMix64(3);
        let noise: Vec<f32> = (0..360 * 400).map(|_| rng.range(-0.3, 0.3)).collect();
        let aug = Augment {
            bank: crate::augment::NoiseBank {
                noise: vec![("white".into(), noise)],
            },
            seed: 1,
        };
        let set = record_beats(&dir, "100", &sc, Some(&aug)).unwrap();
        let n = clean.len();
        assert!((0..n).all(|i| !set.is_augmented(i)));
        assert!((n..set.len()).all(|i| set.is_augmented(i)));
        assert_eq!(&set.images[..clean.images.len()], &clean.images[..]);
        assert_eq!(&set.labels[..n], &clean.labels[..]);
        // Every beat was classifiable under this noise: copies align one to one.
        assert_eq!(set.len(), 2 * n);
        assert_eq!(&set.labels[n..], &clean.labels[..]);
        assert_eq!(&set.sample[n..], &clean.sample[..]);
        let differs = (0..n)
            .filter(|&i| set.image(n + i) != clean.image(i))
            .count();
        assert!(differs > n * 9 / 10, "{differs} of {n} images changed");
    }
}
