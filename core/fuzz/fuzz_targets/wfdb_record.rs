//! A WFDB record held in memory: a header and its signal file (the first two bytes give the
//! header's length), decoded by `Record::from_bytes` as `Record::read` does from disk, then
//! scaled to millivolts.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rhythm::wfdb::Record;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let n = usize::from(u16::from_le_bytes([data[0], data[1]]));
    let rest = &data[2..];
    let (hea, dat) = rest.split_at(n.min(rest.len()));
    let signal_file = |_: &Path, max: u64, _exact: bool| {
        let take = usize::try_from(max).unwrap_or(usize::MAX).min(dat.len());
        Ok(dat[..take].to_vec())
    };
    if let Ok(rec) = Record::from_bytes(hea, Path::new("fuzz"), signal_file) {
        for i in 0..rec.header.n_signals {
            let _ = rec.millivolts(i);
        }
    }
});
