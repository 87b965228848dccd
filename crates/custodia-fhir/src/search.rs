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
