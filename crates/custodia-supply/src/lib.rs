//! Custodia's drug traceability domain (see README.md).

pub mod epcis;
pub mod gs1;
pub mod time;
