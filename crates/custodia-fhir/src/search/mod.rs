//! FHIR search, as R4's SearchParameter definitions say: what a resource
//! is found by (`index`), queries (`Query`), dates as ranges (`dates`),
//! and identifier tokens for conditional creates, updates and references.

mod dates;
mod params;
mod query;

pub use dates::{DateRange, Prefix};
pub use params::{
    index, local_reference, param, params_of, IndexValue, Indexed, ParamKind, SearchParam,
};
pub use query::{Include, Query, SortKey, SortValue, MAX_COUNT};

use serde_json::Value;

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
