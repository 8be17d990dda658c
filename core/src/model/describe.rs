//! A model's summary for display.

use super::access::Model;
use crate::graph::{Activation, OpKind};

/// Summary of a model for display.
pub fn describe(model: &Model) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let h = model.header();
    let _ = writeln!(
        s,
        "rhythm model v{}.{}  precision {}  {} classes  {} side features  {} bytes  crc32 {:#010x}",
        h.version_major,
        h.version_minor,
        model.precision(),
        model.n_classes(),
        model.n_side(),
        model.bytes().len(),
        h.crc32
    );
    let sc = model.spectrogram();
    let _ = writeln!(
        s,
        "spectrogram: {} Hz, window {} (R at {}), n_fft {}, hop {}, image {}x{} (bins x frames), log floor {:e}, norm ({}, {})",
        sc.sample_rate_hz, sc.window_len, sc.r_offset, sc.n_fft, sc.hop, sc.n_bins, sc.n_frames, sc.log_floor, sc.norm_mean, sc.norm_std
    );
    if !model.metadata().is_empty() {
        let _ = writeln!(s, "metadata: {}", model.metadata());
    }
    match model.rhythm_expert() {
        Some(e) => {
            let used = e.weights.iter().filter(|w| **w != 0.0).count();
            let _ = writeln!(
                s,
                "rhythm expert: linear discriminant S vs N on {used} of {} rhythm inputs (CPU), AF threshold {}",
                e.weights.len(),
                e.af_threshold
            );
        }
        None => {
            let _ = writeln!(s, "rhythm expert: none (the CNN alone; no AF detection)");
        }
    }
    let _ = writeln!(
        s,
        "{:>3}  {:<15} {:<28} {:<10} {:>9} {:>9}  quant",
        "#", "op", "geometry", "out", "params", "MACs"
    );
    let mut total_params = 0usize;
    let mut total_macs = 0usize;
    for (i, op) in model.ops().iter().enumerate() {
        let d = &op.desc;
        let out = model.values()[d.output as usize];
        let geom = match d.kind {
            OpKind::Conv2d | OpKind::AvgPool2d => format!(
                "k{}x{} s{}x{} p{},{},{},{} g{}",
                d.kernel.0,
                d.kernel.1,
                d.stride.0,
                d.stride.1,
                d.pad[0],
                d.pad[1],
                d.pad[2],
                d.pad[3],
                d.groups
            ),
            _ => String::new(),
        };
        let params = op.weights.map_or(0, |b| b.len) + op.bias.map_or(0, |b| b.len);
        let macs = model.op_macs(i);
        total_params += params;
        total_macs += macs;
        let act = if d.activation == Activation::None {
            String::new()
        } else {
            format!("+{:?}", d.activation)
        };
        let q = out.quant.map_or(String::from("-"), |q| {
            format!("s={:.4e} zp={}", q.scale, q.zero_point)
        });
        let _ = writeln!(
            s,
            "{:>3}  {:<15} {:<28} {:<10} {:>9} {:>9}  {}",
            i,
            format!("{}{}", d.kind, act),
            geom,
            out.shape.to_string(),
            params,
            macs,
            q
        );
    }
    let _ = writeln!(
        s,
        "total: {} ops, {} parameters, {} MACs per beat, {} weight bytes",
        model.ops().len(),
        total_params,
        total_macs,
        model.weight_bytes()
    );
    s
}
