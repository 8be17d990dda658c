//! Writes a long recording for the whole-record figures: fixture record RECORD repeated TIMES
//! times end to end (both signals, format 16, its `.atr` beats repeated with it) as DIR/NAME.
//! Record 100 × 48 is a 24-hour Holter recording at 360 Hz (`bench/holter.sh`):
//!
//!     cargo run --release -p rhythm-bench --bin holter-record -- 100 48 target/holter 100x48

use rhythm::wfdb;
use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [record, times, dir, name] = args.as_slice() else {
        eprintln!("usage: holter-record RECORD TIMES DIR NAME");
        std::process::exit(2);
    };
    let Ok(times) = times.parse::<usize>() else {
        eprintln!("TIMES must be a whole number");
        std::process::exit(2);
    };
    let path = rhythm_bench::fixtures().join("records").join(record);
    let src = wfdb::Record::read(&path).expect("fixture record");
    let n = src.len();
    let mut header = src.header.clone();
    header.record = name.clone();
    header.n_samples = Some((n * times) as u64);
    for s in &mut header.signals {
        s.file_name = format!("{name}.dat");
        s.format = wfdb::SignalFormat::F16;
    }
    let adc: Vec<Vec<i32>> = src.adc.iter().map(|s| s.repeat(times)).collect();
    let dir = Path::new(dir);
    wfdb::Record::from_parts(header, adc)
        .expect("record")
        .write(dir)
        .expect("write record");
    let anns = wfdb::read_annotations(&path, "atr").expect("fixture annotations");
    let tiled: Vec<wfdb::Annotation> = (0..times)
        .flat_map(|k| {
            anns.iter().map(move |a| wfdb::Annotation {
                sample: a.sample + (k * n) as i64,
                ..a.clone()
            })
        })
        .collect();
    std::fs::write(
        dir.join(format!("{name}.atr")),
        wfdb::write_annotations(&tiled),
    )
    .expect("write annotations");
    println!(
        "{}: {} samples × {} signals at {} Hz ({:.1} h), {} annotations",
        dir.join(name).display(),
        n * times,
        src.adc.len(),
        src.fs(),
        (n * times) as f64 / src.fs() / 3600.0,
        tiled.len()
    );
}
