//! Reads every record in shared/data and checks it against the counts that
//! shared/data/README.md gives (verified there with PhysioNet's own `wfdb` package).
//!
//! The data folder is `rhythm_testkit::data_dir()` (`RHYTHM_DATA` overrides it).
//! Missing data fails these tests rather than skipping them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use rhythm::wfdb::{read_annotations, Header, Record, SignalFormat};

/// (record, lead names, format code, (annotations, beats) when the record has a .atr).
type Rec = (&'static str, [&'static str; 2], u32, Option<(usize, usize)>);

/// mitdb per-record table from shared/data/README.md: (record, leads, format, (annotations, beats)).
const MITDB: [Rec; 48] = [
    ("100", ["MLII", "V5"], 212, Some((2274, 2273))),
    ("101", ["MLII", "V1"], 212, Some((1874, 1865))),
    ("102", ["V5", "V2"], 212, Some((2192, 2187))),
    ("103", ["MLII", "V2"], 212, Some((2091, 2084))),
    ("104", ["V5", "V2"], 212, Some((2311, 2229))),
    ("105", ["MLII", "V1"], 212, Some((2691, 2572))),
    ("106", ["MLII", "V1"], 212, Some((2098, 2027))),
    ("107", ["MLII", "V1"], 212, Some((2140, 2137))),
    ("108", ["MLII", "V1"], 212, Some((1824, 1763))),
    ("109", ["MLII", "V1"], 212, Some((2535, 2532))),
    ("111", ["MLII", "V1"], 212, Some((2133, 2124))),
    ("112", ["MLII", "V1"], 212, Some((2550, 2539))),
    ("113", ["MLII", "V1"], 212, Some((1796, 1795))),
    ("114", ["V5", "MLII"], 212, Some((1890, 1879))),
    ("115", ["MLII", "V1"], 212, Some((1962, 1953))),
    ("116", ["MLII", "V1"], 212, Some((2421, 2412))),
    ("117", ["MLII", "V2"], 212, Some((1539, 1535))),
    ("118", ["MLII", "V1"], 212, Some((2301, 2278))),
    ("119", ["MLII", "V1"], 212, Some((2094, 1987))),
    ("121", ["MLII", "V1"], 212, Some((1876, 1863))),
    ("122", ["MLII", "V1"], 212, Some((2479, 2476))),
    ("123", ["MLII", "V5"], 212, Some((1519, 1518))),
    ("124", ["MLII", "V4"], 212, Some((1634, 1619))),
    ("200", ["MLII", "V1"], 212, Some((2792, 2601))),
    ("201", ["MLII", "V1"], 212, Some((2039, 1963))),
    ("202", ["MLII", "V1"], 212, Some((2146, 2136))),
    ("203", ["MLII", "V1"], 212, Some((3108, 2980))),
    ("205", ["MLII", "V1"], 212, Some((2672, 2656))),
    ("207", ["MLII", "V1"], 212, Some((2385, 1860))),
    ("208", ["MLII", "V1"], 212, Some((3040, 2955))),
    ("209", ["MLII", "V1"], 212, Some((3052, 3005))),
    ("210", ["MLII", "V1"], 212, Some((2685, 2650))),
    ("212", ["MLII", "V1"], 212, Some((2763, 2748))),
    ("213", ["MLII", "V1"], 212, Some((3294, 3251))),
    ("214", ["MLII", "V1"], 212, Some((2297, 2262))),
    ("215", ["MLII", "V1"], 212, Some((3400, 3363))),
    ("217", ["MLII", "V1"], 212, Some((2280, 2208))),
    ("219", ["MLII", "V1"], 212, Some((2312, 2154))),
    ("220", ["MLII", "V1"], 212, Some((2069, 2048))),
    ("221", ["MLII", "V1"], 212, Some((2462, 2427))),
    ("222", ["MLII", "V1"], 212, Some((2634, 2483))),
    ("223", ["MLII", "V1"], 212, Some((2643, 2605))),
    ("228", ["MLII", "V1"], 212, Some((2141, 2053))),
    ("230", ["MLII", "V1"], 212, Some((2466, 2256))),
    ("231", ["MLII", "V1"], 212, Some((2011, 1571))),
    ("232", ["MLII", "V1"], 212, Some((1816, 1780))),
    ("233", ["MLII", "V1"], 212, Some((3152, 3079))),
    ("234", ["MLII", "V1"], 212, Some((2764, 2753))),
];

/// nstdb per-record table from shared/data/README.md.
const NSTDB: [Rec; 15] = [
    ("118e00", ["MLII", "V1"], 16, Some((2301, 2278))),
    ("118e06", ["MLII", "V1"], 212, Some((2301, 2278))),
    ("118e12", ["MLII", "V1"], 212, Some((2301, 2278))),
    ("118e18", ["MLII", "V1"], 212, Some((2301, 2278))),
    ("118e24", ["MLII", "V1"], 212, Some((2301, 2278))),
    ("118e_6", ["MLII", "V1"], 16, Some((2301, 2278))),
    ("119e00", ["MLII", "V1"], 16, Some((2094, 1987))),
    ("119e06", ["MLII", "V1"], 212, Some((2094, 1987))),
    ("119e12", ["MLII", "V1"], 212, Some((2094, 1987))),
    ("119e18", ["MLII", "V1"], 212, Some((2094, 1987))),
    ("119e24", ["MLII", "V1"], 212, Some((2094, 1987))),
    ("119e_6", ["MLII", "V1"], 16, Some((2094, 1987))),
    ("bw", ["noise1", "noise2"], 212, None),
    ("em", ["noise1", "noise2"], 212, None),
    ("ma", ["noise1", "noise2"], 212, None),
];

/// mitdb beat totals by symbol, from the README.
const MITDB_BEATS_BY_SYMBOL: [(&str, usize); 15] = [
    ("N", 75052),
    ("L", 8075),
    ("R", 7259),
    ("V", 7130),
    ("/", 7028),
    ("A", 2546),
    ("f", 982),
    ("F", 803),
    ("j", 229),
    ("a", 150),
    ("E", 106),
    ("J", 83),
    ("Q", 33),
    ("e", 16),
    ("S", 2),
];

const NSRDB: [&str; 18] = [
    "16265", "16272", "16273", "16420", "16483", "16539", "16773", "16786", "16795", "17052",
    "17453", "18177", "18184", "19088", "19090", "19093", "19140", "19830",
];

fn db(name: &str) -> PathBuf {
    let dir = rhythm_testkit::data_dir().join(name);
    assert!(
        dir.is_dir(),
        "data folder {} missing (set RHYTHM_DATA)",
        dir.display()
    );
    dir
}

/// Read one record, check it against its table row, return (annotations, beats by symbol).
fn check_record(db_dir: &std::path::Path, rec: &Rec) -> (usize, BTreeMap<&'static str, usize>) {
    let (name, leads, fmt, counts) = *rec;
    let path = db_dir.join(name);
    let r = Record::read(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(r.fs(), 360.0, "{name}");
    assert_eq!(r.len(), 650_000, "{name}");
    assert_eq!(r.header.n_samples, Some(650_000), "{name}");
    assert_eq!(r.adc.len(), 2, "{name}");
    for (i, lead) in leads.iter().enumerate() {
        assert_eq!(r.header.signals[i].description, *lead, "{name}");
        assert_eq!(r.header.signals[i].format.code(), fmt, "{name}");
        // The header's initial value is the first sample.
        assert_eq!(r.adc[i][0], r.header.signals[i].initial_value, "{name}");
    }
    let mut by_symbol = BTreeMap::new();
    let Some((n_ann, n_beats)) = counts else {
        assert!(!db_dir.join(format!("{name}.atr")).exists());
        return (0, by_symbol);
    };
    let anns = read_annotations(&path, "atr").unwrap_or_else(|e| panic!("{name}.atr: {e}"));
    assert_eq!(anns.len(), n_ann, "{name} annotations");
    let beats: Vec<_> = anns.iter().filter(|a| a.is_beat()).collect();
    assert_eq!(beats.len(), n_beats, "{name} beats");
    assert!(beats.iter().all(|a| a.aami_class().is_some()), "{name}");
    assert!(
        anns.windows(2).all(|w| w[0].sample <= w[1].sample),
        "{name} sorted"
    );
    assert!(
        anns.iter().all(|a| (0..650_000).contains(&a.sample)),
        "{name} within signal"
    );
    for b in beats {
        *by_symbol.entry(b.symbol()).or_insert(0) += 1;
    }
    (n_ann, by_symbol)
}

/// Check `recs` on two threads (the machine has two cores; each record is ~2 MB).
fn check_all(db_dir: &std::path::Path, recs: &[Rec]) -> (usize, BTreeMap<&'static str, usize>) {
    let (a, b) = recs.split_at(recs.len() / 2);
    let (ra, rb) = std::thread::scope(|s| {
        let ha = s.spawn(|| {
            a.iter()
                .map(|r| check_record(db_dir, r))
                .collect::<Vec<_>>()
        });
        let rb: Vec<_> = b.iter().map(|r| check_record(db_dir, r)).collect();
        (ha.join().expect("worker panicked"), rb)
    });
    let mut total = 0;
    let mut by_symbol = BTreeMap::new();
    for (n, m) in ra.into_iter().chain(rb) {
        total += n;
        for (k, v) in m {
            *by_symbol.entry(k).or_insert(0) += v;
        }
    }
    (total, by_symbol)
}

#[test]
fn wfdb_mitdb_all_records_match_readme() {
    let (annotations, by_symbol) = check_all(&db("mitdb"), &MITDB);
    assert_eq!(annotations, 112_647);
    assert_eq!(by_symbol.values().sum::<usize>(), 109_494);
    let expected: BTreeMap<&str, usize> = MITDB_BEATS_BY_SYMBOL.into_iter().collect();
    assert_eq!(by_symbol, expected);
}

#[test]
fn wfdb_mitdb_leads_and_physical_units() {
    let dir = db("mitdb");
    let r114 = Record::read(dir.join("114")).unwrap();
    assert_eq!(r114.signal_index("MLII"), Some(1));
    assert_eq!(r114.signal_index("V5"), Some(0));
    assert_eq!(r114.signal_index("V1"), None);
    let r100 = Record::read(dir.join("100")).unwrap();
    assert_eq!(r100.signal_index("MLII"), Some(0));
    let mv = r100.physical(0).unwrap();
    assert_eq!(mv.len(), 650_000);
    // First sample of 100/MLII is 995 adu: (995 - 1024) / 200 mV.
    assert!((mv[0] - (-0.145)).abs() < 1e-6, "{}", mv[0]);
    // ECG in mV: a plausible range, and not stuck.
    let (lo, hi) = mv
        .iter()
        .fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
    assert!(lo > -6.0 && hi < 6.0 && hi - lo > 1.0, "{lo}..{hi}");
    assert!(r100.physical(2).is_err());
    assert!(!r100.is_empty());
}

#[test]
fn wfdb_nstdb_all_records_match_readme() {
    let dir = db("nstdb");
    let (annotations, by_symbol) = check_all(&dir, &NSTDB);
    assert_eq!(annotations, 26_370);
    assert_eq!(by_symbol.values().sum::<usize>(), 25_590);
    let r = Record::read(dir.join("118e00")).unwrap();
    assert_eq!(r.header.signals[0].format, SignalFormat::F16);
    assert_eq!(
        (r.header.signals[0].baseline, r.header.signals[0].adc_zero),
        (1024, 0)
    );
    let bw = Header::read(&dir.join("bw.hea")).unwrap();
    assert!(bw.signals.iter().all(|s| s.uncalibrated && s.gain == 200.0));
    // The noisy records carry mitdb 118's annotations byte for byte.
    let m118 = read_annotations(db("mitdb").join("118"), "atr").unwrap();
    assert_eq!(read_annotations(dir.join("118e_6"), "atr").unwrap(), m118);
}

#[test]
fn wfdb_nsrdb_headers_and_annotations() {
    let dir = db("nsrdb");
    let (mut total, mut beats) = (0, BTreeMap::new());
    for name in NSRDB {
        let h = Header::read(&dir.join(format!("{name}.hea")))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(h.record, name);
        assert_eq!(h.fs, 128.0, "{name}");
        assert_eq!(h.n_signals, 2);
        assert!(h
            .signals
            .iter()
            .all(|s| s.format == SignalFormat::F212 && s.uncalibrated));
        let n = h.n_samples.unwrap_or(0) as i64;
        assert!((10_659_840..=11_960_320).contains(&n), "{name}: {n}");
        let anns =
            read_annotations(dir.join(name), "atr").unwrap_or_else(|e| panic!("{name}.atr: {e}"));
        assert!(
            anns.iter().all(|a| (0..n).contains(&a.sample)),
            "{name} within signal"
        );
        total += anns.len();
        for a in anns.iter().filter(|a| a.is_beat()) {
            *beats.entry(a.symbol()).or_insert(0usize) += 1;
        }
        // No .dat here: reading the signals must fail cleanly.
        assert!(Record::read(dir.join(name)).is_err());
    }
    assert_eq!(total, 1_806_792);
    assert_eq!(beats.values().sum::<usize>(), 1_729_629);
    let expected: BTreeMap<&str, usize> =
        [("N", 1_729_502), ("S", 91), ("V", 26), ("F", 8), ("J", 2)].into();
    assert_eq!(beats, expected);
}

#[test]
fn wfdb_real_files_round_trip_through_writer() {
    let dir = db("mitdb");
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wfdb_real_round_trip");
    let r = Record::read(dir.join("100")).unwrap();
    r.write(&out).unwrap();
    // Our writer reproduces PhysioNet's signal file byte for byte.
    assert_eq!(
        std::fs::read(out.join("100.dat")).unwrap(),
        std::fs::read(dir.join("100.dat")).unwrap()
    );
    assert_eq!(Record::read(out.join("100")).unwrap(), r);
    let atr = std::fs::read(dir.join("100.atr")).unwrap();
    let anns = rhythm::wfdb::parse_annotations(&atr).unwrap();
    assert_eq!(rhythm::wfdb::write_annotations(&anns), atr);
}
