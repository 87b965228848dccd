//! Shared rules for GS1 keys: the mod-10 check digit, the AI encodable
//! character set 82, and the two escaping schemes (EPC URNs and Digital Link
//! URIs) that let such text sit inside a URI.

use super::Gs1Error;

/// The GS1 mod-10 check digit of `data` (all digits but the check digit):
/// weights 3,1,3,1… from the rightmost data digit.
pub(crate) fn check_digit(data: &str) -> u8 {
    let sum: u32 = data
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                d * 3
            } else {
                d
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

pub(crate) fn require_digits(kind: &'static str, value: &str) -> Result<(), Gs1Error> {
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(Gs1Error::NotDigits {
            kind,
            value: value.to_string(),
        })
    }
}

/// Checks the last digit of an all-digit key against the mod-10 rule.
pub(crate) fn verify_check_digit(kind: &'static str, value: &str) -> Result<(), Gs1Error> {
    let (data, last) = value.split_at(value.len() - 1);
    let found = last.as_bytes()[0] - b'0';
    let expected = check_digit(data);
    if found == expected {
        Ok(())
    } else {
        Err(Gs1Error::CheckDigit {
            kind,
            value: value.to_string(),
            found,
            expected,
        })
    }
}

/// Is `c` in GS1 AI encodable character set 82 (GS1 General Specifications
/// figure 7.11-1)? Serials and lots must use only these.
pub(crate) fn in_charset82(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            '!' | '"'
                | '%'
                | '&'
                | '\''
                | '('
                | ')'
                | '*'
                | '+'
                | ','
                | '-'
                | '.'
                | '/'
                | ':'
                | ';'
                | '<'
                | '='
                | '>'
                | '?'
                | '_'
        )
}

/// A serial, lot or GLN extension: 1–20 characters of set 82.
pub(crate) fn validate_text(kind: &'static str, value: &str) -> Result<(), Gs1Error> {
    let len = value.chars().count();
    if !(1..=20).contains(&len) {
        return Err(Gs1Error::TextLength {
            kind,
            value: value.to_string(),
        });
    }
    match value.chars().find(|c| !in_charset82(*c)) {
        Some(bad) => Err(Gs1Error::Charset {
            kind,
            value: value.to_string(),
            bad,
        }),
        None => Ok(()),
    }
}

/// Characters the EPC Tag Data Standard requires to be %-escaped in the
/// serial part of a pure-identity URN.
fn urn_escaped(c: char) -> bool {
    matches!(c, '"' | '%' | '&' | '/' | '<' | '>' | '?')
}

/// Characters percent-encoded in a GS1 Digital Link path segment: every
/// character of set 82 outside the URI "unreserved" set.
fn link_escaped(c: char) -> bool {
    !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
}

fn escape(value: &str, needs: fn(char) -> bool) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if needs(c) {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

pub(crate) fn escape_urn(value: &str) -> String {
    escape(value, urn_escaped)
}

pub(crate) fn escape_link(value: &str) -> String {
    escape(value, link_escaped)
}

/// Decodes `%XX` escapes (either hex case). The result is validated by the
/// caller against set 82, so only ASCII needs to be produced here.
pub(crate) fn unescape(value: &str) -> Result<String, Gs1Error> {
    let bad = || Gs1Error::BadEscape {
        value: value.to_string(),
    };
    let bytes = value.as_bytes();
    let mut out = String::with_capacity(value.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value.get(i + 1..i + 3).ok_or_else(bad)?;
            let code = u8::from_str_radix(hex, 16).map_err(|_| bad())?;
            if !code.is_ascii() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad());
            }
            out.push(char::from(code));
            i += 3;
        } else {
            // Non-ASCII bytes are kept so the set-82 check can name them.
            let c = value[i..].chars().next().ok_or_else(bad)?;
            out.push(c);
            i += c.len_utf8();
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_digits_of_known_keys() {
        // GS1 General Specifications examples.
        assert_eq!(check_digit("0061414112345"), 2);
        assert_eq!(check_digit("061414112345"), 2);
        // A retail GTIN-13 in circulation: 4006381333931.
        assert_eq!(check_digit("400638133393"), 1);
    }

    #[test]
    fn escapes_round_trip() {
        let s = "A/B%C&\"<>?'(";
        assert_eq!(unescape(&escape_urn(s)).unwrap(), s);
        assert_eq!(unescape(&escape_link(s)).unwrap(), s);
        assert_eq!(escape_urn("a/b"), "a%2Fb");
        assert!(unescape("%2").is_err());
        assert!(unescape("%zz").is_err());
    }
}
