//! R4's search parameters (from `rules.json`, generated from the official
//! SearchParameter definitions) and what a resource is found by: the
//! values each parameter's element paths select, as search compares them.

use super::dates::DateRange;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// The kinds of search parameter offered (R4 `search-param-type`);
/// number, quantity, composite and special parameters are not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamKind {
    Token,
    String,
    Date,
    Reference,
    Uri,
}

impl ParamKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::String => "string",
            Self::Date => "date",
            Self::Reference => "reference",
            Self::Uri => "uri",
        }
    }
}

/// One search parameter of one resource type.
#[derive(Debug, Deserialize)]
#[serde(try_from = "RawParam")]
pub struct SearchParam {
    pub kind: ParamKind,
    paths: Vec<ElementPath>,
}

#[derive(Deserialize)]
struct RawParam {
    #[serde(rename = "type")]
    kind: ParamKind,
    paths: Vec<String>,
}

impl TryFrom<RawParam> for SearchParam {
    type Error = String;

    fn try_from(raw: RawParam) -> Result<Self, String> {
        let paths = raw
            .paths
            .iter()
            .map(|p| ElementPath::parse(p))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            kind: raw.kind,
            paths,
        })
    }
}

impl SearchParam {
    /// The resource types a reference parameter may point to, when its
    /// paths say (`subject@Patient`): a bare id in a query names one of
    /// these.
    pub fn targets(&self) -> Vec<&str> {
        let mut targets: Vec<&str> = self
            .paths
            .iter()
            .filter_map(|p| p.target.as_deref())
            .collect();
        targets.dedup();
        targets
    }
}

/// An element path in the generator's language: `a.b`, `a[k=v].b`,
/// `subject@Patient`.
#[derive(Debug)]
struct ElementPath {
    steps: Vec<Step>,
    /// For a reference: only references to this resource type.
    target: Option<String>,
}

#[derive(Debug)]
struct Step {
    name: String,
    /// Only elements whose child `.0` is the string `.1`.
    filter: Option<(String, String)>,
}

impl ElementPath {
    fn parse(text: &str) -> Result<Self, String> {
        let (steps, target) = match text.split_once('@') {
            Some((steps, target)) => (steps, Some(target.to_string())),
            None => (text, None),
        };
        let steps = steps
            .split('.')
            .map(|step| match step.split_once('[') {
                Some((name, filter)) => {
                    let (key, value) = filter
                        .strip_suffix(']')
                        .and_then(|f| f.split_once('='))
                        .ok_or_else(|| format!("bad filter in search path {text:?}"))?;
                    Ok(Step {
                        name: name.to_string(),
                        filter: Some((key.to_string(), value.to_string())),
                    })
                }
                None => Ok(Step {
                    name: step.to_string(),
                    filter: None,
                }),
            })
            .collect::<Result<_, String>>()?;
        Ok(Self { steps, target })
    }

    /// The elements of `resource` this path selects (lists walked).
    fn select<'a>(&self, resource: &'a Value) -> Vec<&'a Value> {
        let mut nodes = vec![resource];
        for step in &self.steps {
            let mut next = Vec::new();
            for node in nodes {
                match node.get(&step.name) {
                    Some(Value::Array(items)) => next.extend(items),
                    Some(one) => next.push(one),
                    None => {}
                }
            }
            if let Some((key, value)) = &step.filter {
                next.retain(|n| n.get(key).and_then(Value::as_str) == Some(value.as_str()));
            }
            nodes = next;
        }
        nodes
    }
}

/// One value a resource is found by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IndexValue {
    /// A code, identifier, contact point, boolean or plain code string.
    Token {
        system: Option<String>,
        code: String,
    },
    /// A string, or the parts of a name or address, as written.
    Text(String),
    Date(DateRange),
    /// `Type/id` of a reference (or a canonical URL, as written).
    Reference(String),
    Uri(String),
}

/// What one resource is found by: each parameter's values, by code.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Indexed {
    values: BTreeMap<&'static str, Vec<IndexValue>>,
}

impl Indexed {
    pub fn values(&self, code: &str) -> &[IndexValue] {
        self.values.get(code).map(Vec::as_slice).unwrap_or_default()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &IndexValue)> {
        self.values
            .iter()
            .flat_map(|(code, values)| values.iter().map(move |v| (*code, v)))
    }
}

/// The parameter `code` of `resource_type` (its own, or one every type
/// has: `_id`, `_lastUpdated`, `_tag`, ...).
pub fn param(resource_type: &str, code: &str) -> Option<&'static SearchParam> {
    let search = &crate::r4::rules::rules().search;
    search
        .get(resource_type)
        .and_then(|params| params.get(code))
        .or_else(|| search.get("Resource")?.get(code))
}

/// Every parameter of `resource_type`, the common ones first.
pub fn params_of(
    resource_type: &str,
) -> impl Iterator<Item = (&'static str, &'static SearchParam)> {
    let search = &crate::r4::rules::rules().search;
    [search.get("Resource"), search.get(resource_type)]
        .into_iter()
        .flatten()
        .flatten()
        .map(|(code, param)| (code.as_str(), param))
}

/// What `resource` (of `resource_type`) is found by.
pub fn index(resource_type: &str, resource: &Value) -> Indexed {
    let mut indexed = Indexed::default();
    for (code, param) in params_of(resource_type) {
        let mut values = Vec::new();
        for path in &param.paths {
            for node in path.select(resource) {
                extract(param.kind, path.target.as_deref(), node, &mut values);
            }
        }
        values.dedup();
        if !values.is_empty() {
            indexed.values.insert(code, values);
        }
    }
    indexed
}

fn extract(kind: ParamKind, target: Option<&str>, node: &Value, out: &mut Vec<IndexValue>) {
    match kind {
        ParamKind::Token => tokens(node, out),
        ParamKind::String => texts(node, out),
        ParamKind::Date => dates(node, out),
        ParamKind::Reference => references(node, target, out),
        ParamKind::Uri => {
            if let Some(uri) = node.as_str() {
                out.push(IndexValue::Uri(uri.to_string()));
            }
        }
    }
}

fn tokens(node: &Value, out: &mut Vec<IndexValue>) {
    let token = |system: Option<&Value>, code: &str| IndexValue::Token {
        system: system.and_then(Value::as_str).map(str::to_string),
        code: code.to_string(),
    };
    match node {
        Value::String(code) => out.push(token(None, code)),
        Value::Bool(b) => out.push(token(None, &b.to_string())),
        Value::Object(fields) => {
            // CodeableConcept: its codings.
            if let Some(codings) = fields.get("coding").and_then(Value::as_array) {
                for coding in codings {
                    tokens(coding, out);
                }
            } else if let Some(code) = fields.get("code").and_then(Value::as_str) {
                // Coding (or a Quantity's unit code).
                out.push(token(fields.get("system"), code));
            } else if let Some(value) = fields.get("value").and_then(Value::as_str) {
                // Identifier, ContactPoint.
                out.push(token(fields.get("system"), value));
            }
        }
        _ => {}
    }
}

/// Elements of a name or address that are not words of it.
const NOT_TEXT: &[&str] = &["use", "type", "period", "extension", "id"];

fn texts(node: &Value, out: &mut Vec<IndexValue>) {
    match node {
        Value::String(text) => out.push(IndexValue::Text(text.clone())),
        Value::Array(items) => items.iter().for_each(|item| texts(item, out)),
        Value::Object(fields) => fields
            .iter()
            .filter(|(key, _)| !NOT_TEXT.contains(&key.as_str()))
            .for_each(|(_, value)| texts(value, out)),
        _ => {}
    }
}

fn dates(node: &Value, out: &mut Vec<IndexValue>) {
    let range = match node {
        Value::String(text) => DateRange::parse(text),
        Value::Object(fields) => {
            if let Some(events) = fields.get("event").and_then(Value::as_array) {
                // Timing: each event.
                events.iter().for_each(|event| dates(event, out));
                None
            } else {
                let text = |key: &str| fields.get(key).and_then(Value::as_str);
                DateRange::period(text("start"), text("end"))
            }
        }
        _ => None,
    };
    out.extend(range.map(IndexValue::Date));
}

fn references(node: &Value, target: Option<&str>, out: &mut Vec<IndexValue>) {
    match node {
        // canonical, uri
        Value::String(url) => out.push(IndexValue::Reference(url.clone())),
        Value::Object(fields) => {
            let Some(reference) = fields.get("reference").and_then(Value::as_str) else {
                return;
            };
            let local = local_reference(reference);
            let fits = target.is_none_or(|t| {
                local
                    .split_once('/')
                    .is_some_and(|(resource_type, _)| resource_type == t)
            });
            if fits {
                out.push(IndexValue::Reference(local));
            }
        }
        _ => {}
    }
}

/// `Type/id` of a reference written relative, absolute
/// (`https://host/fhir/Type/id`) or to a version (`Type/id/_history/2`).
pub fn local_reference(reference: &str) -> String {
    let unversioned = reference
        .split_once("/_history/")
        .map_or(reference, |(resource, _)| resource);
    if reference.starts_with("urn:") {
        return reference.to_string();
    }
    let mut parts = unversioned.rsplitn(3, '/');
    match (parts.next(), parts.next()) {
        (Some(id), Some(resource_type)) => format!("{resource_type}/{id}"),
        _ => unversioned.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn r4_parameters_select_their_elements() {
        let observation = json!({
            "resourceType": "Observation",
            "id": "bp-1",
            "meta": {"lastUpdated": "2026-11-25T10:00:00.000Z"},
            "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
            "subject": {"reference": "Patient/p1"},
            "performer": [{"reference": "https://example.org/fhir/Practitioner/dr-1/_history/3"}],
            "effectivePeriod": {"start": "2026-11-24", "end": "2026-11-25"},
            "component": [{"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]}}]
        });
        let indexed = index("Observation", &observation);
        let token = |system: &str, code: &str| IndexValue::Token {
            system: Some(system.into()),
            code: code.into(),
        };
        assert_eq!(
            indexed.values("code"),
            [token("http://loinc.org", "85354-9")]
        );
        assert_eq!(
            indexed.values("combo-code"),
            [
                token("http://loinc.org", "85354-9"),
                token("http://loinc.org", "8480-6")
            ]
        );
        assert_eq!(
            indexed.values("status"),
            [IndexValue::Token {
                system: None,
                code: "final".into()
            }]
        );
        assert_eq!(
            indexed.values("patient"),
            [IndexValue::Reference("Patient/p1".into())]
        );
        assert_eq!(
            indexed.values("performer"),
            [IndexValue::Reference("Practitioner/dr-1".into())]
        );
        let IndexValue::Date(period) = indexed.values("date")[0] else {
            panic!("a date");
        };
        assert_eq!(period.high - period.low, 2 * 86_400_000);
        assert_eq!(
            indexed.values("_id"),
            [IndexValue::Token {
                system: None,
                code: "bp-1".into()
            }]
        );
        assert_eq!(indexed.values("_lastUpdated").len(), 1);
        // A Group's subject is not a patient: `patient` is subject@Patient.
        let for_group = json!({"subject": {"reference": "Group/g1"}});
        assert!(index("Observation", &for_group)
            .values("patient")
            .is_empty());
        assert_eq!(index("Observation", &for_group).values("subject").len(), 1);
    }

    #[test]
    fn names_addresses_and_contact_points() {
        let patient = json!({
            "name": [{"use": "official", "family": "Chalmers", "given": ["Peter", "James"]}],
            "telecom": [{"system": "phone", "value": "555-1234"}, {"system": "email", "value": "p@example.org"}],
            "gender": "male",
            "birthDate": "1974-12-25",
            "address": [{"city": "PleasantVille", "postalCode": "3999"}]
        });
        let indexed = index("Patient", &patient);
        let texts: Vec<_> = indexed.values("name").to_vec();
        assert_eq!(
            texts,
            ["Chalmers", "Peter", "James"].map(|t| IndexValue::Text(t.into())),
            "the use (official) is not a word of the name"
        );
        assert_eq!(
            indexed.values("family"),
            [IndexValue::Text("Chalmers".into())]
        );
        assert_eq!(indexed.values("email").len(), 1);
        assert_eq!(indexed.values("phone").len(), 1);
        assert_eq!(
            indexed.values("address-city"),
            [IndexValue::Text("PleasantVille".into())]
        );
        assert_eq!(indexed.values("birthdate").len(), 1);
    }

    #[test]
    fn references_are_kept_as_type_and_id() {
        assert_eq!(local_reference("Patient/1"), "Patient/1");
        assert_eq!(local_reference("http://x.org/fhir/Patient/1"), "Patient/1");
        assert_eq!(local_reference("Patient/1/_history/2"), "Patient/1");
        assert_eq!(local_reference("urn:uuid:abc"), "urn:uuid:abc");
        assert!(param("Observation", "patient").unwrap().targets() == ["Patient"]);
        assert!(param("Observation", "_lastUpdated").is_some());
        assert!(param("Observation", "bogus").is_none());
    }
}
