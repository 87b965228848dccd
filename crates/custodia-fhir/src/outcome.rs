//! OperationOutcome: how every FHIR error is answered.

use serde_json::{json, Value};

/// FHIR `issue-type` codes used by this server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IssueType {
    Invalid,
    Structure,
    Required,
    Value,
    /// A code outside the value set a required binding names.
    CodeInvalid,
    NotSupported,
    NotFound,
    Deleted,
    Forbidden,
    Security,
    Login,
    TooLong,
    Conflict,
    Processing,
    Exception,
    Timeout,
    /// Too many requests of this kind at once; retry later.
    Throttled,
    /// The content could not be stored (e.g. the disk is full).
    NoStore,
    /// The request would cost too much (a search matching too much).
    TooCostly,
    /// Not possible now, may be later: retry.
    Transient,
}

impl IssueType {
    pub fn code(self) -> &'static str {
        match self {
            IssueType::Invalid => "invalid",
            IssueType::Structure => "structure",
            IssueType::Required => "required",
            IssueType::Value => "value",
            IssueType::CodeInvalid => "code-invalid",
            IssueType::NotSupported => "not-supported",
            IssueType::NotFound => "not-found",
            IssueType::Deleted => "deleted",
            IssueType::Forbidden => "forbidden",
            IssueType::Security => "security",
            IssueType::Login => "login",
            IssueType::TooLong => "too-long",
            IssueType::Conflict => "conflict",
            IssueType::Processing => "processing",
            IssueType::Exception => "exception",
            IssueType::Timeout => "timeout",
            IssueType::Throttled => "throttled",
            IssueType::NoStore => "no-store",
            IssueType::TooCostly => "too-costly",
            IssueType::Transient => "transient",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    pub code: IssueType,
    pub diagnostics: String,
    /// Where in the resource (FHIRPath), when it is about an element.
    pub expression: Option<String>,
}

/// An error answer: the HTTP status and the issues.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub status: u16,
    pub issues: Vec<Issue>,
}

impl Outcome {
    pub fn new(status: u16, code: IssueType, diagnostics: impl Into<String>) -> Self {
        Self {
            status,
            issues: vec![Issue {
                code,
                diagnostics: diagnostics.into(),
                expression: None,
            }],
        }
    }

    pub(crate) fn invalid(issues: Vec<Issue>) -> Self {
        Self {
            status: 400,
            issues,
        }
    }

    /// The R4 OperationOutcome resource.
    pub fn to_json(&self) -> Value {
        let issues: Vec<Value> = self
            .issues
            .iter()
            .map(|issue| {
                let mut value = json!({
                    "severity": "error",
                    "code": issue.code.code(),
                    "diagnostics": issue.diagnostics,
                });
                if let Some(expression) = &issue.expression {
                    value["expression"] = json!([expression]);
                }
                value
            })
            .collect();
        json!({ "resourceType": "OperationOutcome", "issue": issues })
    }
}
