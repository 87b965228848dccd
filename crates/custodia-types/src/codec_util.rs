//! Small helpers for bounded strings in the canonical encoding.

use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error, RangeCfg, Read, Write};

/// Write a UTF-8 string as length-prefixed bytes.
pub(crate) fn write_str(s: &str, buf: &mut impl BufMut) {
    s.as_bytes().to_vec().write(buf);
}

pub(crate) fn str_size(s: &str) -> usize {
    s.as_bytes().to_vec().encode_size()
}

/// Read a length-prefixed UTF-8 string of at most `max` bytes.
pub(crate) fn read_str(buf: &mut impl Buf, max: usize) -> Result<String, Error> {
    let cfg = (RangeCfg::new(0..=max), ());
    let bytes = Vec::<u8>::read_cfg(buf, &cfg)?;
    String::from_utf8(bytes).map_err(|_| Error::Invalid("string", "not valid UTF-8"))
}
