//! Writes the first SECONDS of a fixture record resampled to RATE Hz (lead 0, format 16,
//! with its `.atr` in the new timebase) as DIR/NAME, for scripts that need a record at
//! another rate (the wfdb-python interop check):
//!
//!     cargo run -p rhythm-testkit --example write_resampled_fixture -- 208 300 128 DIR NAME

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [record, seconds, rate, dir, name] = args.as_slice() else {
        eprintln!("usage: write_resampled_fixture RECORD SECONDS RATE DIR NAME");
        std::process::exit(2);
    };
    let (Ok(seconds), Ok(rate)) = (seconds.parse::<usize>(), rate.parse::<f64>()) else {
        eprintln!("SECONDS must be a whole number and RATE a number");
        std::process::exit(2);
    };
    std::fs::create_dir_all(dir).expect("output directory");
    rhythm_testkit::write_resampled_fixture(record, seconds, rate, std::path::Path::new(dir), name);
}
