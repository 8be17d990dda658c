//! Streams a WFDB record through [`rhythm::stream::Stream`] as a device would: raw ADC counts
//! in chunks, beats reported as they become final, then a summary with latencies.
//!
//!     cargo run -p rhythm --example stream [-- RECORD [MODEL] [CHUNK]]
//!
//! Defaults: `fixtures/records/100`, `fixtures/models/rhythm-int8.rhm`, 36 samples (100 ms
//! at 360 Hz) per chunk.

use rhythm::engine::{BackendChoice, Engine};
use rhythm::model::Model;
use rhythm::stream::{AdcScale, Stream, StreamConfig};
use rhythm::wfdb;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures");
    let mut args = std::env::args().skip(1);
    let record = args.next().unwrap_or_else(|| format!("{root}/records/100"));
    let model = args
        .next()
        .unwrap_or_else(|| format!("{root}/models/rhythm-int8.rhm"));
    let chunk: usize = args.next().map_or(Ok(36), |c| c.parse())?;

    let mut engine = Engine::new(Model::open(&model)?, BackendChoice::CpuAuto)?;
    let rec = wfdb::Record::read(&record)?;
    let lead = rec.signal_index("MLII").unwrap_or(0);
    let spec = &rec.header.signals[lead];
    let scale = AdcScale {
        gain: spec.gain,
        baseline: spec.baseline,
    };
    // i16 ADC counts, as a device's front end delivers them.
    let adc: Vec<i16> = rec.adc[lead]
        .iter()
        .map(|&v| v.clamp(i16::MIN as i32, i16::MAX as i32) as i16)
        .collect();
    let mut stream = Stream::new(&engine, rec.fs(), StreamConfig::default())?;
    let fs = stream.fs() as f64;
    println!(
        "record {record} lead {} at {fs} Hz, backend {}, rings {} samples, latency bound {:.2} s",
        spec.description,
        engine.backend_name(),
        stream.ring_len(),
        stream.max_latency_samples() as f64 / fs
    );
    let mut counts = [0u64; 5];
    let mut latency_sum = 0u64;
    let mut report = |b: &rhythm::stream::StreamBeat| {
        counts[b.beat.class().index()] += 1;
        latency_sum += b.latency_samples;
        if counts.iter().sum::<u64>() <= 10 {
            println!(
                "beat at {:8.3} s  {}  p={:.3}  {:?}  reported {:.2} s later",
                b.beat.sample as f64 / fs,
                b.beat.class(),
                b.beat.classification.map_or(0.0, |c| c.confidence()),
                b.beat.quality,
                b.latency_samples as f64 / fs
            );
        }
    };
    for c in adc.chunks(chunk.max(1)) {
        stream.push_adc(&mut engine, c, scale, &mut report)?;
    }
    stream.finish(&mut engine, &mut report)?;
    let st = stream.stats();
    println!(
        "{} beats: N {} S {} V {} F {} Q {}; mean latency {:.2} s, max {:.2} s; post-RR timeouts {}, overflows {}",
        st.beats,
        counts[0],
        counts[1],
        counts[2],
        counts[3],
        counts[4],
        latency_sum as f64 / st.beats.max(1) as f64 / fs,
        st.max_latency_samples as f64 / fs,
        st.post_rr_timeouts,
        st.overflows
    );
    Ok(())
}
