//! Writes small model files (random networks on a small spectrogram, f32, fp16 and int8,
//! with and without side features) into a directory: seeds for the model fuzz targets
//! (`core/fuzz/run.sh`), which run far faster on a few-KB file than on the shipped model.
//!
//! `cargo run -p rhythm --example fuzz_seed_models -- OUT_DIR`

use rhythm::graph::Precision;
use rhythm_testkit::{random_inputs, random_network, small_spectrogram_config, SplitMix64};

fn main() {
    let out = std::path::PathBuf::from(std::env::args().nth(1).expect("usage: OUT_DIR"));
    std::fs::create_dir_all(&out).expect("create OUT_DIR");
    let sc = small_spectrogram_config();
    for seed in 0..4u64 {
        let net = random_network(seed, sc);
        let n_side = if seed % 2 == 0 { 4 } else { 0 };
        let mut rng = SplitMix64(seed);
        let cal = net
            .calibrate(&random_inputs(&mut rng, &sc, n_side, 8))
            .expect("calibrate");
        let specs = [
            ("f32", net.float_spec(Precision::F32)),
            ("fp16", net.float_spec(Precision::F16)),
            ("int8", net.int8_spec(&cal)),
        ];
        for (name, spec) in specs {
            let path = out.join(format!("small-{seed}-{name}.rhm"));
            std::fs::write(&path, spec.to_bytes().expect("valid model")).expect("write");
        }
    }
}
