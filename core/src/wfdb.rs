//! WFDB records: headers, signal files (formats 212 and 16), annotations.
