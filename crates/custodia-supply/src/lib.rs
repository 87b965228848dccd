//! Custodia's drug traceability domain (see README.md).

pub mod gs1;
