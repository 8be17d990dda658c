//! rhythm: heart-beat arrhythmia classification from raw ECG.
//!
//! Pipeline: WFDB record ([`wfdb`]) → conditioning and QRS detection ([`detect`]) →
//! beat window and STFT spectrogram ([`spectrogram`]) → quantized 2D-CNN ([`model`],
//! [`engine`]) → AAMI class ([`aami`]).
//!
//! Classifying a record (detected beats, the CPU's fastest kernels), as the README's
//! gateway section shows it:
//!
//! ```
//! # let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures");
//! # std::env::set_current_dir(format!("{root}/..")).unwrap();
//! # let mut n = 0;
//! let mut engine = rhythm::Engine::open("fixtures/models/rhythm-int8.rhm")?; // mmap, validated, CPU SIMD
//! let record = rhythm::Record::load("fixtures/records/100", engine.sample_rate_hz(), None)?; // MLII, mV
//! for beat in engine.classify_signal(&record.signal_mv)? {                   // detect + classify
//!     println!("{} {} {:?}", record.record_sample(beat.sample), beat.class(), beat.quality);
//! #   n += 1;
//! }
//! # assert!(n > 2000);
//! # Ok::<(), rhythm::Error>(())
//! ```
//!
//! Three ways in:
//!
//! * **Offline**, a whole record at once: [`Engine::classify_signal`] (detects the beats),
//!   [`Engine::classify_record`] at given beats, or [`Engine::classify_beat`] per beat of a
//!   [`Signal`] (below).
//! * **Streaming**, samples in chunks as a device delivers them: [`stream::Stream`], which
//!   gives the same beats as the offline path with bounded latency and fixed memory.
//! * **Adapted** to a patient from a few labelled beats: [`engine::Engine::adapt`].
//!
//! ```
//! use rhythm::detect;
//! use rhythm::engine::{BackendChoice, Engine};
//! use rhythm::model::Model;
//! use rhythm::featurize::Signal;
//! use rhythm::record::Record;
//!
//! let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures");
//! let mut engine = Engine::new(
//!     Model::open(format!("{root}/models/rhythm-int8.rhm"))?,
//!     BackendChoice::CpuAuto,
//! )?;
//! let fs = engine.model().spectrogram().sample_rate_hz as f64;
//! let record = Record::load(format!("{root}/records/119"), fs, None)?;
//! let signal = &record.signal_mv[..60 * 360]; // the first minute
//! let beats = detect::detect_qrs(signal, fs);
//! let signal = Signal::new(signal, fs); // conditioned once
//! for i in 0..beats.len() {
//!     let beat = engine.classify_beat(&signal, &beats, i)?;
//!     println!("{} {} {:?}", beat.sample, beat.class(), beat.quality);
//! }
//! assert!(beats.len() > 50);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Adapting the classifier head to a patient's labelled beats, then back:
//!
//! ```
//! use rhythm::adapt::AdaptConfig;
//! use rhythm::engine::{AdaptInput, BackendChoice, Engine, LabelledBeat};
//! use rhythm::model::Model;
//! use rhythm::record::Record;
//! use rhythm::spectrogram::{extract_window, rr_features};
//!
//! let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures");
//! let model = Model::open(format!("{root}/models/rhythm-int8.rhm"))?;
//! let sc = *model.spectrogram();
//! // The step the trainer evaluated adaptation with travels in the model's metadata.
//! let cfg = AdaptConfig::from_metadata(model.metadata()).unwrap_or_default();
//! let mut engine = Engine::new(model, BackendChoice::CpuAuto)?;
//! let record = Record::load(format!("{root}/records/119"), 360.0, None)?;
//! let conditioned = rhythm::detect::condition(&record.signal_mv, 360.0);
//! let peaks = record.reference_positions();
//! // Ten annotated beats (a clinician's labels on a device).
//! let mut windows = vec![vec![0.0; sc.window_len as usize]; 10];
//! for (i, w) in windows.iter_mut().enumerate() {
//!     extract_window(&conditioned, peaks[i] as usize, &sc, w)?;
//! }
//! let labelled: Vec<LabelledBeat> = windows
//!     .iter()
//!     .enumerate()
//!     .map(|(i, w)| LabelledBeat {
//!         input: AdaptInput::Window { window: w, rr: rr_features(&peaks, i, 360.0) },
//!         class: record.reference[i].class,
//!     })
//!     .collect();
//! let report = engine.adapt(&labelled, &cfg)?;
//! assert!(report.loss_after < report.loss_before);
//! assert!(engine.is_adapted());
//! engine.reset_adaptation(); // back to the model's own classifier
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod aami;
pub mod adapt;
pub mod af;
#[cfg(feature = "build")]
pub mod build;
pub mod detect;
pub mod engine;
mod error;
pub mod evaluate;
pub mod expert;
pub mod featurize;
pub mod graph;
pub mod kernels;
pub mod model;
pub mod open;
pub mod output;
pub mod quant;
pub mod record;
pub mod record_file;
pub mod rng;
pub mod spectrogram;
pub mod stream;
pub mod wfdb;

pub use aami::AamiClass;
pub use detect::QualityFlag;
pub use engine::{BackendChoice, Beat, Classification, Engine, SpectrogramImpl};
pub use error::{Error, Result};
pub use featurize::Signal;
pub use model::Model;
pub use record::Record;
pub use record_file::{classify_record_file, RecordFileOptions};
pub use stream::{Stream, StreamConfig};
