//! AAMI EC57 reporting of predictions: gross and average statistics per class.

use rhythm::aami::AamiClass;
use rhythm::evaluate::Confusion;
use std::fmt::Write;

/// Confusion of predicted vs reference class indices.
pub fn confusion(labels: &[u8], predicted: &[u8]) -> Confusion {
    Confusion::from_labels(labels.iter().zip(predicted).filter_map(|(&l, &p)| {
        Some((
            AamiClass::from_index(l as usize)?,
            AamiClass::from_index(p as usize)?,
        ))
    }))
}

/// Headline numbers of one evaluation, as the paper and the anchors report them.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Headline {
    /// Accuracy over all beats, %.
    pub acc: f64,
    /// SVEB (S) sensitivity, %.
    pub sveb_se: f64,
    /// SVEB positive predictivity, %.
    pub sveb_ppv: f64,
    /// VEB (V) sensitivity, %.
    pub veb_se: f64,
    /// VEB positive predictivity, %.
    pub veb_ppv: f64,
    /// Beats evaluated.
    pub beats: u64,
}

/// The headline numbers of a confusion matrix.
pub fn headline(c: &Confusion) -> Headline {
    let s = c.class_stats(AamiClass::S);
    let v = c.class_stats(AamiClass::V);
    Headline {
        acc: c.accuracy(),
        sveb_se: s.se,
        sveb_ppv: s.ppv,
        veb_se: v.se,
        veb_ppv: v.ppv,
        beats: c.matrix.iter().flatten().sum(),
    }
}

/// Average over records of per-record statistics (classes absent from a record are skipped).
pub fn average_headline(per_record: &[Confusion]) -> Headline {
    let mean = |f: &dyn Fn(&Confusion) -> f64| {
        let v: Vec<f64> = per_record.iter().map(f).filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            f64::NAN
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    Headline {
        acc: mean(&|c| c.accuracy()),
        sveb_se: mean(&|c| c.class_stats(AamiClass::S).se),
        sveb_ppv: mean(&|c| c.class_stats(AamiClass::S).ppv),
        veb_se: mean(&|c| c.class_stats(AamiClass::V).se),
        veb_ppv: mean(&|c| c.class_stats(AamiClass::V).ppv),
        beats: per_record
            .iter()
            .map(|c| c.matrix.iter().flatten().sum::<u64>())
            .sum(),
    }
}

/// A percentage with two decimals, or "–" when undefined.
pub fn num(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.2}")
    } else {
        "–".into()
    }
}

/// One Markdown table row.
pub fn headline_row(label: &str, h: &Headline) -> String {
    format!(
        "| {label} | {} | {} | {} | {} | {} | {} |",
        h.beats,
        num(h.acc),
        num(h.sveb_se),
        num(h.sveb_ppv),
        num(h.veb_se),
        num(h.veb_ppv)
    )
}

/// Markdown table header matching [`headline_row`].
pub const HEADLINE_HEADER: &str = "| | beats | Acc % | SVEB Se % | SVEB +P % | VEB Se % | VEB +P % |\n|---|---|---|---|---|---|---|";

/// Full per-class Markdown table of a confusion matrix (gross statistics).
pub fn class_table(c: &Confusion) -> String {
    let mut s = String::from(
        "| class | beats | Se % | +P % | Spe % | Acc % |\n|---|---|---|---|---|---|\n",
    );
    for k in AamiClass::ALL {
        let st = c.class_stats(k);
        let _ = writeln!(
            s,
            "| {k} | {} | {} | {} | {} | {} |",
            st.support,
            num(st.se),
            num(st.ppv),
            num(st.spe),
            num(st.acc)
        );
    }
    let _ = writeln!(
        s,
        "\nconfusion (rows reference, columns predicted N S V F Q):\n"
    );
    let _ = writeln!(s, "| | N | S | V | F | Q |\n|---|---|---|---|---|---|");
    for k in AamiClass::ALL {
        let r = c.matrix[k.index()];
        let _ = writeln!(
            s,
            "| {k} | {} | {} | {} | {} | {} |",
            r[0], r[1], r[2], r[3], r[4]
        );
    }
    s
}
