//! Hex (de)serialisation of fixed-size codec values (keys, digests) for serde.

use commonware_codec::{DecodeExt, Encode, FixedSize, Read};
use serde::{de::Error as _, Deserialize, Deserializer, Serializer};

pub(crate) fn decode_fixed<T: Read<Cfg = ()> + FixedSize>(text: &str) -> Option<T> {
    let bytes = hex::decode(text.trim()).ok()?;
    if bytes.len() != T::SIZE {
        return None;
    }
    T::decode(commonware_codec::Copying(bytes.as_slice())).ok()
}

pub(crate) fn serialize<T: Encode, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(value.encode()))
}

pub(crate) fn deserialize<'de, T, D>(d: D) -> Result<T, D::Error>
where
    T: Read<Cfg = ()> + FixedSize,
    D: Deserializer<'de>,
{
    let text = String::deserialize(d)?;
    decode_fixed(&text).ok_or_else(|| {
        D::Error::custom(format!("expected {} bytes of hex, got {text:?}", T::SIZE))
    })
}
