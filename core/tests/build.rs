//! The network builder round trips: bias correction, float models rebuilt from their files.

use rhythm::build::{dequantized_spec, ModelInput, NetworkBuilder};
use rhythm::graph::{Activation, Precision};
use rhythm::model::Model;
use rhythm_testkit::{random_inputs, random_network, small_spectrogram_config, SplitMix64};

#[test]
fn bias_correction_removes_the_mean_error_of_rounded_weights() {
    let sc = small_spectrogram_config();
    let mut rng = SplitMix64(11);
    let mut net = NetworkBuilder::new(sc, 0);
    let x = net.image();
    let conv = net.conv2d_random(&mut rng, x, 8, 3, 2, 1, Activation::None);
    let pooled = net.global_avg_pool(conv);
    let logits = net.fully_connected_random(&mut rng, pooled, 5, Activation::None);
    net.softmax(logits);
    // Inputs with a non-zero mean (a zero mean would make the correction vanish).
    let samples: Vec<ModelInput> = random_inputs(&mut rng, &sc, 0, 24)
        .into_iter()
        .map(|(img, side)| (img.iter().map(|v| v + 1.5).collect(), side))
        .collect();
    let cal = net.calibrate(&samples).unwrap();
    // Per-channel mean of the conv output: f32, and f32 with the int8 file's weights and
    // biases (dequantized), without and with the correction.
    let channel_means = |n: &NetworkBuilder| -> Vec<f64> {
        let m = &n.value_means(&samples).unwrap()[conv as usize];
        (0..8)
            .map(|c| m.iter().skip(c).step_by(8).sum::<f64>() / (m.len() / 8) as f64)
            .collect()
    };
    let rounded = |n: &NetworkBuilder| -> NetworkBuilder {
        let int8 = Model::from_bytes(&n.int8_spec(&cal).to_bytes().unwrap()).unwrap();
        let deq = dequantized_spec(&int8).unwrap().to_bytes().unwrap();
        NetworkBuilder::from_float_model(&Model::from_bytes(&deq).unwrap()).unwrap()
    };
    let want = channel_means(&net);
    let plain = channel_means(&rounded(&net));
    let corrected = channel_means(&rounded(&net.bias_corrected(&samples).unwrap()));
    let err = |got: &[f64]| {
        got.iter()
            .zip(&want)
            .fold(0f64, |m, (a, b)| m.max((a - b).abs()))
    };
    let (e_plain, e_corr) = (err(&plain), err(&corrected));
    assert!(e_plain > 1e-4, "rounding should shift the means: {e_plain}");
    assert!(
        e_corr < 1e-4 && e_corr < e_plain / 20.0,
        "{e_corr} vs {e_plain}"
    );
}

#[test]
fn from_float_model_rebuilds_the_same_file() {
    let net = random_network(3, small_spectrogram_config());
    for p in [Precision::F32, Precision::F16] {
        let bytes = net.float_spec(p).to_bytes().unwrap();
        let model = Model::from_bytes(&bytes).unwrap();
        let again = NetworkBuilder::from_float_model(&model).unwrap();
        assert_eq!(again.float_spec(p).to_bytes().unwrap(), bytes, "{p:?}");
    }
    let cal = net.calibrate(&[]).unwrap();
    let int8 = Model::from_bytes(&net.int8_spec(&cal).to_bytes().unwrap()).unwrap();
    assert!(NetworkBuilder::from_float_model(&int8).is_err());
}
