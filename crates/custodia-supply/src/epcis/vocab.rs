//! CBV 2.0 code lists (business steps, dispositions, source/destination
//! types) and the EPCIS action.
//!
//! A CBV value may be written three ways: the bare name of JSON-LD
//! (`shipping`), the web vocabulary URI (`https://ref.gs1.org/cbv/BizStep-shipping`)
//! or the EPCIS 1.x URN (`urn:epcglobal:cbv:bizstep:shipping`). All three mean
//! the same term; the spelling is kept so the event is written back as sent.
//! Any other URI is a user extension term and is kept verbatim; a bare word
//! that is not in the CBV list is refused (it is almost always a typo, such as
//! `returning`, which CBV does not define: a return is `shipping` with
//! disposition `returned`).

use std::fmt;
use std::marker::PhantomData;

use serde::{Deserialize, Serialize};

/// One CBV code list.
pub trait CodeList {
    /// For messages: "business step", "disposition", …
    const WHAT: &'static str;
    /// `https://ref.gs1.org/cbv/BizStep-`
    const WEB: &'static str;
    /// `urn:epcglobal:cbv:bizstep:`
    const URN: &'static str;
    /// The terms CBV 2.0 defines.
    const TERMS: &'static [&'static str];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BizStepList;
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DispositionList;
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SourceDestList;

impl CodeList for BizStepList {
    const WHAT: &'static str = "CBV 2.0 business step";
    const WEB: &'static str = "https://ref.gs1.org/cbv/BizStep-";
    const URN: &'static str = "urn:epcglobal:cbv:bizstep:";
    const TERMS: &'static [&'static str] = &[
        "accepting",
        "arriving",
        "assembling",
        "collecting",
        "commissioning",
        "consigning",
        "creating_class_instance",
        "cycle_counting",
        "decommissioning",
        "departing",
        "destroying",
        "disassembling",
        "dispensing",
        "encoding",
        "entering_exiting",
        "holding",
        "inspecting",
        "installing",
        "killing",
        "loading",
        "other",
        "packing",
        "picking",
        "receiving",
        "removing",
        "repackaging",
        "repairing",
        "replacing",
        "reserving",
        "retail_selling",
        "sampling",
        "sensor_reporting",
        "shipping",
        "staging_outbound",
        "stock_taking",
        "stocking",
        "storing",
        "transporting",
        "unloading",
        "unpacking",
        "void_shipping",
    ];
}

impl CodeList for DispositionList {
    const WHAT: &'static str = "CBV 2.0 disposition";
    const WEB: &'static str = "https://ref.gs1.org/cbv/Disp-";
    const URN: &'static str = "urn:epcglobal:cbv:disp:";
    const TERMS: &'static [&'static str] = &[
        "active",
        "available",
        "completeness_verified",
        "completeness_inferred",
        "conformant",
        "container_closed",
        "container_open",
        "damaged",
        "destroyed",
        "dispensed",
        "disposed",
        "encoded",
        "expired",
        "in_progress",
        "in_transit",
        "inactive",
        "mismatch_instance",
        "mismatch_class",
        "mismatch_quantity",
        "needs_replacement",
        "no_pedigree_match",
        "non_conformant",
        "non_sellable_other",
        "partially_dispensed",
        "recalled",
        "reserved",
        "retail_sold",
        "returned",
        "sellable_accessible",
        "sellable_not_accessible",
        "stolen",
        "unavailable",
        "unknown",
    ];
}

impl CodeList for SourceDestList {
    const WHAT: &'static str = "CBV 2.0 source/destination type";
    const WEB: &'static str = "https://ref.gs1.org/cbv/SDT-";
    const URN: &'static str = "urn:epcglobal:cbv:sdt:";
    const TERMS: &'static [&'static str] = &["owning_party", "possessing_party", "location"];
}

/// How a CBV term was spelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Spelling {
    Bare,
    Web,
    Urn,
}

/// A value from code list `L`: a CBV term (with its spelling) or a user
/// extension URI.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Code<L> {
    value: CodeValue,
    list: PhantomData<L>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum CodeValue {
    Cbv {
        term: &'static str,
        spelling: Spelling,
    },
    Extension(String),
}

pub type BizStep = Code<BizStepList>;
pub type Disposition = Code<DispositionList>;
pub type SourceDestType = Code<SourceDestList>;

impl<L: CodeList> Code<L> {
    /// Reads any of the three CBV spellings, or an extension URI.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (name, spelling) = if let Some(name) = text.strip_prefix(L::WEB) {
            (name, Spelling::Web)
        } else if let Some(name) = text.strip_prefix(L::URN) {
            (name, Spelling::Urn)
        } else {
            (text, Spelling::Bare)
        };
        if let Some(term) = L::TERMS.iter().find(|t| **t == name) {
            return Ok(Self::from_value(CodeValue::Cbv { term, spelling }));
        }
        if spelling == Spelling::Bare && text.contains(':') {
            return Ok(Self::from_value(CodeValue::Extension(text.to_string())));
        }
        Err(format!(
            "{text:?} is not a {}; use one of its terms ({}) or an extension URI",
            L::WHAT,
            L::TERMS.join(", ")
        ))
    }

    /// A CBV term in bare (JSON-LD) spelling, e.g. `Code::cbv("shipping")`.
    pub fn cbv(name: &str) -> Option<Self> {
        L::TERMS.iter().find(|t| **t == name).map(|term| {
            Self::from_value(CodeValue::Cbv {
                term,
                spelling: Spelling::Bare,
            })
        })
    }

    /// The CBV term's bare name, or `None` for an extension URI.
    pub fn term(&self) -> Option<&'static str> {
        match self.value {
            CodeValue::Cbv { term, .. } => Some(term),
            CodeValue::Extension(_) => None,
        }
    }

    /// Is this the CBV term `name` (in any spelling)?
    pub fn is(&self, name: &str) -> bool {
        self.term() == Some(name)
    }

    fn from_value(value: CodeValue) -> Self {
        Self {
            value,
            list: PhantomData,
        }
    }
}

/// Writes the value in the spelling it was read in.
impl<L: CodeList> fmt::Display for Code<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            CodeValue::Cbv {
                term,
                spelling: Spelling::Bare,
            } => f.write_str(term),
            CodeValue::Cbv {
                term,
                spelling: Spelling::Web,
            } => write!(f, "{}{term}", L::WEB),
            CodeValue::Cbv {
                term,
                spelling: Spelling::Urn,
            } => write!(f, "{}{term}", L::URN),
            CodeValue::Extension(uri) => f.write_str(uri),
        }
    }
}

/// The EPCIS action: how the event relates to the objects' life cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Action {
    /// The objects come into being (commissioning) or into a container (packing).
    Add,
    /// The objects are seen; nothing is created or removed.
    Observe,
    /// The objects end (decommissioning) or leave a container (unpacking).
    Delete,
}

impl Action {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "ADD" => Ok(Action::Add),
            "OBSERVE" => Ok(Action::Observe),
            "DELETE" => Ok(Action::Delete),
            _ => Err(format!("{text:?} is not ADD, OBSERVE or DELETE")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Add => "ADD",
            Action::Observe => "OBSERVE",
            Action::Delete => "DELETE",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_spellings_one_term() {
        for text in [
            "shipping",
            "https://ref.gs1.org/cbv/BizStep-shipping",
            "urn:epcglobal:cbv:bizstep:shipping",
        ] {
            let step = BizStep::parse(text).unwrap();
            assert!(step.is("shipping"));
            assert_eq!(step.to_string(), text);
        }
        let ext = BizStep::parse("https://example.com/steps/relabelling").unwrap();
        assert_eq!(ext.term(), None);
        let err = BizStep::parse("returning").unwrap_err();
        assert!(err.contains("not a CBV 2.0 business step"), "{err}");
        assert!(Disposition::parse("urn:epcglobal:cbv:disp:returned")
            .unwrap()
            .is("returned"));
        assert!(Disposition::parse("urn:epcglobal:cbv:disp:bogus").is_err());
    }
}
