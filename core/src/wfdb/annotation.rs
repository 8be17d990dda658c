//! MIT-format annotation files (`.atr`): parsing, writing, symbols.

use std::path::Path;

use super::{read_file, with_suffix, WfdbError};
use crate::aami::AamiClass;

/// Pseudo-code: the next two words hold a 32-bit time interval.
const SKIP: u16 = 59;
/// Pseudo-code: sets `num` for this and following annotations.
const NUM: u16 = 60;
/// Pseudo-code: sets `subtype` of the preceding annotation.
const SUB: u16 = 61;
/// Pseudo-code: sets `chan` for this and following annotations.
const CHN: u16 = 62;
/// Pseudo-code: auxiliary bytes of the preceding annotation follow.
const AUX: u16 = 63;
/// Largest time delta or modifier value a 10-bit word field holds.
const DATA_MAX: u16 = 0x3FF;

/// WFDB mnemonics by annotation code; "" for codes without one.
const SYMBOLS: [&str; 50] = [
    "", "N", "L", "R", "a", "V", "F", "J", "A", "S", // 0-9
    "E", "j", "/", "Q", "~", "", "|", "", "s", "T", // 10-19
    "*", "D", "\"", "=", "p", "B", "^", "t", "+", "u", // 20-29
    "?", "!", "[", "]", "e", "n", "@", "x", "f", "(", // 30-39
    ")", "r", "", "", "", "", "", "", "", "", // 40-49
];

/// Symbols of beat annotations (the MIT-BIH/AAMI beat set).
const BEATS: [&str; 19] = [
    "N", "L", "R", "B", "A", "a", "J", "S", "V", "r", "F", "e", "j", "n", "E", "/", "f", "Q", "?",
];

/// One annotation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Annotation {
    /// Sample index (at the record's sampling frequency).
    pub sample: i64,
    /// WFDB annotation code (1 = N, 5 = V, 28 = rhythm change, ...).
    pub code: u8,
    /// Annotation subtype.
    pub subtype: i8,
    /// Signal (channel) number.
    pub chan: u8,
    /// Annotator-defined number.
    pub num: i8,
    /// Auxiliary bytes, e.g. `b"(AFIB\0"` on rhythm changes.
    pub aux: Option<Vec<u8>>,
}

impl Annotation {
    /// WFDB mnemonic of the code, e.g. "N", "V", "+"; "" for codes without one.
    pub fn symbol(&self) -> &'static str {
        SYMBOLS.get(usize::from(self.code)).copied().unwrap_or("")
    }

    /// True for beat annotations: `N L R B A a J S V r F e j n E / f Q ?`.
    pub fn is_beat(&self) -> bool {
        BEATS.contains(&self.symbol())
    }

    /// AAMI class of a beat annotation; `None` for non-beats.
    pub fn aami_class(&self) -> Option<AamiClass> {
        AamiClass::from_mitbih_symbol(self.symbol())
    }

    /// The beat annotation a classifier writes for an AAMI class, at `sample`: the class's
    /// generic MIT code (N → `N`, S → `S`, V → `V`, F → `F`, Q → `Q`), so that
    /// [`Annotation::aami_class`] reads the class back.
    pub fn for_class(sample: i64, class: AamiClass) -> Annotation {
        // The AAMI letters are MIT symbols too.
        let symbol = class.to_string();
        let code = SYMBOLS.iter().position(|&s| s == symbol).unwrap_or(0) as u8;
        Annotation {
            sample,
            code,
            subtype: 0,
            chan: 0,
            num: 0,
            aux: None,
        }
    }

    /// A rhythm change (`+`, code 28) to `rhythm` (aux text such as `(AFIB` or `(N`, as
    /// mitdb writes them) at `sample`.
    pub fn rhythm(sample: i64, rhythm: &str) -> Annotation {
        Annotation {
            sample,
            code: RHYTHM_CODE,
            subtype: 0,
            chan: 0,
            num: 0,
            aux: Some(rhythm.as_bytes().to_vec()),
        }
    }
}

/// The code of `+`, a rhythm change.
const RHYTHM_CODE: u8 = 28;

/// Read annotation file `NAME.annotator` (e.g. `annotator = "atr"`);
/// `record_path` has no extension.
pub fn read_annotations(
    record_path: impl AsRef<Path>,
    annotator: &str,
) -> Result<Vec<Annotation>, WfdbError> {
    let path = with_suffix(record_path.as_ref(), annotator);
    parse_annotations(&read_file(&path, super::MAX_ANNOTATION_BYTES, false)?)
}

fn word_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes([*bytes.get(at)?, *bytes.get(at + 1)?]))
}

/// Parse an MIT-format annotation file.
///
/// Each 16-bit little-endian word holds a 6-bit code and a 10-bit field. Modifier
/// words (SUB, CHN, NUM, AUX) follow the annotation they modify; `chan` and `num`
/// carry over to later annotations, as in WFDB. A missing end marker, a modifier
/// before the first annotation, or a word cut short is an error.
pub fn parse_annotations(bytes: &[u8]) -> Result<Vec<Annotation>, WfdbError> {
    let bad = |offset: usize, msg: &str| WfdbError::Annotation {
        offset,
        msg: msg.to_string(),
    };
    let mut anns: Vec<Annotation> = Vec::new();
    let mut time: i64 = 0;
    let (mut chan, mut num) = (0u8, 0i8);
    let mut at = 0;
    loop {
        let word =
            word_at(bytes, at).ok_or_else(|| bad(at, "file ends without end-of-file marker"))?;
        let (code, data) = (word >> 10, word & DATA_MAX);
        let start = at;
        at += 2;
        match code {
            0 if data == 0 => return Ok(anns),
            SKIP => {
                let hi = word_at(bytes, at).ok_or_else(|| bad(start, "SKIP cut short"))?;
                let lo = word_at(bytes, at + 2).ok_or_else(|| bad(start, "SKIP cut short"))?;
                at += 4;
                let interval = ((u32::from(hi) << 16) | u32::from(lo)) as i32;
                time += i64::from(interval);
            }
            NUM | SUB | CHN | AUX => {
                let last = anns
                    .last_mut()
                    .ok_or_else(|| bad(start, "modifier before first annotation"))?;
                // WFDB stores these fields as (un)signed chars: keep the low 8 bits.
                let low = (data & 0xFF) as u8;
                match code {
                    NUM => {
                        num = low as i8;
                        last.num = num;
                    }
                    SUB => last.subtype = low as i8,
                    CHN => {
                        chan = low;
                        last.chan = chan;
                    }
                    _ => {
                        let len = usize::from(data);
                        let aux = bytes
                            .get(at..at + len)
                            .ok_or_else(|| bad(start, "AUX data cut short"))?;
                        last.aux = Some(aux.to_vec());
                        at += len + len % 2;
                    }
                }
            }
            _ => {
                time += i64::from(data);
                // Codes come from 6 bits, so `code` < 59 fits in u8.
                anns.push(Annotation {
                    sample: time,
                    code: code as u8,
                    subtype: 0,
                    chan,
                    num,
                    aux: None,
                });
            }
        }
    }
}

fn put(out: &mut Vec<u8>, code: u16, data: u16) {
    out.extend_from_slice(&((code << 10) | (data & DATA_MAX)).to_le_bytes());
}

/// Encode annotations in MIT format, ending with the end-of-file marker.
///
/// Gaps longer than 1023 samples (or negative) use SKIP words. Annotations that the
/// format cannot hold are left out: codes 0 and 59-255 (0 would read as the end
/// marker, 59-63 are reserved for pseudo-codes). AUX data beyond 1023 bytes is cut.
pub fn write_annotations(anns: &[Annotation]) -> Vec<u8> {
    let mut out = Vec::with_capacity(anns.len() * 2 + 2);
    let mut time: i64 = 0;
    let (mut chan, mut num) = (0u8, 0i8);
    for a in anns {
        if a.code == 0 || u16::from(a.code) >= SKIP {
            continue;
        }
        let mut delta = a.sample - time;
        while !(0..=i64::from(DATA_MAX)).contains(&delta) {
            let step = delta.clamp(i64::from(i32::MIN), i64::from(i32::MAX));
            let bits = step as i32 as u32;
            put(&mut out, SKIP, 0);
            out.extend_from_slice(&((bits >> 16) as u16).to_le_bytes());
            out.extend_from_slice(&(bits as u16).to_le_bytes());
            delta -= step;
        }
        // `delta` is now 0..=1023.
        put(&mut out, u16::from(a.code), delta as u16);
        time = a.sample;
        if a.subtype != 0 {
            put(&mut out, SUB, u16::from(a.subtype as u8));
        }
        if a.chan != chan {
            put(&mut out, CHN, u16::from(a.chan));
            chan = a.chan;
        }
        if a.num != num {
            put(&mut out, NUM, u16::from(a.num as u8));
            num = a.num;
        }
        if let Some(aux) = &a.aux {
            let aux = &aux[..aux.len().min(usize::from(DATA_MAX))];
            put(&mut out, AUX, aux.len() as u16);
            out.extend_from_slice(aux);
            if aux.len() % 2 == 1 {
                out.push(0);
            }
        }
    }
    put(&mut out, 0, 0);
    out
}

#[cfg(test)]
mod class_code_tests {
    use super::*;

    #[test]
    fn every_class_is_written_as_a_beat_that_reads_back_as_itself() {
        for class in AamiClass::ALL {
            let a = Annotation::for_class(42, class);
            assert!(a.is_beat(), "{class}");
            assert_eq!(a.aami_class(), Some(class));
            assert_eq!(a.symbol(), class.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ann(sample: i64, code: u8) -> Annotation {
        Annotation {
            sample,
            code,
            subtype: 0,
            chan: 0,
            num: 0,
            aux: None,
        }
    }

    #[test]
    fn parses_hand_made_bytes() {
        // '+' at 18 with aux "(N\0", then N at 18+59, then end: the start of mitdb/100.atr.
        let bytes = [
            0x12, 0x70, 0x03, 0xfc, 0x28, 0x4e, 0x00, 0x00, 0x3b, 0x04, 0, 0,
        ];
        let anns = parse_annotations(&bytes).unwrap();
        assert_eq!(anns.len(), 2);
        assert_eq!(
            (anns[0].sample, anns[0].symbol(), anns[0].is_beat()),
            (18, "+", false)
        );
        assert_eq!(anns[0].aux.as_deref(), Some(&b"(N\0"[..]));
        assert_eq!(
            (anns[1].sample, anns[1].symbol(), anns[1].is_beat()),
            (77, "N", true)
        );
        assert_eq!(anns[1].aami_class(), Some(AamiClass::N));
        assert_eq!(write_annotations(&anns), bytes);
    }

    #[test]
    fn symbols_and_beats() {
        let beats: Vec<&str> = (0..=255u8)
            .map(|c| ann(0, c))
            .filter(|a| a.is_beat())
            .map(|a| a.symbol())
            .collect();
        assert_eq!(beats.len(), 19);
        assert_eq!(ann(0, 22).symbol(), "\"");
        assert_eq!(ann(0, 41).symbol(), "r");
        assert_eq!(ann(0, 200).symbol(), "");
        assert_eq!(ann(0, 5).aami_class(), Some(AamiClass::V));
        assert_eq!(ann(0, 12).aami_class(), Some(AamiClass::Q));
        assert_eq!(ann(0, 28).aami_class(), None);
    }

    #[test]
    fn round_trip_with_skip_modifiers_and_aux() {
        let anns = vec![
            Annotation {
                sample: 5,
                code: 28,
                subtype: 0,
                chan: 0,
                num: 0,
                aux: Some(b"(AFIB".to_vec()),
            },
            ann(5, 1),
            Annotation {
                sample: 5000,
                code: 5,
                subtype: -3,
                chan: 1,
                num: 7,
                aux: None,
            },
            Annotation {
                sample: 5000 + 70_000_000,
                code: 8,
                subtype: 2,
                chan: 1,
                num: -1,
                aux: Some(vec![]),
            },
            Annotation {
                sample: 100,
                code: 14,
                subtype: 0,
                chan: 0,
                num: 0,
                aux: Some(b"odd".to_vec()),
            },
            Annotation {
                sample: 10_000_000_000,
                code: 1,
                subtype: 0,
                chan: 255,
                num: 0,
                aux: None,
            },
        ];
        let bytes = write_annotations(&anns);
        assert_eq!(parse_annotations(&bytes).unwrap(), anns);
    }

    #[test]
    fn malformed_is_error() {
        let err = |b: &[u8]| parse_annotations(b).unwrap_err();
        assert!(matches!(err(&[]), WfdbError::Annotation { offset: 0, .. }));
        assert!(matches!(
            err(&[0x05, 0x04]),
            WfdbError::Annotation { offset: 2, .. }
        ));
        assert!(matches!(err(&[0x05]), WfdbError::Annotation { .. }));
        assert!(matches!(
            err(&[0x00, 0xec, 0, 0]),
            WfdbError::Annotation { .. }
        )); // SKIP cut short
        assert!(matches!(
            err(&[0x05, 0xfc, 0, 0]),
            WfdbError::Annotation { offset: 0, .. }
        )); // AUX first
        assert!(matches!(
            err(&[0x05, 0x04, 0x05, 0xfc, b'a', 0]),
            WfdbError::Annotation { .. }
        ));
        let good = write_annotations(&[ann(3, 1), ann(2000, 5)]);
        for cut in 0..good.len() {
            assert!(parse_annotations(&good[..cut]).is_err(), "cut at {cut}");
        }
    }

    fn arb_ann() -> impl Strategy<Value = Annotation> {
        (
            -5_000_000i64..5_000_000,
            prop_oneof![1u8..59, Just(1u8)],
            any::<i8>(),
            any::<u8>(),
            any::<i8>(),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
        )
            .prop_map(|(sample, code, subtype, chan, num, aux)| Annotation {
                sample,
                code,
                subtype,
                chan,
                num,
                aux,
            })
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let _ = parse_annotations(&bytes);
        }

        #[test]
        fn write_parse_round_trip(anns in proptest::collection::vec(arb_ann(), 0..60)) {
            prop_assert_eq!(parse_annotations(&write_annotations(&anns)).unwrap(), anns);
        }
    }
}
