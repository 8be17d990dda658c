//! AAMI EC57 beat classes and the mapping from MIT-BIH beat symbols.

use std::fmt;

/// The five AAMI EC57 heart-beat classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum AamiClass {
    /// Normal and bundle-branch-block beats, nodal/atrial escape beats.
    N = 0,
    /// Supraventricular ectopic beats (SVEB).
    S = 1,
    /// Ventricular ectopic beats (VEB).
    V = 2,
    /// Fusion of ventricular and normal beats.
    F = 3,
    /// Paced, fusion-of-paced and unclassifiable beats.
    Q = 4,
}

/// Index of the largest score (the first one on ties): the class a model's logits or
/// probabilities predict.
pub fn argmax(scores: &[f32]) -> usize {
    (0..scores.len()).fold(0, |b, i| if scores[i] > scores[b] { i } else { b })
}

impl AamiClass {
    /// All classes in model output order.
    pub const ALL: [AamiClass; 5] = [
        AamiClass::N,
        AamiClass::S,
        AamiClass::V,
        AamiClass::F,
        AamiClass::Q,
    ];

    /// Class for a model output index.
    pub fn from_index(i: usize) -> Option<AamiClass> {
        Self::ALL.get(i).copied()
    }

    /// Model output index of this class.
    pub fn index(self) -> usize {
        self as usize
    }

    /// AAMI class of an MIT-BIH beat annotation symbol; `None` for non-beat annotations.
    ///
    /// N: `N L R B e j`; S: `A a J S n`; V: `V E r`; F: `F`; Q: `/ f Q ?`.
    pub fn from_mitbih_symbol(symbol: &str) -> Option<AamiClass> {
        Some(match symbol {
            "N" | "L" | "R" | "B" | "e" | "j" => AamiClass::N,
            "A" | "a" | "J" | "S" | "n" => AamiClass::S,
            "V" | "E" | "r" => AamiClass::V,
            "F" => AamiClass::F,
            "/" | "f" | "Q" | "?" => AamiClass::Q,
            _ => return None,
        })
    }
}

impl fmt::Display for AamiClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            AamiClass::N => "N",
            AamiClass::S => "S",
            AamiClass::V => "V",
            AamiClass::F => "F",
            AamiClass::Q => "Q",
        };
        f.write_str(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beat_symbols_map_to_aami_classes() {
        let beats = "N L R B A a J S V r F e j n E / f Q ?";
        for s in beats.split(' ') {
            assert!(AamiClass::from_mitbih_symbol(s).is_some(), "{s} is a beat");
        }
        for s in ["+", "~", "|", "x", "\"", "!", "[", "]"] {
            assert_eq!(AamiClass::from_mitbih_symbol(s), None, "{s} is not a beat");
        }
        assert_eq!(AamiClass::from_mitbih_symbol("E"), Some(AamiClass::V));
        assert_eq!(AamiClass::from_mitbih_symbol("n"), Some(AamiClass::S));
        assert_eq!(AamiClass::from_mitbih_symbol("f"), Some(AamiClass::Q));
        for (i, c) in AamiClass::ALL.iter().enumerate() {
            assert_eq!(c.index(), i);
            assert_eq!(AamiClass::from_index(i), Some(*c));
        }
    }
}
