//! Estimated on-target latency per beat from the cycle model, for several PE array sizes, on
//! the shipped int8 model, through the real driver + simulator path. Prints Markdown.
//!
//! `cargo run --release -p rhythm-accel --example cycle_report`

use rhythm::engine::Backend;
use rhythm::model::{Model, OpKind};
use rhythm::spectrogram::StftInt8;
use rhythm_accel::gemm::AccelGemm;
use rhythm_accel::spec::{self, Opcode};
use rhythm_accel::{AccelBackend, AccelConfig, CycleModel, Device, Sim, SimConfig};
use std::path::Path;

/// Assumed host cost of one job (doorbell → interrupt → user-space wake-up) on a Cortex-A53
/// class SoC running Linux; the simulator's wall clock says nothing about the target.
const IRQ_ROUND_TRIP_US: f64 = 20.0;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let fixtures = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures"));
    let model = Model::open(fixtures.join("models/rhythm-int8.rhm"))?;
    let golden: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
        fixtures.join("golden/rhythm-int8-golden.json"),
    )?)?;
    let case = &golden["cases"][0];
    let floats = |v: &serde_json::Value| -> Vec<f32> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_f64())
                    .map(|x| x as f32)
                    .collect()
            })
            .unwrap_or_default()
    };
    let (image, side) = (floats(&case["image"]), floats(&case["side"]));
    let tiny = CycleModel {
        rows: 4,
        cols: 4,
        clock_mhz: 100,
        dma_bytes_per_cycle: 4,
        desc_overhead: 64,
    };
    println!("# Cycle model on the shipped model (`fixtures/models/rhythm-int8.rhm`)\n");
    println!(
        "Job overhead assumed per doorbell: {IRQ_ROUND_TRIP_US} µs (interrupt + UIO wake-up), one job per beat.\n"
    );
    let mut summary = Vec::new();
    for cm in [tiny, CycleModel::SMALL, CycleModel::LARGE] {
        let sim = Sim::start(SimConfig {
            model: cm,
            ..SimConfig::default()
        })?;
        let mut dev = Device::open(sim.device_config()?)?;
        // STFT GEMM descriptor for this model's spectrogram.
        let sc = *model.spectrogram();
        let stft = StftInt8::new(sc)?;
        let (m, n, k) = (
            2 * sc.n_bins as usize,
            sc.n_frames as usize,
            sc.n_fft as usize,
        );
        let g = AccelGemm::new(&mut dev, m, n, k)?;
        g.set_a(&dev, stft.basis_i8())?;
        let stft_desc = *g.descriptor();
        let mut backend = AccelBackend::new(model.clone(), dev, AccelConfig::default())?;
        let mut logits = [0f32; 5];
        let before = backend.device().perf()?;
        let beats = 10;
        for _ in 0..beats {
            backend.infer(&image, &side, &mut logits)?;
        }
        let after = backend.device().perf()?;
        let measured = (after.cycles - before.cycles) / beats;
        println!(
            "## {}×{} PEs @ {} MHz, DMA {} B/cycle ({:.1} GB/s)\n",
            cm.rows,
            cm.cols,
            cm.clock_mhz,
            cm.dma_bytes_per_cycle,
            cm.dma_bytes_per_cycle as f64 * cm.clock_mhz as f64 / 1000.0
        );
        println!("| op | kind | opcode | out | MACs | compute cyc | DMA cyc | total cyc | µs | PE util |");
        println!("|---:|---|---|---|---:|---:|---:|---:|---:|---:|");
        let whole = spec::Window {
            start: 0,
            end: u64::MAX,
        };
        let (mut cycles, mut macs) = (0u64, 0u64);
        for (d, &op) in backend.descriptors().iter().zip(backend.descriptor_ops()) {
            let f = spec::validate(d, whole, whole)?;
            let c = cm.cost(d, &f);
            cycles += c.cycles;
            macs += c.macs;
            let kind = model.ops()[op].desc.kind;
            let geo = if kind == OpKind::Conv2d {
                let od = model.ops()[op].desc;
                format!(
                    " k{}x{} s{} g{}",
                    od.kernel.0, od.kernel.1, od.stride.0, od.groups
                )
            } else {
                String::new()
            };
            let util = if c.macs > 0 {
                format!(
                    "{:.0} %",
                    100.0 * c.macs as f64 / (c.cycles * (cm.rows * cm.cols) as u64) as f64
                )
            } else {
                "–".into()
            };
            println!(
                "| {op} | {kind}{geo} | {:?} | {}x{}x{} | {} | {} | {} | {} | {:.2} | {} |",
                d.op().unwrap_or(Opcode::Rescale),
                d.out_shape[0],
                d.out_shape[1],
                d.out_shape[2],
                c.macs,
                c.compute,
                c.dma,
                c.cycles,
                cm.micros(c.cycles),
                util
            );
        }
        let f = spec::validate(&stft_desc, whole, whole)?;
        let sc_cost = cm.cost(&stft_desc, &f);
        let cpu_ops: Vec<String> = backend
            .cpu_ops()
            .iter()
            .map(|&i| format!("{} (op {i})", model.ops()[i].desc.kind))
            .collect();
        let util = macs as f64 / (cycles * (cm.rows * cm.cols) as u64) as f64;
        let net_us = cm.micros(cycles);
        println!(
            "\nNetwork: {} descriptors, {macs} MACs, **{cycles} cycles = {net_us:.1} µs** on the device \
             (simulator's PERF_CYCLES per beat: {measured}), array utilisation {:.1} %.  ",
            backend.descriptors().len(),
            100.0 * util
        );
        println!(
            "STFT as one GEMM ({m}×{n}×{k}): {} MACs, {} cycles = {:.1} µs, utilisation {:.1} %.  ",
            sc_cost.macs,
            sc_cost.cycles,
            cm.micros(sc_cost.cycles),
            100.0 * sc_cost.macs as f64 / (sc_cost.cycles * (cm.rows * cm.cols) as u64) as f64
        );
        println!("On the CPU: {}.  ", cpu_ops.join(", "));
        let total = net_us + IRQ_ROUND_TRIP_US;
        println!(
            "Per beat (network + one job overhead): **{total:.1} µs**; with the STFT GEMM as a second job: {:.1} µs.\n",
            total + cm.micros(sc_cost.cycles) + IRQ_ROUND_TRIP_US
        );
        let faults = backend.fault_stats();
        if faults.faults != 0 {
            return Err(format!("unexpected faults: {:?}", faults.last_fault).into());
        }
        summary.push((cm, cycles, net_us, util, total));
    }
    println!("## Summary\n");
    println!("| array | clock | DMA B/cyc | cycles/beat | device µs/beat | utilisation | µs/beat incl. job overhead |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (cm, cycles, us, util, total) in summary {
        println!(
            "| {}×{} | {} MHz | {} | {cycles} | {us:.1} | {:.1} % | {total:.1} |",
            cm.rows,
            cm.cols,
            cm.clock_mhz,
            cm.dma_bytes_per_cycle,
            100.0 * util
        );
    }
    Ok(())
}
