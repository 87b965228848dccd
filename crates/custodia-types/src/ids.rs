//! Identifiers of consortium members and the roles they play.

use crate::codec_util::{read_str, str_size, write_str};
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error, Read, ReadExt, Write};
use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

/// Errors in identifiers and keys given by people (files, CLI, HTTP).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    #[error("organisation id {0:?} must be 1-32 characters of a-z, 0-9 and '-'")]
    BadOrgId(String),
    #[error("{0:?} is not a valid hex-encoded ed25519 key")]
    BadKey(String),
}

/// A member organisation's short, stable id (e.g. `st-mary`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OrgId(String);

impl OrgId {
    pub const MAX_LEN: usize = 32;

    pub fn new(id: impl Into<String>) -> Result<Self, IdError> {
        let id = id.into();
        let valid = !id.is_empty()
            && id.len() <= Self::MAX_LEN
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if valid {
            Ok(Self(id))
        } else {
            Err(IdError::BadOrgId(id))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for OrgId {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<OrgId> for String {
    fn from(id: OrgId) -> Self {
        id.0
    }
}

impl FromStr for OrgId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl Write for OrgId {
    fn write(&self, buf: &mut impl BufMut) {
        write_str(&self.0, buf);
    }
}

impl EncodeSize for OrgId {
    fn encode_size(&self) -> usize {
        str_size(&self.0)
    }
}

impl Read for OrgId {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        let raw = read_str(buf, Self::MAX_LEN)?;
        Self::new(raw).map_err(|_| Error::Invalid("OrgId", "invalid characters"))
    }
}

/// Declares a fieldless enum with a stable one-byte wire tag and a
/// name used in files, URLs and JSON.
macro_rules! tagged_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $tag:literal => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name { $(#[serde(rename = $text)] $variant),+ }

        impl std::str::FromStr for $name {
            type Err = ();
            fn from_str(text: &str) -> Result<Self, ()> {
                match text { $($text => Ok($name::$variant),)+ _ => Err(()) }
            }
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Write for $name {
            fn write(&self, buf: &mut impl BufMut) {
                let tag: u8 = match self { $($name::$variant => $tag),+ };
                tag.write(buf);
            }
        }

        impl commonware_codec::FixedSize for $name {
            const SIZE: usize = 1;
        }

        impl Read for $name {
            type Cfg = ();
            fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
                match u8::read(buf)? {
                    $($tag => Ok($name::$variant),)+
                    other => Err(Error::InvalidEnum(other)),
                }
            }
        }
    };
}
pub(crate) use tagged_enum;

tagged_enum! {
    /// What kind of organisation a consortium member is.
    OrgRole {
        Provider = 0 => "provider",
        Payer = 1 => "payer",
        Manufacturer = 2 => "manufacturer",
        Distributor = 3 => "distributor",
        Pharmacy = 4 => "pharmacy",
        Regulator = 5 => "regulator",
        ResearchSponsor = 6 => "research_sponsor",
    }
}
