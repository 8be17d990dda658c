//! Time and memory of one on-device adaptation step (`Engine::adapt`), on real beats.
//!
//!     cargo run -p rhythm --example adapt_bench [-- MODEL]
//!
//! Prints, for several numbers of labelled beats: the time of `Engine::adapt` from beat
//! windows (backbone runs + head adaptation), from precomputed features (head adaptation
//! only), and the heap bytes allocated and peak heap growth during the call (counting
//! allocator). Numbers are in `docs/adaptation.md`.

use rhythm::adapt::AdaptConfig;
use rhythm::engine::{AdaptInput, BackendChoice, Engine, LabelledBeat};
use rhythm::model::Model;
use rhythm::record::Record;
use rhythm::spectrogram::{self, RrFeatures};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static TOTAL: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(l.size(), Relaxed) + l.size();
        PEAK.fetch_max(live, Relaxed);
        TOTAL.fetch_add(l.size(), Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures");
    let model_path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| format!("{root}/models/rhythm-int8.rhm"));
    let model = Model::open(&model_path)?;
    let sc = *model.spectrogram();
    let mut engine = Engine::new(model, BackendChoice::CpuAuto)?;
    let rec = Record::load(format!("{root}/records/119"), 360.0, None)?;
    let cond = rhythm::detect::condition(&rec.signal_mv, 360.0);
    let pos = rec.reference_positions();
    let mut windows: Vec<Vec<f32>> = Vec::new();
    let mut rr: Vec<RrFeatures> = Vec::new();
    let mut classes = Vec::new();
    for (i, b) in rec.reference.iter().enumerate().take(400) {
        let mut w = vec![0.0; sc.window_len as usize];
        spectrogram::extract_window(&cond, b.sample as usize, &sc, &mut w)?;
        windows.push(w);
        rr.push(spectrogram::rr_features(&pos, i, 360.0));
        classes.push(b.class);
    }
    let cfg = AdaptConfig::default();
    let dim = engine.feature_dim();
    println!(
        "model {model_path} ({}), backend {}, feature dim {dim}, {} steps, lr {}",
        engine.model().precision(),
        engine.backend_name(),
        cfg.steps,
        cfg.learning_rate
    );
    println!("beats  from_windows_ms  from_features_ms  alloc_bytes  peak_heap_growth_bytes  loss_before  loss_after");
    for n in [5usize, 10, 20, 50, 100, 200] {
        let beats: Vec<LabelledBeat<'_>> = (0..n)
            .map(|i| LabelledBeat {
                input: AdaptInput::Window {
                    window: &windows[i],
                    rr: rr[i],
                },
                class: classes[i],
            })
            .collect();
        let mut feats = vec![0.0f32; n * dim];
        for i in 0..n {
            engine.window_features(&windows[i], &rr[i], &mut feats[i * dim..(i + 1) * dim])?;
        }
        let fbeats: Vec<LabelledBeat<'_>> = (0..n)
            .map(|i| LabelledBeat {
                input: AdaptInput::Features(&feats[i * dim..(i + 1) * dim]),
                class: classes[i],
            })
            .collect();
        let reps = 20;
        let t = Instant::now();
        for _ in 0..reps {
            engine.adapt(&beats, &cfg)?;
        }
        let from_windows = t.elapsed().as_secs_f64() * 1e3 / reps as f64;
        let t = Instant::now();
        for _ in 0..reps {
            engine.adapt(&fbeats, &cfg)?;
        }
        let from_features = t.elapsed().as_secs_f64() * 1e3 / reps as f64;
        engine.reset_adaptation();
        let live0 = LIVE.load(Relaxed);
        PEAK.store(live0, Relaxed);
        let total0 = TOTAL.load(Relaxed);
        let report = engine.adapt(&beats, &cfg)?;
        let alloc = TOTAL.load(Relaxed) - total0;
        let peak = PEAK.load(Relaxed) - live0;
        println!(
            "{n:5}  {from_windows:15.3}  {from_features:16.3}  {alloc:11}  {peak:22}  {:11.4}  {:10.4}",
            report.loss_before, report.loss_after
        );
    }
    Ok(())
}
