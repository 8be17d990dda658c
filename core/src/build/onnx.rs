//! Export to ONNX (feature `onnx`): the same network as an f32 ONNX graph, for peer runtimes
//! (tract, ONNX Runtime) and for the trainer.
//!
//! Layout: ONNX convolutions are NCHW. The inputs keep rhythm's bytes: `image` is
//! `[1, 1, n_bins, n_frames]` (rhythm's `(h, w, 1)` image) and `side` is `[1, n_side, 1, 1]`;
//! conv weights are transposed from `[out][kh][kw][in/groups]` to `[out][in/groups][kh][kw]`;
//! a fully connected layer's input is transposed back to NHWC before `Flatten`, so its weights
//! (`[out][(y·w + x)·c + ch]`) are used unchanged. Outputs: `logits` `[1, n_classes]` and
//! `probs` (softmax of the logits). An int8 or fp16 model is exported with its weights
//! dequantized/widened to f32 ([`super::dequantized_spec`] for int8), so the ONNX
//! graph computes what rhythm's f32 path computes on the same weights.

use super::dequantized_spec;
use crate::model::{Activation, Model, ModelError, OpKind, Precision};
use prost::Message;
use std::sync::Arc;
use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::tensor_shape_proto::{dimension, Dimension};
use tract_onnx::pb::type_proto::{Tensor as TensorType, Value as TypeValue};
use tract_onnx::pb::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};

/// ONNX opset the export targets.
pub(crate) const OPSET: i64 = 13;
/// ONNX `TensorProto.DataType` of f32.
const FLOAT: i32 = 1;

fn attr_ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: v.to_vec(),
        ..Default::default()
    }
}

fn attr_int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i: v,
        ..Default::default()
    }
}

fn node(op: &str, inputs: &[&str], output: &str, attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.to_string()],
        name: output.to_string(),
        op_type: op.into(),
        attribute,
        ..Default::default()
    }
}

fn tensor(name: &str, dims: &[i64], data: Vec<f32>) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: FLOAT,
        float_data: data,
        ..Default::default()
    }
}

/// ONNX `TensorProto.DataType` of int8.
const INT8: i32 = 3;

fn int8_tensor(name: &str, dims: &[i64], data: &[i8]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: INT8,
        raw_data: data.iter().map(|&x| x as u8).collect(),
        ..Default::default()
    }
}

fn value_info(name: &str, dims: &[i64]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(TypeValue::TensorType(TensorType {
                elem_type: FLOAT,
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| Dimension {
                            value: Some(dimension::Value::DimValue(d)),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Appends the activation `act` after value `x`; returns the name of its output.
fn activation(
    nodes: &mut Vec<NodeProto>,
    inits: &mut Vec<TensorProto>,
    x: String,
    act: Activation,
    out: String,
) -> String {
    match act {
        Activation::None => return x,
        Activation::Relu => nodes.push(node("Relu", &[&x], &out, vec![])),
        Activation::Relu6 => {
            if !inits.iter().any(|t| t.name == "relu6_min") {
                inits.push(tensor("relu6_min", &[], vec![0.0]));
                inits.push(tensor("relu6_max", &[], vec![6.0]));
            }
            nodes.push(node("Clip", &[&x, "relu6_min", "relu6_max"], &out, vec![]));
        }
    }
    out
}

/// The model as an f32 ONNX graph (opset 13), serialized. See the module docs for the layout.
pub fn to_onnx_f32(model: &Model) -> Result<Vec<u8>, ModelError> {
    to_onnx(model, None)
}

/// An int8 model as an ONNX QDQ graph (opset 13), serialized: int8 weights with per-channel
/// `DequantizeLinear` (axis 0), f32 biases, and every activation (inputs included) passed
/// through `QuantizeLinear` → `DequantizeLinear` with its int8 scale and zero point. It
/// computes what [`super::FakeQuant`] computes; runtimes with int8 kernels (ONNX
/// Runtime) fuse the pairs into int8 operators.
pub fn to_onnx_qdq(model: &Model) -> Result<Vec<u8>, ModelError> {
    if model.precision() != Precision::Int8 {
        return Err(ModelError::Invalid("QDQ export needs an int8 model".into()));
    }
    to_onnx(model, Some(model))
}

/// QDQ nodes `x` → `{x}_q` → `out` with the activation quantization of value `v`.
fn qdq(
    nodes: &mut Vec<NodeProto>,
    inits: &mut Vec<TensorProto>,
    int8: &Model,
    v: usize,
    x: &str,
    out: &str,
) {
    let Some(q) = int8.values()[v].quant else {
        nodes.push(node("Identity", &[x], out, vec![]));
        return;
    };
    let (sn, zn) = (format!("{out}_scale"), format!("{out}_zero"));
    inits.push(tensor(&sn, &[], vec![q.scale]));
    inits.push(int8_tensor(&zn, &[], &[q.zero_point as i8]));
    let qn = format!("{out}_q");
    nodes.push(node("QuantizeLinear", &[x, &sn, &zn], &qn, vec![]));
    nodes.push(node("DequantizeLinear", &[&qn, &sn, &zn], out, vec![]));
}

/// Per-channel int8 weights `name_q` dequantized into `name` (axis 0, zero points 0).
fn dequantized_weights(
    nodes: &mut Vec<NodeProto>,
    inits: &mut Vec<TensorProto>,
    name: &str,
    dims: &[i64],
    data: &[i8],
    scales: &[f32],
) {
    let (qn, sn, zn) = (
        format!("{name}_q"),
        format!("{name}_scale"),
        format!("{name}_zero"),
    );
    inits.push(int8_tensor(&qn, dims, data));
    inits.push(tensor(&sn, &[scales.len() as i64], scales.to_vec()));
    inits.push(int8_tensor(
        &zn,
        &[scales.len() as i64],
        &vec![0; scales.len()],
    ));
    nodes.push(node(
        "DequantizeLinear",
        &[&qn, &sn, &zn],
        name,
        vec![attr_int("axis", 0)],
    ));
}

/// `[oc][kh][kw][cin_g]` → `[oc][cin_g][kh][kw]`.
fn conv_weights_nchw<T: Copy + Default>(
    w: &[T],
    oc: usize,
    kh: usize,
    kw: usize,
    cin_g: usize,
) -> Vec<T> {
    let mut t = vec![T::default(); w.len()];
    for o in 0..oc {
        for y0 in 0..kh {
            for x0 in 0..kw {
                for c in 0..cin_g {
                    t[((o * cin_g + c) * kh + y0) * kw + x0] =
                        w[((o * kh + y0) * kw + x0) * cin_g + c];
                }
            }
        }
    }
    t
}

/// The graph; with `int8` set, the QDQ form of that int8 model.
fn to_onnx(model: &Model, int8: Option<&Model>) -> Result<Vec<u8>, ModelError> {
    // One f32 view of the weights whatever the precision.
    let f32_model: Option<Arc<Model>> = match model.precision() {
        Precision::Int8 => Some(Model::from_bytes(&dequantized_spec(model)?.to_bytes()?)?),
        _ => None,
    };
    let m = f32_model.as_deref().unwrap_or(model);
    let weights = |i: usize| -> Vec<f32> {
        match m.precision() {
            Precision::F16 => m.weights_f16(i).iter().map(|w| w.to_f32()).collect(),
            _ => m.weights_f32(i).to_vec(),
        }
    };
    let name = |v: u32| format!("v{v}");
    let mut nodes = Vec::new();
    let mut inits = Vec::new();
    let vals = m.values();
    // Graph inputs are the model's input values under fixed names.
    let suffix = if int8.is_some() { "_dq" } else { "" };
    let rename = |v: usize| -> String {
        if v == m.image_input() {
            format!("image{suffix}")
        } else if Some(v) == m.side_input() {
            format!("side{suffix}")
        } else {
            name(v as u32)
        }
    };
    let mut inputs = vec![];
    let img = vals[m.image_input()].shape;
    inputs.push(value_info(
        "image",
        &[1, img.c as i64, img.h as i64, img.w as i64],
    ));
    if let Some(s) = m.side_input() {
        let sh = vals[s].shape;
        inputs.push(value_info(
            "side",
            &[1, sh.c as i64, sh.h as i64, sh.w as i64],
        ));
    }
    if let Some(q) = int8 {
        qdq(
            &mut nodes,
            &mut inits,
            q,
            m.image_input(),
            "image",
            "image_dq",
        );
        if let Some(s) = m.side_input() {
            qdq(&mut nodes, &mut inits, q, s, "side", "side_dq");
        }
    }
    let mut logits = String::new();
    for (i, op) in m.ops().iter().enumerate() {
        let d = &op.desc;
        let x = rename(d.inputs[0] as usize);
        // In QDQ form each op writes `{value}_f`, quantized and dequantized into `{value}`.
        let value = rename(d.output as usize);
        let y = if int8.is_some() {
            format!("{value}_f")
        } else {
            value.clone()
        };
        // Without a fused activation the op writes its value directly.
        let pre = if d.activation == Activation::None {
            y.clone()
        } else {
            format!("{y}_pre")
        };
        let in_s = vals[d.inputs[0] as usize].shape;
        let out_s = vals[d.output as usize].shape;
        let (kh, kw) = (d.kernel.0 as i64, d.kernel.1 as i64);
        let strides = attr_ints("strides", &[d.stride.0 as i64, d.stride.1 as i64]);
        let pads = attr_ints("pads", &d.pad.map(|p| p as i64));
        // Each arm emits the op's nodes and yields the name of its output value.
        let output = match d.kind {
            OpKind::Conv2d => {
                let groups = d.groups.max(1) as usize;
                let cin_g = in_s.c / groups;
                let (oc, khu, kwu) = (out_s.c, kh as usize, kw as usize);
                let (wn, bn) = (format!("w{i}"), format!("b{i}"));
                let dims = [oc as i64, cin_g as i64, kh, kw];
                match int8 {
                    Some(q) => {
                        let t = conv_weights_nchw(q.weights_i8(i), oc, khu, kwu, cin_g);
                        let sc = q.weight_scales(i);
                        dequantized_weights(&mut nodes, &mut inits, &wn, &dims, &t, sc);
                    }
                    None => {
                        let t = conv_weights_nchw(&weights(i), oc, khu, kwu, cin_g);
                        inits.push(tensor(&wn, &dims, t));
                    }
                }
                inits.push(tensor(&bn, &[oc as i64], m.bias_f32(i).to_vec()));
                let attrs = vec![
                    attr_ints("kernel_shape", &[kh, kw]),
                    strides,
                    pads,
                    attr_int("group", groups as i64),
                ];
                nodes.push(node("Conv", &[&x, &wn, &bn], &pre, attrs));
                activation(&mut nodes, &mut inits, pre, d.activation, y)
            }
            OpKind::FullyConnected => {
                let nhwc = format!("{y}_nhwc");
                let flat = format!("{y}_flat");
                nodes.push(node(
                    "Transpose",
                    &[&x],
                    &nhwc,
                    vec![attr_ints("perm", &[0, 2, 3, 1])],
                ));
                nodes.push(node("Flatten", &[&nhwc], &flat, vec![attr_int("axis", 1)]));
                let (wn, bn) = (format!("w{i}"), format!("b{i}"));
                let dims = [out_s.c as i64, in_s.len() as i64];
                match int8 {
                    Some(q) => {
                        let (w, sc) = (q.weights_i8(i), q.weight_scales(i));
                        dequantized_weights(&mut nodes, &mut inits, &wn, &dims, w, sc);
                    }
                    None => inits.push(tensor(&wn, &dims, weights(i))),
                }
                inits.push(tensor(&bn, &[out_s.c as i64], m.bias_f32(i).to_vec()));
                let fc = format!("{y}_fc");
                nodes.push(node(
                    "Gemm",
                    &[&flat, &wn, &bn],
                    &fc,
                    vec![attr_int("transB", 1)],
                ));
                // Back to [1, c, 1, 1] so every value stays 4-D NCHW.
                inits.push(tensor(&format!("shape{i}"), &[4], vec![]));
                let shape_name = format!("shape{i}");
                let last = inits.last_mut().expect("just pushed");
                last.data_type = 7; // INT64
                last.int64_data = vec![1, out_s.c as i64, 1, 1];
                nodes.push(node("Reshape", &[&fc, &shape_name], &pre, vec![]));
                activation(&mut nodes, &mut inits, pre, d.activation, y)
            }
            OpKind::Add => {
                let b = rename(d.inputs[1] as usize);
                nodes.push(node("Add", &[&x, &b], &pre, vec![]));
                activation(&mut nodes, &mut inits, pre, d.activation, y)
            }
            OpKind::AvgPool2d => {
                let attrs = vec![
                    attr_ints("kernel_shape", &[kh, kw]),
                    strides,
                    pads,
                    attr_int("count_include_pad", 1),
                ];
                nodes.push(node("AveragePool", &[&x], &y, attrs));
                y
            }
            OpKind::GlobalAvgPool => {
                nodes.push(node("GlobalAveragePool", &[&x], &y, vec![]));
                y
            }
            OpKind::Concat => {
                let b = rename(d.inputs[1] as usize);
                nodes.push(node("Concat", &[&x, &b], &y, vec![attr_int("axis", 1)]));
                y
            }
            OpKind::Activation => {
                let r = activation(&mut nodes, &mut inits, x.clone(), d.activation, y.clone());
                if r == x {
                    nodes.push(node("Identity", &[&x], &y, vec![]));
                }
                y
            }
            OpKind::Softmax => {
                logits = x;
                continue;
            }
        };
        if let Some(q) = int8 {
            qdq(
                &mut nodes,
                &mut inits,
                q,
                d.output as usize,
                &output,
                &value,
            );
        }
    }
    let n = m.n_classes() as i64;
    // logits [1, n, 1, 1] → [1, n]; probs = softmax over axis 1.
    nodes.push(node(
        "Flatten",
        &[&logits],
        "logits",
        vec![attr_int("axis", 1)],
    ));
    nodes.push(node(
        "Softmax",
        &["logits"],
        "probs",
        vec![attr_int("axis", 1)],
    ));
    let graph = GraphProto {
        name: "rhythm".into(),
        node: nodes,
        initializer: inits,
        input: inputs,
        output: vec![value_info("logits", &[1, n]), value_info("probs", &[1, n])],
        ..Default::default()
    };
    let proto = ModelProto {
        ir_version: 7,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        producer_name: "rhythm".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: m.metadata().to_string(),
        graph: Some(graph),
        ..Default::default()
    };
    Ok(proto.encode_to_vec())
}
