//! Export: the trained burn network as a core model file (f32, fp16, int8 calibrated on
//! training beats), through core's own builder and quantizer.

use crate::backbone::ConvWeights;
use crate::model::{Front, Head, MbBlock};
use anyhow::Result;
use rhythm::build::{ModelInput, NetworkBuilder, RangeMethod, ValueId};
use rhythm::model::writer::ModelSpec;
use rhythm::model::{Activation, Precision};
use rhythm::spectrogram::SpectrogramConfig;

/// Calibration inputs taken from the training beats (every k-th, about `count`): the
/// export's choice, which the calibration study repeats.
pub fn calibration_indices(n: usize, count: usize) -> Vec<usize> {
    (0..n).step_by((n / count.max(1)).max(1)).collect()
}

/// PyTorch `[out][in/g][k][k]` → core `[out][k][k][in/g]`.
fn to_nhwc(w: &ConvWeights) -> Vec<f32> {
    let ig = w.in_c / w.groups;
    let kk = w.k * w.k;
    let mut out = vec![0.0; w.weight.len()];
    for o in 0..w.out_c {
        for i in 0..ig {
            for t in 0..kk {
                out[(o * kk + t) * ig + i] = w.weight[(o * ig + i) * kk + t];
            }
        }
    }
    out
}

fn conv(b: &mut NetworkBuilder, x: ValueId, w: &ConvWeights) -> ValueId {
    let act = if w.relu6 {
        Activation::Relu6
    } else {
        Activation::None
    };
    b.conv2d(
        x,
        w.out_c,
        w.k,
        w.stride,
        w.groups,
        act,
        to_nhwc(w),
        w.bias.clone(),
    )
}

fn block(b: &mut NetworkBuilder, x: ValueId, blk: &MbBlock) -> ValueId {
    let w = blk.to_weights();
    let h = match &w.expand {
        Some(e) => conv(b, x, e),
        None => x,
    };
    let h = conv(b, h, &w.depthwise);
    let y = conv(b, h, &w.project);
    if w.residual {
        b.add(x, y, Activation::None)
    } else {
        y
    }
}

/// The whole network as a core graph, taking `n_side` side features.
pub fn network(
    front: &Front,
    head: &Head,
    sc: SpectrogramConfig,
    n_side: usize,
    metadata: String,
) -> NetworkBuilder {
    let mut b = NetworkBuilder::new(sc, n_side);
    b.metadata = metadata;
    let mut x = b.image();
    x = conv(&mut b, x, &front.stem.to_weights());
    for blk in front.blocks.iter().chain(&head.blocks) {
        x = block(&mut b, x, blk);
    }
    x = conv(&mut b, x, &head.conv.to_weights());
    x = b.global_avg_pool(x);
    let mut side = b.side().unwrap_or(1);
    if let Some((w, bias, _)) = head.side_layer() {
        side = b.fully_connected(side, bias.len(), Activation::Relu, w, bias);
    }
    x = b.concat(x, side);
    let (w, bias, _) = head.classifier();
    x = b.fully_connected(x, bias.len(), Activation::None, w, bias);
    b.softmax(x);
    b
}

/// f32, fp16 and int8 model files; int8 calibrated on `calibration` with `method`.
pub fn model_files(
    net: &NetworkBuilder,
    calibration: &[ModelInput],
    method: RangeMethod,
    bias_correction: bool,
) -> Result<[(Precision, Vec<u8>); 3]> {
    let spec: ModelSpec = int8_file(net, calibration, method, bias_correction)?;
    Ok([
        (Precision::F32, net.float_spec(Precision::F32).to_bytes()?),
        (Precision::F16, net.float_spec(Precision::F16).to_bytes()?),
        (Precision::Int8, spec.to_bytes()?),
    ])
}

/// The int8 file of `net`: activation ranges of the float network on `calibration` by
/// `method`, and, with `bias_correction`, biases corrected for weight rounding on the same
/// beats.
pub fn int8_file(
    net: &NetworkBuilder,
    calibration: &[ModelInput],
    method: RangeMethod,
    bias_correction: bool,
) -> Result<ModelSpec> {
    let cal = net.calibrate_with(calibration, method)?;
    Ok(if bias_correction {
        net.bias_corrected(calibration)?.int8_spec(&cal)
    } else {
        net.int8_spec(&cal)
    })
}
