//! Why a GS1 identifier was refused. Messages name the offending text and,
//! for check digits, the digit that would have been right, so a person
//! re-keying a label can fix it without a GS1 calculator.

/// A malformed GS1 key, attribute or URI.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Gs1Error {
    #[error("{kind} {value:?} must be digits only")]
    NotDigits { kind: &'static str, value: String },
    #[error("{kind} {value:?} has {len} digits; expected {expected}")]
    Length {
        kind: &'static str,
        value: String,
        len: usize,
        expected: &'static str,
    },
    #[error("{kind} {value}: check digit is {found}, expected {expected}")]
    CheckDigit {
        kind: &'static str,
        value: String,
        found: u8,
        expected: u8,
    },
    #[error("{kind} {value:?} must be 1 to 20 characters long")]
    TextLength { kind: &'static str, value: String },
    #[error(
        "{kind} {value:?} contains {bad:?}, which is not in the GS1 AI encodable character set 82"
    )]
    Charset {
        kind: &'static str,
        value: String,
        bad: char,
    },
    #[error("{value:?} has a bad percent-escape; use %XX with two hex digits")]
    BadEscape { value: String },
    #[error("{value:?}: {reason}")]
    Uri { value: String, reason: String },
}

impl Gs1Error {
    pub(crate) fn uri(value: &str, reason: impl Into<String>) -> Self {
        Gs1Error::Uri {
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}
