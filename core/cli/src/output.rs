//! How the commands print: [`Out`] (stdout that reports a closed pipe instead of panicking),
//! [`Failure`], the JSON and text pieces `classify` and `eval` share (the backend, the
//! per-class statistics), and numbers as a reader expects them (`–` where there is none).

use rhythm::aami::AamiClass;
use rhythm::evaluate::Confusion;
use std::fmt;
use std::io::{self, BufWriter, Write};

/// Why a command stopped early.
pub enum Failure {
    /// Printed on stderr; exit status 1.
    Message(String),
    /// The reader of stdout went away (`rhythm classify REC | head`): end quietly with
    /// status 0, as other Unix tools do.
    StdoutClosed,
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure::Message(message)
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Failure {
        Failure::Message(message.to_owned())
    }
}

impl From<rhythm::Error> for Failure {
    fn from(e: rhythm::Error) -> Failure {
        Failure::Message(e.to_string())
    }
}

impl From<rhythm::output::OutputError> for Failure {
    fn from(e: rhythm::output::OutputError) -> Failure {
        Failure::Message(e.to_string())
    }
}

/// Where results are printed. Unlike `println!`, a failed write is an error the command
/// returns (a closed pipe, a full disk), never a panic.
pub struct Out(BufWriter<io::StdoutLock<'static>>);

impl Out {
    pub fn new() -> Out {
        Out(BufWriter::new(io::stdout().lock()))
    }

    pub fn write(&mut self, args: fmt::Arguments<'_>) -> Result<(), Failure> {
        self.0.write_fmt(args).map_err(write_failure)
    }

    /// `value` as indented JSON and a newline.
    pub fn json(&mut self, value: &serde_json::Value) -> Result<(), Failure> {
        serde_json::to_writer_pretty(&mut self.0, value).map_err(|e| write_failure(e.into()))?;
        self.write(format_args!("\n"))
    }

    pub fn finish(&mut self) -> Result<(), Failure> {
        self.0.flush().map_err(write_failure)
    }
}

fn write_failure(e: io::Error) -> Failure {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Failure::StdoutClosed
    } else {
        Failure::Message(format!("writing the output: {e}"))
    }
}

/// `println!` into an [`Out`], returning its error from the enclosing function.
macro_rules! outln {
    ($out:expr, $($arg:tt)*) => {
        $out.write(format_args!("{}\n", format_args!($($arg)*)))?
    };
}
pub(crate) use outln;

/// A percentage with two decimals, `–` when there is none (a class without beats).
pub fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.2}")
    } else {
        "–".into()
    }
}

/// Per-class Se, +P, Spe, Acc and support, keyed by class, for the JSON.
pub fn per_class_json(c: &Confusion) -> serde_json::Map<String, serde_json::Value> {
    AamiClass::ALL
        .iter()
        .map(|k| {
            (
                k.to_string(),
                serde_json::to_value(c.class_stats(*k)).unwrap_or_default(),
            )
        })
        .collect()
}

/// The backend fields every JSON document that ran the network ends with.
pub fn backend_json(
    doc: &mut serde_json::Value,
    name: &str,
    report: Option<String>,
    fallback: Option<&str>,
) {
    doc["backend"] = serde_json::json!(name);
    doc["backend_report"] = serde_json::json!(report);
    doc["backend_fallback"] = serde_json::json!(fallback);
}

/// The backend's account of where the work ran (accelerator: ops placement, faults), and why
/// `auto` or a fallback chose the CPU when a device was asked for or present.
pub fn print_backend_report(
    out: &mut Out,
    report: Option<&str>,
    fallback: Option<&str>,
) -> Result<(), Failure> {
    if let Some(report) = report {
        outln!(out, "backend report:");
        for line in report.lines() {
            outln!(out, "  {line}");
        }
    }
    if let Some(why) = fallback {
        outln!(out, "CPU instead of the accelerator: {why}");
    }
    Ok(())
}
