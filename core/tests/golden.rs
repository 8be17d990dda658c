//! Golden vectors: real beats → exact int8 logits of the shipped model. Any backend must
//! reproduce these bytes; this test holds the scalar reference to them.

use rhythm::engine::{BackendChoice, Engine};
use rhythm::model::Model;
use rhythm_testkit::{fixtures, golden};

#[test]
fn scalar_reference_reproduces_golden_int8_logits() {
    let golden = golden();
    let model = Model::open(fixtures().join("models/rhythm-int8.rhm")).unwrap();
    assert_eq!(
        golden.model_crc32,
        model.header().crc32,
        "golden file belongs to another model: regenerate both with gen-model"
    );
    let mut engine = Engine::new(model, BackendChoice::CpuScalar).unwrap();
    assert!(golden.cases.len() >= 10);
    let mut distinct = std::collections::HashSet::new();
    for (i, case) in golden.cases.iter().enumerate() {
        let c = engine.classify_image(&case.image, &case.side).unwrap();
        let got = engine.last_int8_logits().unwrap();
        assert_eq!(got, &case.int8_logits[..], "case {i}");
        assert_eq!(c.class.to_string(), case.class);
        distinct.insert(case.int8_logits.clone());
    }
    // Real beats give different logits: the vectors exercise the network, not a constant.
    assert!(distinct.len() > 1);
}

#[test]
fn shipped_precisions_agree_on_golden_inputs() {
    let golden = golden();
    let mut engines: Vec<Engine> = ["rhythm-f32.rhm", "rhythm-fp16.rhm", "rhythm-int8.rhm"]
        .iter()
        .map(|f| {
            Engine::new(
                Model::open(fixtures().join("models").join(f)).unwrap(),
                BackendChoice::CpuScalar,
            )
            .unwrap()
        })
        .collect();
    for case in &golden.cases {
        let mut logits = Vec::new();
        for e in engines.iter_mut() {
            e.classify_image(&case.image, &case.side).unwrap();
            logits.push(*e.last_logits());
        }
        let range = logits[0]
            .iter()
            .fold(0.0f32, |m, x| m.max(x.abs()))
            .max(1e-3);
        for k in 0..5 {
            // fp16: 1 % of the logit range. int8: 25 % (the trained model's int8 logits are up
            // to 19 % of the range off on these beats: min/max calibration leaves coarse steps
            // on the projection layers; its class agreement with f32 over DS2, 97.6 %, is in
            // fixtures/models/README.md).
            assert!(
                (logits[1][k] - logits[0][k]).abs() <= 0.01 * range + 1e-3,
                "fp16 {:?} vs f32 {:?}",
                logits[1],
                logits[0]
            );
            assert!(
                (logits[2][k] - logits[0][k]).abs() <= 0.25 * range,
                "int8 {:?} vs f32 {:?}",
                logits[2],
                logits[0]
            );
        }
    }
}
