//! One-to-one beat matching (EC57 style) and the derived statistics.

/// Outcome of matching detected beats against reference beats.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchResult {
    /// Reference beats with a matching detection.
    pub true_positives: usize,
    /// Reference beats without a matching detection.
    pub false_negatives: usize,
    /// Detections not matched to any reference beat.
    pub false_positives: usize,
    /// Matched pairs `(index into reference, index into detected)`, sorted by reference index.
    pub pairs: Vec<(usize, usize)>,
}

impl MatchResult {
    /// Se = TP / (TP + FN). Returns 1.0 when there are no reference beats (nothing missed).
    pub fn sensitivity(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_negatives,
        )
    }

    /// +P = TP / (TP + FP). Returns 1.0 when there are no detections (nothing wrong).
    pub fn positive_predictivity(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_positives,
        )
    }

    /// Add the counts of `other` (gross statistics over records). `pairs` is left untouched,
    /// because its indices refer to one record's slices.
    pub fn add_counts(&mut self, other: &MatchResult) {
        self.true_positives += other.true_positives;
        self.false_negatives += other.false_negatives;
        self.false_positives += other.false_positives;
    }
}

fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        1.0
    } else {
        num as f64 / den as f64
    }
}

/// Detections on each side of a reference beat that may match it. A heart gives at most one
/// beat within 150 ms (the detector's refractory period is 200 ms), so on any real record
/// every admissible pair is a candidate; beats given a sample apart (a hostile annotation
/// file) stay linear in memory instead of quadratic (hardening v2 N6: 1.7 GB for 650,000).
const NEAREST: usize = 2;

/// Match `detected` beat positions against `reference` positions, one to one.
///
/// A detection may match a reference beat when `|ref - det| <= tolerance_samples`
/// (EC57 uses ±150 ms, see [`super::match_tolerance`]). Among all admissible pairs the closest
/// are taken first (ties: earlier reference, then earlier detection), and each beat is
/// used at most once, so duplicate detections of one beat count as false positives. Only
/// the two nearest detections on each side of a reference beat are its candidates.
/// Inputs need not be sorted; indices in `pairs` refer to the slices as given.
pub fn match_beats(reference: &[u64], detected: &[u64], tolerance_samples: u64) -> MatchResult {
    let mut r_order: Vec<usize> = (0..reference.len()).collect();
    r_order.sort_by_key(|&i| (reference[i], i));
    let mut d_order: Vec<usize> = (0..detected.len()).collect();
    d_order.sort_by_key(|&i| (detected[i], i));

    // The admissible pairs via a sliding window over the sorted detections: of each
    // reference beat's, the NEAREST detections on either side.
    let mut cand: Vec<(u64, usize, usize)> = Vec::new();
    let mut start = 0;
    for &ri in &r_order {
        let r = reference[ri];
        while start < d_order.len() && detected[d_order[start]] + tolerance_samples < r {
            start += 1;
        }
        let rest = &d_order[start..];
        let window = &rest
            [..rest.partition_point(|&di| detected[di] <= r.saturating_add(tolerance_samples))];
        let split = window.partition_point(|&di| detected[di] < r);
        let near = &window[split.saturating_sub(NEAREST)..(split + NEAREST).min(window.len())];
        cand.extend(near.iter().map(|&di| (r.abs_diff(detected[di]), ri, di)));
    }
    cand.sort_unstable();

    let mut r_used = vec![false; reference.len()];
    let mut d_used = vec![false; detected.len()];
    let mut pairs = Vec::new();
    for (_, ri, di) in cand {
        if !r_used[ri] && !d_used[di] {
            r_used[ri] = true;
            d_used[di] = true;
            pairs.push((ri, di));
        }
    }
    pairs.sort_unstable();
    let tp = pairs.len();
    MatchResult {
        true_positives: tp,
        false_negatives: reference.len() - tp,
        false_positives: detected.len() - tp,
        pairs,
    }
}
