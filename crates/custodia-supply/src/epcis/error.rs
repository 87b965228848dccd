//! Why an EPCIS document or event was refused: which event (counted from
//! 1, as a person reading the document counts), which field (as a JSON path
//! inside the event, arrays indexed from 0), and what is wrong with it.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpcisError {
    /// The event's position in `eventList`, from 1; `None` for the document
    /// itself or a standalone event.
    pub event: Option<usize>,
    /// The field, e.g. `epcList[0]` or `sensorElementList[1].sensorReport[0].value`.
    pub field: String,
    /// What is wrong, e.g. `"urn:…" is not an SGTIN or SSCC: …`.
    pub problem: String,
}

impl EpcisError {
    pub(crate) fn new(event: Option<usize>, field: &str, problem: impl Into<String>) -> Self {
        Self {
            event,
            field: field.to_string(),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for EpcisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(n) = self.event {
            write!(f, "event {n}: ")?;
        }
        if self.field.is_empty() {
            f.write_str(&self.problem)
        } else {
            write!(f, "{} {}", self.field, self.problem)
        }
    }
}

impl std::error::Error for EpcisError {}
