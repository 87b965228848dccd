//! A small JSON object reader that knows where it is, so every refusal
//! names the event and the field. Members are taken out as they are read;
//! what is left over is the object's extension content.

use serde_json::{Map, Number, Value};

use crate::gs1::{EpcUri, Gs1Error};
use crate::time::Timestamp;

use super::event::{EpcRef, Extra};
use super::EpcisError;

pub(crate) struct Obj {
    map: Map<String, Value>,
    path: String,
    event: Option<usize>,
}

pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else if key.is_empty() {
        path.to_string()
    } else if key.starts_with('[') {
        format!("{path}{key}")
    } else {
        format!("{path}.{key}")
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Obj {
    pub(crate) fn new(value: &Value, path: &str, event: Option<usize>) -> Result<Self, EpcisError> {
        match value {
            Value::Object(map) => Ok(Self {
                map: map.clone(),
                path: path.to_string(),
                event,
            }),
            other => Err(EpcisError::new(
                event,
                path,
                format!("must be a JSON object, not {}", json_kind(other)),
            )),
        }
    }

    pub(crate) fn event(&self) -> Option<usize> {
        self.event
    }

    pub(crate) fn path(&self, key: &str) -> String {
        join(&self.path, key)
    }

    pub(crate) fn err(&self, key: &str, problem: impl Into<String>) -> EpcisError {
        EpcisError::new(self.event, &self.path(key), problem)
    }

    pub(crate) fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    pub(crate) fn opt_str(&mut self, key: &str) -> Result<Option<String>, EpcisError> {
        match self.map.remove(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => {
                Err(self.err(key, format!("must be a string, not {}", json_kind(&other))))
            }
        }
    }

    pub(crate) fn req_str(&mut self, key: &str) -> Result<String, EpcisError> {
        self.opt_str(key)?
            .ok_or_else(|| self.err(key, "is required"))
    }

    pub(crate) fn opt_number(&mut self, key: &str) -> Result<Option<Number>, EpcisError> {
        match self.map.remove(key) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(Some(n)),
            Some(other) => {
                Err(self.err(key, format!("must be a number, not {}", json_kind(&other))))
            }
        }
    }

    pub(crate) fn opt_object(&mut self, key: &str) -> Result<Option<Value>, EpcisError> {
        match self.map.remove(key) {
            None => Ok(None),
            Some(v @ Value::Object(_)) => Ok(Some(v)),
            Some(other) => {
                Err(self.err(key, format!("must be an object, not {}", json_kind(&other))))
            }
        }
    }

    /// The array's items, or none if absent. An empty array is left in the
    /// extension content, so it is written back as it came.
    pub(crate) fn list(&mut self, key: &str) -> Result<Vec<Value>, EpcisError> {
        match self.map.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) if items.is_empty() => Ok(Vec::new()),
            Some(Value::Array(_)) => match self.map.remove(key) {
                Some(Value::Array(items)) => Ok(items),
                _ => Ok(Vec::new()),
            },
            Some(other) => {
                Err(self.err(key, format!("must be an array, not {}", json_kind(other))))
            }
        }
    }

    pub(crate) fn opt_time(&mut self, key: &str) -> Result<Option<Timestamp>, EpcisError> {
        match self.opt_str(key)? {
            None => Ok(None),
            Some(text) => Timestamp::parse(&text)
                .map(Some)
                .map_err(|e| self.err(key, e)),
        }
    }

    pub(crate) fn rest(self) -> Extra {
        self.map
    }
}

/// A list item that must be a string, e.g. `epcList[3]`.
pub(crate) fn item_str<'v>(
    value: &'v Value,
    event: Option<usize>,
    field: &str,
) -> Result<&'v str, EpcisError> {
    value.as_str().ok_or_else(|| {
        EpcisError::new(
            event,
            field,
            format!("must be a string, not {}", json_kind(value)),
        )
    })
}

/// Parses an identifier that must be one of `kinds` (e.g. `["SGTIN", "SSCC"]`).
pub(crate) fn parse_epc(
    text: &str,
    event: Option<usize>,
    field: &str,
    kinds: &[&str],
) -> Result<EpcRef, EpcisError> {
    let expected = kinds.join(" or ");
    let parsed = EpcUri::parse(text).map_err(|e| {
        // The URI is already quoted once; say only what is wrong with it.
        let why = match e {
            Gs1Error::Uri { reason, .. } => reason,
            other => other.to_string(),
        };
        EpcisError::new(
            event,
            field,
            format!("{text:?} is not an {expected}: {why}"),
        )
    })?;
    if !kinds.contains(&parsed.epc.kind()) {
        return Err(EpcisError::new(
            event,
            field,
            format!(
                "{text:?} is not an {expected}: it names an {}",
                parsed.epc.kind()
            ),
        ));
    }
    Ok(EpcRef {
        epc: parsed.epc,
        form: parsed.form,
        text: text.to_string(),
    })
}
