//! Making model files (not needed to run one): [`NetworkBuilder`] (an f32 network with shape
//! inference), [`calibrate`] (activation ranges from real inputs, bias correction),
//! [`quantize`] (the int8 file, by the contract of [`crate::quant`]), [`dequantize`] (the
//! float twins of an int8 file), [`golden`] (golden int8 vectors) and, with the `onnx`
//! feature, ONNX export. The trainer's exporter, the CLI and the tests all use it, so there is
//! one quantizer. It sits above the engine: calibration runs the f32 model on the CPU backend.

pub mod calibrate;
pub mod dequantize;
pub mod golden;
mod network;
#[cfg(feature = "onnx")]
pub mod onnx;
pub mod quantize;

pub use calibrate::{Calibration, RangeMethod, HISTOGRAM_BINS};
pub use dequantize::{dequantized_spec, FakeQuant};
pub use network::{NetworkBuilder, ValueId};

/// One model input: a spectrogram image and its side features.
pub type ModelInput = (Vec<f32>, Vec<f32>);
