//! rhythm-trainer: ImageNet transfer (EfficientNet-Lite0) + MAML meta-training in burn on
//! MIT-BIH, patient adaptation, AAMI evaluation and export to core model files. The
//! `rhythm-train` binary drives [`pipeline::run`].

pub mod augment;
pub mod backbone;
pub mod backends;
pub mod calibration;
pub mod config;
pub mod cv;
pub mod data;
pub mod eval;
pub mod expert;
pub mod export;
pub mod model;
pub mod pipeline;
pub mod plots;
pub mod publish;
pub mod train;
