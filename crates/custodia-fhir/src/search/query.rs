//! A FHIR search (R4 3.1.1): the parameters of a query, parsed once
//! against the type's SearchParameters, matched against what each resource
//! is found by (`Indexed`), and the result parameters (`_sort`, `_count`,
//! `_include`, `_revinclude`, `_summary`, `_elements`). Anything it does not
//! understand is refused with what is supported, never silently ignored.

use super::dates::{DateRange, Prefix};
use super::params::{local_reference, param, IndexValue, Indexed, ParamKind};
use crate::outcome::{IssueType, Outcome};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// Most entries on one page.
pub const MAX_COUNT: usize = 100;
const DEFAULT_COUNT: usize = 20;

/// Parameters that shape the answer, not the matches.
const RESULT_PARAMS: &[&str] = &[
    "_count",
    "_offset",
    "_sort",
    "_include",
    "_revinclude",
    "_summary",
    "_elements",
    "_format",
    "_pretty",
    "_total",
];

#[derive(Clone, Debug)]
pub struct Query {
    pub resource_type: String,
    clauses: Vec<Clause>,
    sort: Vec<Sort>,
    pub count: usize,
    pub offset: usize,
    /// `_summary=count`: the total only.
    pub count_only: bool,
    /// `_elements`: the top-level elements to return (and the mandatory
    /// ones); `None`: whole resources.
    pub elements: Option<Vec<String>>,
    pub include: Vec<Include>,
    pub revinclude: Vec<Include>,
}

/// `_include=Observation:patient` or `_revinclude=Provenance:target`: the
/// resources a reference parameter of `source_type` links.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Include {
    pub source_type: String,
    pub param: String,
    /// Only references to this type (`Observation:subject:Patient`).
    pub target: Option<String>,
}

#[derive(Clone, Debug)]
struct Clause {
    code: String,
    modifier: Modifier,
    /// Any of these (a comma-separated list is OR).
    predicates: Vec<Predicate>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Modifier {
    None,
    /// `:missing=true|false`.
    Missing(bool),
    /// Token `:not`: no value matches.
    Not,
    /// String `:exact`: the whole string, case and accents as written.
    Exact,
    /// String `:contains`: anywhere in the string.
    Contains,
}

#[derive(Clone, Debug)]
enum Predicate {
    /// `system|code`, `|code` (no system), `system|` (any code), `code`.
    Token {
        system: Option<String>,
        code: Option<String>,
    },
    /// As the client wrote it, and lower-cased.
    Text {
        written: String,
        lower: String,
    },
    Date {
        prefix: Prefix,
        range: DateRange,
    },
    /// `Type/id`, or a bare `id` (`resource_type` `None`: any type), or a
    /// canonical URL as written.
    Reference {
        resource_type: Option<String>,
        id: String,
        url: String,
    },
    Uri(String),
}

/// Where a resource sorts under a query's `_sort`: one value per sort key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SortValue {
    Date(i64),
    Text(String),
}

pub type SortKey = Vec<Option<SortValue>>;

#[derive(Clone, Debug)]
struct Sort {
    code: String,
    descending: bool,
}

fn bad(diagnostics: String) -> Outcome {
    Outcome::new(400, IssueType::Value, diagnostics)
}

fn unsupported(diagnostics: String) -> Outcome {
    Outcome::new(400, IssueType::NotSupported, diagnostics)
}

impl Query {
    /// Parse `params` (decoded `name=value` pairs, repeats kept: repeated
    /// parameters must all match) of a search of `resource_type`.
    pub fn parse(resource_type: &str, params: &[(String, String)]) -> Result<Self, Outcome> {
        let mut query = Self {
            resource_type: resource_type.to_string(),
            clauses: Vec::new(),
            sort: Vec::new(),
            count: DEFAULT_COUNT,
            offset: 0,
            count_only: false,
            elements: None,
            include: Vec::new(),
            revinclude: Vec::new(),
        };
        for (name, value) in params {
            if RESULT_PARAMS.contains(&name.as_str()) {
                query.result_param(name, value)?;
            } else {
                query
                    .clauses
                    .push(Clause::parse(resource_type, name, value)?);
            }
        }
        if query.sort.is_empty() {
            query.sort.push(Sort {
                code: "_lastUpdated".into(),
                descending: false,
            });
        }
        Ok(query)
    }

    fn result_param(&mut self, name: &str, value: &str) -> Result<(), Outcome> {
        let number = || {
            value
                .parse::<usize>()
                .map_err(|_| bad(format!("{name}={value:?}: a whole number, please")))
        };
        match name {
            "_count" => self.count = number()?.clamp(1, MAX_COUNT),
            "_offset" => self.offset = number()?,
            "_sort" => {
                for key in value.split(',') {
                    let (code, descending) = match key.strip_prefix('-') {
                        Some(code) => (code, true),
                        None => (key, false),
                    };
                    param(&self.resource_type, code).ok_or_else(|| {
                        unsupported(format!(
                            "_sort={value}: {} has no search parameter {code:?} to sort by",
                            self.resource_type
                        ))
                    })?;
                    self.sort.push(Sort {
                        code: code.to_string(),
                        descending,
                    });
                }
            }
            "_include" | "_revinclude" => {
                let include = Include::parse(value, name)?;
                if name == "_include" {
                    if include.source_type != self.resource_type {
                        return Err(bad(format!(
                            "_include={value}: a search of {} includes through its own parameters ({}:<param>)",
                            self.resource_type, self.resource_type
                        )));
                    }
                    self.include.push(include);
                } else {
                    self.revinclude.push(include);
                }
            }
            "_summary" => match value {
                "count" => self.count_only = true,
                "false" => {}
                other => {
                    return Err(unsupported(format!(
                        "_summary={other}: only _summary=count (the total) and _summary=false are supported; use _elements to choose elements"
                    )))
                }
            },
            "_elements" => {
                self.elements = Some(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|e| !e.is_empty())
                        .map(str::to_string)
                        .collect(),
                )
            }
            // `_format` (JSON is all this server speaks), `_pretty`, `_total`.
            _ => {}
        }
        Ok(())
    }

    /// Does a resource found by `indexed` match every parameter?
    pub fn matches(&self, indexed: &Indexed) -> bool {
        self.clauses.iter().all(|clause| clause.matches(indexed))
    }

    /// The values the index can look up directly, without a scan: those
    /// of the first parameter whose matches must carry one of them (a
    /// token's code, a reference's `Type/id`), as `(code, value)` keys;
    /// `None` if no parameter narrows that way.
    pub fn lookup_keys(&self) -> Option<(&str, Vec<String>)> {
        self.clauses.iter().find_map(|clause| {
            if clause.modifier != Modifier::None {
                return None;
            }
            let keys: Option<Vec<String>> = clause
                .predicates
                .iter()
                .map(|p| match p {
                    Predicate::Token {
                        code: Some(code), ..
                    } => Some(code.clone()),
                    Predicate::Reference {
                        resource_type: Some(t),
                        id,
                        ..
                    } => Some(format!("{t}/{id}")),
                    _ => None,
                })
                .collect();
            Some((clause.code.as_str(), keys?))
        })
    }

    /// Where a resource found by `indexed` sorts.
    pub fn sort_key(&self, indexed: &Indexed) -> SortKey {
        self.sort
            .iter()
            .map(|sort| {
                let values = indexed.values(&sort.code).iter().map(|v| match v {
                    IndexValue::Date(range) => SortValue::Date(if sort.descending {
                        range.high
                    } else {
                        range.low
                    }),
                    IndexValue::Token { code: text, .. }
                    | IndexValue::Text(text)
                    | IndexValue::Reference(text)
                    | IndexValue::Uri(text) => SortValue::Text(text.to_lowercase()),
                });
                if sort.descending {
                    values.max()
                } else {
                    values.min()
                }
            })
            .collect()
    }

    /// Order two sort keys of this query (a missing value sorts last).
    pub fn compare(&self, a: &SortKey, b: &SortKey) -> Ordering {
        for ((sort, a), b) in self.sort.iter().zip(a).zip(b) {
            let order = match (a, b) {
                (Some(a), Some(b)) if sort.descending => b.cmp(a),
                (Some(a), Some(b)) => a.cmp(b),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            };
            if order != Ordering::Equal {
                return order;
            }
        }
        Ordering::Equal
    }
}

impl Include {
    fn parse(value: &str, name: &str) -> Result<Self, Outcome> {
        let mut parts = value.split(':');
        let (Some(source_type), Some(code)) = (parts.next(), parts.next()) else {
            return Err(bad(format!(
                "{name}={value}: write {name}=<Type>:<reference parameter>[:<target type>], e.g. Observation:patient"
            )));
        };
        let target = parts.next().map(str::to_string);
        match param(source_type, code) {
            Some(p) if p.kind == ParamKind::Reference => Ok(Self {
                source_type: source_type.to_string(),
                param: code.to_string(),
                target,
            }),
            _ => Err(unsupported(format!(
                "{name}={value}: {source_type} has no reference parameter {code:?}"
            ))),
        }
    }
}

impl Clause {
    fn parse(resource_type: &str, name: &str, value: &str) -> Result<Self, Outcome> {
        let (code, modifier_text) = match name.split_once(':') {
            Some((code, modifier)) => (code, Some(modifier)),
            None => (name, None),
        };
        let definition = param(resource_type, code).ok_or_else(|| {
            unsupported(format!(
                "{resource_type} has no search parameter {code:?} here; GET /fhir/metadata lists those supported"
            ))
        })?;
        let kind = definition.kind;
        let mut type_modifier = None;
        let modifier = match (modifier_text, kind) {
            (None, _) => Modifier::None,
            (Some("missing"), _) => match value {
                "true" => Modifier::Missing(true),
                "false" => Modifier::Missing(false),
                _ => return Err(bad(format!("{name}={value}: :missing takes true or false"))),
            },
            (Some("not"), ParamKind::Token) => Modifier::Not,
            (Some("exact"), ParamKind::String) => Modifier::Exact,
            (Some("contains"), ParamKind::String) => Modifier::Contains,
            (Some(t), ParamKind::Reference) if crate::r4::is_resource_type(t) => {
                type_modifier = Some(t.to_string());
                Modifier::None
            }
            (Some(other), kind) => {
                return Err(unsupported(format!(
                    "{name}: the modifier :{other} is not supported on a {} parameter",
                    kind.name()
                )))
            }
        };
        let predicates = match modifier {
            Modifier::Missing(_) => Vec::new(),
            _ => split_or(value)
                .map(|v| {
                    Predicate::parse(
                        kind,
                        name,
                        &v,
                        type_modifier.as_deref(),
                        &definition.targets(),
                    )
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(Self {
            code: code.to_string(),
            modifier,
            predicates,
        })
    }

    fn matches(&self, indexed: &Indexed) -> bool {
        let values = indexed.values(&self.code);
        let any = |modifier: &Modifier| {
            values
                .iter()
                .any(|v| self.predicates.iter().any(|p| p.matches(v, modifier)))
        };
        match &self.modifier {
            Modifier::Missing(missing) => values.is_empty() == *missing,
            Modifier::Not => !any(&Modifier::None),
            modifier => any(modifier),
        }
    }
}

/// A value list split on unescaped commas (`\,` is a comma in a value).
fn split_or(value: &str) -> impl Iterator<Item = String> + '_ {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => current.extend(chars.next()),
            ',' => parts.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    parts.push(current);
    parts.into_iter()
}

impl Predicate {
    fn parse(
        kind: ParamKind,
        name: &str,
        value: &str,
        type_modifier: Option<&str>,
        targets: &[&str],
    ) -> Result<Self, Outcome> {
        if value.is_empty() {
            return Err(bad(format!("{name}= names no value")));
        }
        Ok(match kind {
            ParamKind::Token => match value.split_once('|') {
                Some((system, code)) => Predicate::Token {
                    system: Some(system.to_string()),
                    code: (!code.is_empty()).then(|| code.to_string()),
                },
                None => Predicate::Token {
                    system: None,
                    code: Some(value.to_string()),
                },
            },
            ParamKind::String => Predicate::Text {
                written: value.to_string(),
                lower: value.to_lowercase(),
            },
            ParamKind::Date => {
                let (prefix, date) = Prefix::split(value);
                let range = DateRange::parse(date).ok_or_else(|| {
                    bad(format!(
                        "{name}={value:?}: use a prefix (eq, ne, gt, ge, lt, le, sa, eb, ap) and a date such as 2026-11-25 or 2026-11-25T10:00:00Z"
                    ))
                })?;
                Predicate::Date { prefix, range }
            }
            ParamKind::Reference => {
                let local = local_reference(value);
                let (resource_type, id) = match local.split_once('/') {
                    Some((t, id)) if !value.starts_with("urn:") => {
                        (Some(t.to_string()), id.to_string())
                    }
                    // A bare id: of the modifier's type, or the only type
                    // the parameter can point to.
                    _ => match (type_modifier, targets) {
                        (Some(t), _) => (Some(t.to_string()), local.clone()),
                        (None, [only]) => (Some(only.to_string()), local.clone()),
                        (None, _) => (None, local.clone()),
                    },
                };
                Predicate::Reference {
                    resource_type,
                    id,
                    url: value.to_string(),
                }
            }
            ParamKind::Uri => Predicate::Uri(value.to_string()),
        })
    }

    fn matches(&self, value: &IndexValue, modifier: &Modifier) -> bool {
        match (self, value) {
            (Predicate::Token { system, code }, IndexValue::Token { system: s, code: c }) => {
                let system_fits = match system.as_deref() {
                    None => true,
                    Some("") => s.is_none(),
                    Some(wanted) => s.as_deref() == Some(wanted),
                };
                system_fits && code.as_ref().is_none_or(|wanted| wanted == c)
            }
            (Predicate::Text { written, lower }, IndexValue::Text(text)) => match modifier {
                Modifier::Exact => text == written,
                Modifier::Contains => text.to_lowercase().contains(lower.as_str()),
                _ => text.to_lowercase().starts_with(lower.as_str()),
            },
            (Predicate::Date { prefix, range }, IndexValue::Date(value)) => {
                prefix.holds(*value, *range)
            }
            (
                Predicate::Reference {
                    resource_type,
                    id,
                    url,
                },
                IndexValue::Reference(reference),
            ) => {
                reference == url
                    || match resource_type {
                        Some(t) => {
                            reference
                                .strip_prefix(t.as_str())
                                .and_then(|r| r.strip_prefix('/'))
                                == Some(id.as_str())
                        }
                        None => reference.rsplit('/').next() == Some(id.as_str()),
                    }
            }
            (Predicate::Uri(wanted), IndexValue::Uri(uri)) => wanted == uri,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::params::index;
    use super::*;
    use serde_json::json;

    fn query(resource_type: &str, text: &str) -> Result<Query, Outcome> {
        let params: Vec<(String, String)> = text
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap();
                (k.to_string(), v.to_string())
            })
            .collect();
        Query::parse(resource_type, &params)
    }

    fn matches(resource_type: &str, text: &str, resource: &serde_json::Value) -> bool {
        query(resource_type, text)
            .unwrap()
            .matches(&index(resource_type, resource))
    }

    #[test]
    fn tokens_strings_dates_and_references_match_as_r4_says() {
        let patient = json!({
            "resourceType": "Patient", "id": "p1",
            "identifier": [{"system": "urn:mrn", "value": "12345"}],
            "name": [{"family": "Chalmers", "given": ["Peter"]}],
            "gender": "male", "birthDate": "1974-12-25",
            "meta": {"lastUpdated": "2026-11-25T10:00:00.000Z"}
        });
        let yes = |q: &str| assert!(matches("Patient", q, &patient), "{q} should match");
        let no = |q: &str| assert!(!matches("Patient", q, &patient), "{q} should not match");
        yes("identifier=urn:mrn|12345");
        yes("identifier=12345");
        no("identifier=urn:other|12345");
        no("identifier=|12345");
        yes("identifier=urn:mrn|");
        yes("family=chal");
        no("family=halm");
        yes("family:contains=halm");
        yes("family:exact=Chalmers");
        no("family:exact=chalmers");
        yes("name=peter");
        yes("gender=male&birthdate=1974");
        no("gender=male&birthdate=1975");
        yes("gender=female,male");
        yes("gender:not=female");
        no("gender:not=male");
        yes("birthdate=ge1974-12-25&birthdate=lt1975");
        yes("_id=p1");
        yes("_lastUpdated=ge2026-11-25");
        yes("email:missing=true");
        no("gender:missing=true");
        let observation =
            json!({"resourceType": "Observation", "subject": {"reference": "Patient/p1"}});
        assert!(matches("Observation", "patient=p1", &observation));
        assert!(matches("Observation", "patient=Patient/p1", &observation));
        assert!(matches("Observation", "subject=p1", &observation));
        assert!(matches("Observation", "subject:Patient=p1", &observation));
        assert!(matches(
            "Observation",
            "patient=https://h.org/fhir/Patient/p1",
            &observation
        ));
        assert!(!matches("Observation", "subject:Group=p1", &observation));
        assert!(!matches("Observation", "patient=p2", &observation));
    }

    #[test]
    fn what_is_not_understood_is_refused_with_what_to_do() {
        for (q, says) in [
            ("nickname=x", "GET /fhir/metadata"),
            ("gender:contains=m", ":contains"),
            ("birthdate=soon", "prefix"),
            ("_summary=true", "_summary=count"),
            ("_sort=bogus", "bogus"),
            ("_include=Observation:patient", "Patient:<param>"),
            ("_revinclude=Observation:nothing", "nothing"),
            ("_count=many", "whole number"),
            ("gender=", "no value"),
        ] {
            let outcome = query("Patient", q).expect_err(q);
            assert_eq!(outcome.status, 400);
            assert!(
                outcome.issues[0].diagnostics.contains(says),
                "{q}: {outcome:?}"
            );
        }
        let ok = query("Patient", "_include=Patient:organization&_revinclude=Observation:patient&_elements=name,gender&_summary=count&_count=500").unwrap();
        assert_eq!((ok.count, ok.count_only), (MAX_COUNT, true));
        assert_eq!(
            ok.elements.as_deref(),
            Some(&["name".to_string(), "gender".to_string()][..])
        );
        assert_eq!(ok.revinclude[0].param, "patient");
    }

    #[test]
    fn sorting_by_dates_and_strings_either_way() {
        let q = query("Patient", "_sort=-birthdate,family").unwrap();
        let key = |birth: &str, family: &str| {
            q.sort_key(&index(
                "Patient",
                &json!({"birthDate": birth, "name": [{"family": family}]}),
            ))
        };
        let older = key("1950", "Zed");
        let younger_a = key("1990-05-01", "Abbott");
        let younger_b = key("1990-05-01", "Baker");
        assert_eq!(
            q.compare(&younger_a, &older),
            Ordering::Less,
            "newest first"
        );
        assert_eq!(
            q.compare(&younger_a, &younger_b),
            Ordering::Less,
            "then by family"
        );
        let none = q.sort_key(&index("Patient", &json!({})));
        assert_eq!(
            q.compare(&older, &none),
            Ordering::Less,
            "missing sorts last"
        );
        let by_update = query("Patient", "").unwrap();
        assert_eq!(by_update.sort.len(), 1, "default: oldest update first");
        assert_eq!(
            query("Observation", "code=http://loinc.org|1,2&status=final")
                .unwrap()
                .lookup_keys(),
            Some(("code", vec!["1".to_string(), "2".to_string()]))
        );
        assert_eq!(query("Patient", "name=x").unwrap().lookup_keys(), None);
    }
}
