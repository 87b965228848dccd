//! Alphanumeric GS1 attributes: serial number (AI 21), batch/lot (AI 10)
//! and GLN extension (AI 254). All are 1–20 characters of set 82; they are
//! stored unescaped, and escaped only when written into a URI.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::digits::validate_text;
use super::keys::string_key;
use super::Gs1Error;

/// A serial number, AI (21): with a GTIN it names one pack.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Serial(String);

/// A batch or lot number, AI (10): the unit of recall.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lot(String);

/// A GLN extension, AI (254): a sub-location (dock, fridge) within a GLN.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GlnExtension(String);

impl Serial {
    pub fn parse(value: &str) -> Result<Self, Gs1Error> {
        validate_text("serial", value)?;
        Ok(Self(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Lot {
    pub fn parse(value: &str) -> Result<Self, Gs1Error> {
        validate_text("lot", value)?;
        Ok(Self(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl GlnExtension {
    pub fn parse(value: &str) -> Result<Self, Gs1Error> {
        validate_text("GLN extension", value)?;
        Ok(Self(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_key!(Serial);
string_key!(Lot);
string_key!(GlnExtension);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_rules() {
        assert!(Serial::parse("6789").is_ok());
        assert!(Serial::parse("A/b-(1)").is_ok());
        assert!(matches!(
            Serial::parse(""),
            Err(Gs1Error::TextLength { .. })
        ));
        assert!(matches!(
            Serial::parse("123456789012345678901"),
            Err(Gs1Error::TextLength { .. })
        ));
        let err = Serial::parse("AB#1").unwrap_err();
        assert!(err.to_string().contains("'#'"), "{err}");
        assert!(Lot::parse("LOT 1").is_err());
    }
}
