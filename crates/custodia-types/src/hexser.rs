//! Hex (de)serialisation of fixed-size codec values (keys, digests) for serde:
//! `#[serde(with = "custodia_types::hexser")]`.

use commonware_codec::{DecodeExt, Encode, FixedSize, Read};
use serde::{de::Error as _, Deserialize, Deserializer, Serializer};

/// Parse a fixed-size value (key, digest) from its hex form.
pub fn decode_fixed<T: Read<Cfg = ()> + FixedSize>(text: &str) -> Option<T> {
    let bytes = hex::decode(text.trim()).ok()?;
    if bytes.len() != T::SIZE {
        return None;
    }
    T::decode(commonware_codec::Copying(bytes.as_slice())).ok()
}

pub fn serialize<T: Encode, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(value.encode()))
}

pub fn deserialize<'de, T, D>(d: D) -> Result<T, D::Error>
where
    T: Read<Cfg = ()> + FixedSize,
    D: Deserializer<'de>,
{
    let text = String::deserialize(d)?;
    decode_fixed(&text)
        .ok_or_else(|| D::Error::custom(format!("expected {} bytes of hex, got {text:?}", T::SIZE)))
}

/// Hex (de)serialisation of a list of fixed-size values.
pub mod list {
    use commonware_codec::{Encode, FixedSize, Read};
    use serde::{de::Error as _, Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Encode, S: Serializer>(values: &[T], s: S) -> Result<S::Ok, S::Error> {
        values
            .iter()
            .map(|v| hex::encode(v.encode()))
            .collect::<Vec<_>>()
            .serialize(s)
    }

    pub fn deserialize<'de, T, D>(d: D) -> Result<Vec<T>, D::Error>
    where
        T: Read<Cfg = ()> + FixedSize,
        D: Deserializer<'de>,
    {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|text| {
                super::decode_fixed(text).ok_or_else(|| {
                    D::Error::custom(format!("expected {} bytes of hex, got {text:?}", T::SIZE))
                })
            })
            .collect()
    }
}
