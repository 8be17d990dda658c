//! AAMI EC57-style evaluation: a record through an engine to its beats and their score
//! ([`run_record`]: what `rhythm classify` prints, `rhythm eval` sums, and the trainer's
//! end-to-end check reports), the confusion matrix and statistics ([`Confusion`]), and
//! EC57's atrial fibrillation measures ([`AfScore`]).

mod af;
mod confusion;
mod run;

pub use af::{AfScore, AF_SKIP_SECONDS};
pub use confusion::{ClassStats, Confusion, Detection, Ec57};
pub use run::{
    run_record, run_span, AdaptOnFirst, Adapted, AfScores, BeatSource, RecordRun, RunOptions,
    SPAN_CONTEXT_S,
};

/// de Chazal et al. 2004 inter-patient training set of MIT-BIH (paced records excluded).
pub const DS1: [&str; 22] = [
    "101", "106", "108", "109", "112", "114", "115", "116", "118", "119", "122", "124", "201",
    "203", "205", "207", "208", "209", "215", "220", "223", "230",
];
/// de Chazal et al. 2004 inter-patient test set of MIT-BIH (paced records excluded).
pub const DS2: [&str; 22] = [
    "100", "103", "105", "111", "113", "117", "121", "123", "200", "202", "210", "212", "213",
    "214", "219", "221", "222", "228", "231", "232", "233", "234",
];
