//! Search parameters evaluated on decrypted resources: `code` (token) and
//! `_lastUpdated` (date with a comparison prefix).

use crate::outcome::{IssueType, Outcome};
use serde_json::Value;

/// Does any coding of the resource's main code match `system|code` (or a
/// bare `code`)?
pub fn matches_code(json: &Value, wanted: &str) -> bool {
    let (system, code) = match wanted.split_once('|') {
        Some((s, c)) => (Some(s), c),
        None => (None, wanted),
    };
    [
        "code",
        "vaccineCode",
        "medicationCodeableConcept",
        "type",
        "procedureCode",
    ]
    .iter()
    .filter_map(|e| json.get(*e))
    .flat_map(|concept| match concept {
        Value::Array(items) => items.iter().collect::<Vec<_>>(),
        other => vec![other],
    })
    .filter_map(|concept| concept.get("coding")?.as_array())
    .flatten()
    .any(|c| {
        c.get("code").and_then(Value::as_str) == Some(code)
            && system.is_none_or(|s| c.get("system").and_then(Value::as_str) == Some(s))
    })
}

/// A `_lastUpdated` filter: `[eq|ne|gt|ge|lt|le]<date or dateTime>`.
pub struct LastUpdated {
    prefix: &'static str,
    value: String,
}

impl LastUpdated {
    pub fn parse(param: &str) -> Result<Self, Outcome> {
        let prefixes = ["eq", "ne", "gt", "ge", "lt", "le"];
        let (prefix, value) = prefixes
            .iter()
            .find_map(|p| param.strip_prefix(p).map(|rest| (*p, rest)))
            .unwrap_or(("eq", param));
        let well_formed = value.len() >= 4
            && value.as_bytes()[..4].iter().all(u8::is_ascii_digit)
            && value
                .bytes()
                .all(|b| b.is_ascii_digit() || b"-:T.Z+".contains(&b));
        if !well_formed {
            return Err(Outcome::new(
                400,
                IssueType::Value,
                format!("_lastUpdated={param:?}: use a prefix (ge, gt, le, lt, eq, ne) and a date such as 2026-11-25 or 2026-11-25T10:00:00Z"),
            ));
        }
        Ok(Self {
            prefix,
            value: value.to_string(),
        })
    }

    /// Compare at the precision the client gave: `2026-11` matches every
    /// time in November 2026. Stored times are UTC RFC 3339, so they order
    /// as strings.
    pub fn matches(&self, json: &Value) -> bool {
        let Some(updated) = json["meta"]["lastUpdated"].as_str() else {
            return false;
        };
        let stored = &updated[..self.value.len().min(updated.len())];
        let wanted = self.value.as_str();
        match self.prefix {
            "eq" => stored == wanted,
            "ne" => stored != wanted,
            "gt" => stored > wanted,
            "ge" => stored >= wanted,
            "lt" => stored < wanted,
            _ => stored <= wanted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn last_updated_compares_at_the_given_precision() {
        let r = json!({"meta": {"lastUpdated": "2026-11-25T04:21:38.138Z"}});
        assert!(LastUpdated::parse("2026-11-25").unwrap().matches(&r));
        assert!(LastUpdated::parse("ge2026-11").unwrap().matches(&r));
        assert!(!LastUpdated::parse("gt2026-11-25").unwrap().matches(&r));
        assert!(LastUpdated::parse("lt2026-11-26").unwrap().matches(&r));
        assert!(!LastUpdated::parse("le2026-11-24T23:59:59Z")
            .unwrap()
            .matches(&r));
        assert!(LastUpdated::parse("yesterday").is_err());
        assert!(!LastUpdated::parse("2026").unwrap().matches(&json!({})));
    }

    #[test]
    fn codes_match_with_or_without_system() {
        let r = json!({"code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]}});
        assert!(matches_code(&r, "8867-4"));
        assert!(matches_code(&r, "http://loinc.org|8867-4"));
        assert!(!matches_code(&r, "http://snomed.info/sct|8867-4"));
        assert!(!matches_code(&r, "1234-5"));
    }
}

/// An `identifier` token: `system|value`, `|value` (no system) or `value`
/// (any system).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentifierToken {
    /// `None`: any system; `Some("")`: identifiers without one.
    pub system: Option<String>,
    pub value: String,
}

impl IdentifierToken {
    pub fn parse(text: &str) -> Result<Self, String> {
        let (system, value) = match text.split_once('|') {
            Some((system, value)) => (Some(system.to_string()), value),
            None => (None, text),
        };
        if value.is_empty() {
            return Err(format!(
                "identifier={text:?} names no value: write system|value"
            ));
        }
        Ok(Self {
            system,
            value: value.to_string(),
        })
    }

    /// Does `(system, value)` of an Identifier match?
    pub fn matches(&self, system: &str, value: &str) -> bool {
        self.value == value && self.system.as_deref().is_none_or(|s| s == system)
    }

    /// A search query (`identifier=sys|val`, as conditional creates,
    /// updates and references write it) as a token; only `identifier` is
    /// searched this way.
    pub fn from_query(query: &str) -> Result<Self, String> {
        let decoded = percent_decode(query);
        let value = decoded.strip_prefix("identifier=").ok_or_else(|| {
            format!("{query:?}: only identifier=system|value conditions are supported here")
        })?;
        if value.contains('&') {
            return Err(format!(
                "{query:?}: one identifier=system|value condition, nothing else"
            ));
        }
        Self::parse(value)
    }
}

/// Every `(system, value)` of a resource's `identifier` (a list, or one).
pub fn identifiers(json: &Value) -> Vec<(String, String)> {
    let items: Vec<&Value> = match json.get("identifier") {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => vec![],
    };
    items
        .into_iter()
        .filter_map(|identifier| {
            let value = identifier.get("value")?.as_str()?;
            let system = identifier
                .get("system")
                .and_then(Value::as_str)
                .unwrap_or("");
            Some((system.to_string(), value.to_string()))
        })
        .collect()
}

/// `%XX` escapes decoded (a query as it appears in a Bundle's URL).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod identifier_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn identifier_tokens_match_by_system_and_value() {
        let token =
            IdentifierToken::from_query("identifier=http%3A%2F%2Fhl7.org%2Ffhir%2Fsid%2Fus-npi|99")
                .unwrap();
        assert!(token.matches("http://hl7.org/fhir/sid/us-npi", "99"));
        assert!(!token.matches("urn:other", "99"));
        let any = IdentifierToken::parse("99").unwrap();
        assert!(any.matches("urn:other", "99") && !any.matches("urn:other", "9"));
        assert!(IdentifierToken::from_query("name=Osler").is_err());
        assert!(IdentifierToken::from_query("identifier=a|b&name=c").is_err());
        assert!(IdentifierToken::parse("urn:x|").is_err());
        let practitioner =
            json!({"identifier": [{"system": "urn:npi", "value": "1"}, {"value": "2"}]});
        assert_eq!(
            identifiers(&practitioner),
            [("urn:npi".into(), "1".into()), (String::new(), "2".into())]
        );
    }
}
