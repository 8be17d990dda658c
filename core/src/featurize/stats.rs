//! Statistics of one beat window, measured once per window: what the noise evidence
//! ([`super::noise`]) compares and the [`BeatHistory`](super::BeatHistory) keeps for each of
//! its windows.

/// Kurtosis (fourth standardized moment) of `x`; 0 for a flat or empty window.
pub fn kurtosis(x: &[f32]) -> f32 {
    if x.is_empty() {
        return 0.0;
    }
    let n = x.len() as f64;
    let m = x.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let (mut m2, mut m4) = (0.0f64, 0.0f64);
    for &v in x {
        let d = (f64::from(v) - m).powi(2);
        m2 += d;
        m4 += d * d;
    }
    m2 /= n;
    m4 /= n;
    if m2 > 1e-12 {
        (m4 / (m2 * m2)) as f32
    } else {
        0.0
    }
}

/// RMS frequency of `x` in radians per sample, `sqrt(E[Δx²] / E[(x − x̄)²])` (multiply by
/// `fs / 2π` for Hz): a QRS is sharp, motion artifacts are smooth. 0 for a flat window.
pub fn roughness(x: &[f32]) -> f32 {
    if x.len() < 2 {
        return 0.0;
    }
    let n = x.len() as f64;
    let m = x.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = x.iter().map(|&v| (f64::from(v) - m).powi(2)).sum::<f64>() / n;
    let dvar = x
        .windows(2)
        .map(|w| (f64::from(w[1]) - f64::from(w[0])).powi(2))
        .sum::<f64>()
        / (n - 1.0);
    if var > 1e-12 {
        (dvar / var).sqrt() as f32
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kurtosis_of_known_shapes() {
        // Two values ±1: kurtosis 1; a single spike in n zeros: ≈ n.
        let square: Vec<f32> = (0..100)
            .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        assert!((kurtosis(&square) - 1.0).abs() < 1e-6);
        let mut spike = vec![0.0f32; 100];
        spike[50] = 1.0;
        assert!((kurtosis(&spike) - 98.0102).abs() < 1e-3);
        assert_eq!(kurtosis(&[0.5; 10]), 0.0);
        assert_eq!(kurtosis(&[]), 0.0);
    }

    #[test]
    fn roughness_of_a_sine_is_its_frequency() {
        // sqrt(E[Δx²]/E[x²]) of sin(ωn) is 2·sin(ω/2) ≈ ω for small ω.
        let w = 0.05f64;
        let x: Vec<f32> = (0..2000).map(|i| (w * i as f64).sin() as f32).collect();
        let expected = 2.0 * (w / 2.0).sin();
        assert!(
            (f64::from(roughness(&x)) - expected).abs() < 1e-3,
            "{}",
            roughness(&x)
        );
        assert_eq!(roughness(&[1.0; 50]), 0.0);
        assert_eq!(roughness(&[1.0]), 0.0);
    }
}
