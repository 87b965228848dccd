//! The numeric GS1 keys: GTIN (trade items), GLN (locations and parties),
//! SSCC (logistic units: cases, pallets). Each is kept in its full-length
//! form so equal keys compare equal however they were written.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::digits::{require_digits, verify_check_digit};
use super::Gs1Error;

/// A Global Trade Item Number. GTIN-8, -12 and -13 are normalised to 14
/// digits with leading zeros (the form EPCIS, Digital Link and the chain's
/// keys use), after the mod-10 check digit is verified.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Gtin(String);

impl Gtin {
    pub fn parse(value: &str) -> Result<Self, Gs1Error> {
        require_digits("GTIN", value)?;
        if !matches!(value.len(), 8 | 12 | 13 | 14) {
            return Err(Gs1Error::Length {
                kind: "GTIN",
                value: value.to_string(),
                len: value.len(),
                expected: "8, 12, 13 or 14",
            });
        }
        verify_check_digit("GTIN", value)?;
        Ok(Self(format!("{value:0>14}")))
    }

    /// The 14-digit form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A Global Location Number (13 digits with check digit): a site, a dock,
/// or (as a party GLN) an organisation.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Gln(String);

impl Gln {
    pub fn parse(value: &str) -> Result<Self, Gs1Error> {
        fixed_key("GLN", value, 13, "13")?;
        Ok(Self(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A Serial Shipping Container Code (18 digits with check digit): the
/// identity of a case or pallet, i.e. of a container in this domain.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sscc(String);

impl Sscc {
    pub fn parse(value: &str) -> Result<Self, Gs1Error> {
        fixed_key("SSCC", value, 18, "18")?;
        Ok(Self(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn fixed_key(
    kind: &'static str,
    value: &str,
    len: usize,
    expected: &'static str,
) -> Result<(), Gs1Error> {
    require_digits(kind, value)?;
    if value.len() != len {
        return Err(Gs1Error::Length {
            kind,
            value: value.to_string(),
            len: value.len(),
            expected,
        });
    }
    verify_check_digit(kind, value)
}

macro_rules! string_key {
    ($ty:ident) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $ty {
            type Err = Gs1Error;
            fn from_str(s: &str) -> Result<Self, Gs1Error> {
                Self::parse(s)
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_string())
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                Self::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

pub(crate) use string_key;

string_key!(Gtin);
string_key!(Gln);
string_key!(Sscc);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gtin_lengths_normalise_to_14() {
        assert_eq!(
            Gtin::parse("4006381333931").unwrap().as_str(),
            "04006381333931"
        );
        assert_eq!(
            Gtin::parse("04006381333931").unwrap().as_str(),
            "04006381333931"
        );
        assert!(matches!(
            Gtin::parse("123"),
            Err(Gs1Error::Length { len: 3, .. })
        ));
    }

    #[test]
    fn bad_check_digit_names_the_right_one() {
        let err = Gtin::parse("4006381333932").unwrap_err();
        assert_eq!(
            err.to_string(),
            "GTIN 4006381333932: check digit is 2, expected 1"
        );
    }
}
