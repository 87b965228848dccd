//! The two URI spellings of an identifier that EPCIS 2.0 accepts: EPC
//! pure-identity URNs (Tag Data Standard) and GS1 Digital Link URIs.
//!
//! A URN splits the key at the GS1 company prefix (`0614141.812345`) and
//! the key itself does not record where that split is, so the prefix length
//! is kept in [`IdForm::Urn`]; a Digital Link may be served from any domain,
//! so its base is kept in [`IdForm::DigitalLink`]. With the form kept, an
//! identifier is written back in the spelling it arrived in.

use serde::{Deserialize, Serialize};

use super::digits::{check_digit, escape_link, escape_urn, require_digits, unescape};
use super::{Epc, Gln, GlnExtension, Gs1Error, Gtin, Lgtin, Lot, Serial, Sgln, Sgtin, Sscc};

/// The canonical Digital Link resolver.
pub const GS1_RESOLVER: &str = "https://id.gs1.org";

const SGTIN_URN: &str = "urn:epc:id:sgtin:";
const LGTIN_URN: &str = "urn:epc:class:lgtin:";
const SSCC_URN: &str = "urn:epc:id:sscc:";
const SGLN_URN: &str = "urn:epc:id:sgln:";

/// How an identifier was (or is to be) written.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdForm {
    /// `urn:epc:…` with the GS1 company prefix of this many digits (6–12).
    Urn { company_prefix_len: u8 },
    /// `{base}/01/…` where base is e.g. `https://id.gs1.org`.
    DigitalLink { base: String },
}

/// A parsed identifier together with its spelling.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EpcUri {
    pub epc: Epc,
    pub form: IdForm,
}

impl EpcUri {
    /// Parses an EPC URN (`urn:epc:id:sgtin|sscc|sgln:…`,
    /// `urn:epc:class:lgtin:…`) or a GS1 Digital Link URI
    /// (`https://host/01/{gtin}/21/{serial}`, `/01/{gtin}/10/{lot}`,
    /// `/00/{sscc}`, `/414/{gln}[/254/{ext}]`).
    pub fn parse(text: &str) -> Result<Self, Gs1Error> {
        if text.starts_with("urn:") {
            parse_urn(text)
        } else if text.starts_with("https://") || text.starts_with("http://") {
            parse_link(text)
        } else {
            Err(Gs1Error::uri(
                text,
                "expected an EPC URN (urn:epc:…) or a GS1 Digital Link URI (https://…)",
            ))
        }
    }

    /// The identifier written in its form: for input in canonical spelling
    /// this is the input, character for character.
    pub fn to_uri(&self) -> String {
        match &self.form {
            IdForm::Urn { company_prefix_len } => to_urn(&self.epc, *company_prefix_len),
            IdForm::DigitalLink { base } => to_link(&self.epc, base),
        }
    }
}

/// Writes `epc` as a Digital Link on the GS1 resolver; needs nothing but the
/// identifier, so it is the default for events the ledger itself emits.
pub fn digital_link(epc: &Epc) -> String {
    to_link(epc, GS1_RESOLVER)
}

/// Writes `epc` as an EPC URN with a GS1 company prefix of
/// `company_prefix_len` digits (clamped to the valid 6–12).
pub fn epc_urn(epc: &Epc, company_prefix_len: u8) -> String {
    to_urn(epc, company_prefix_len)
}

/// `cp` is clamped to the valid 6–12 digits, so a form built by hand
/// cannot make the split fall outside the key.
fn to_urn(epc: &Epc, cp: u8) -> String {
    let cp = usize::from(cp.clamp(6, 12));
    match epc {
        Epc::Sgtin(id) => {
            let (prefix, item) = split_gtin(&id.gtin, cp);
            format!(
                "{SGTIN_URN}{prefix}.{item}.{}",
                escape_urn(id.serial.as_str())
            )
        }
        Epc::Lgtin(id) => {
            let (prefix, item) = split_gtin(&id.gtin, cp);
            format!("{LGTIN_URN}{prefix}.{item}.{}", escape_urn(id.lot.as_str()))
        }
        Epc::Sscc(sscc) => {
            let s = sscc.as_str();
            format!("{SSCC_URN}{}.{}{}", &s[1..1 + cp], &s[..1], &s[1 + cp..17])
        }
        Epc::Sgln(id) => {
            let g = id.gln.as_str();
            let ext = id
                .extension
                .as_ref()
                .map_or_else(|| "0".to_string(), |e| escape_urn(e.as_str()));
            format!("{SGLN_URN}{}.{}.{ext}", &g[..cp], &g[cp..12])
        }
    }
}

/// Company prefix and indicator+item reference of a GTIN-14.
fn split_gtin(gtin: &Gtin, cp: usize) -> (&str, String) {
    let g = gtin.as_str();
    (&g[1..1 + cp], format!("{}{}", &g[..1], &g[1 + cp..13]))
}

fn to_link(epc: &Epc, base: &str) -> String {
    match epc {
        Epc::Sgtin(id) => format!(
            "{base}/01/{}/21/{}",
            id.gtin,
            escape_link(id.serial.as_str())
        ),
        Epc::Lgtin(id) => format!("{base}/01/{}/10/{}", id.gtin, escape_link(id.lot.as_str())),
        Epc::Sscc(sscc) => format!("{base}/00/{sscc}"),
        Epc::Sgln(id) => match &id.extension {
            Some(ext) => format!("{base}/414/{}/254/{}", id.gln, escape_link(ext.as_str())),
            None => format!("{base}/414/{}", id.gln),
        },
    }
}

fn parse_urn(text: &str) -> Result<EpcUri, Gs1Error> {
    let (scheme, body) = [SGTIN_URN, LGTIN_URN, SSCC_URN, SGLN_URN]
        .into_iter()
        .find_map(|p| text.strip_prefix(p).map(|rest| (p, rest)))
        .ok_or_else(|| {
            Gs1Error::uri(
                text,
                "unsupported EPC URN scheme; expected urn:epc:id:sgtin, urn:epc:id:sscc, \
                 urn:epc:id:sgln or urn:epc:class:lgtin",
            )
        })?;
    let parts: Vec<&str> = if scheme == SSCC_URN {
        body.splitn(2, '.').collect()
    } else {
        // The serial, lot or extension may itself contain dots.
        body.splitn(3, '.').collect()
    };
    let want = if scheme == SSCC_URN { 2 } else { 3 };
    if parts.len() != want {
        return Err(Gs1Error::uri(
            text,
            format!("expected {want} dot-separated parts after {scheme}"),
        ));
    }
    let prefix = parts[0];
    require_digits("GS1 company prefix", prefix)?;
    if !(6..=12).contains(&prefix.len()) {
        return Err(Gs1Error::uri(
            text,
            format!(
                "GS1 company prefix {prefix} has {} digits; expected 6 to 12",
                prefix.len()
            ),
        ));
    }
    let form = IdForm::Urn {
        company_prefix_len: prefix.len() as u8,
    };
    let reference = parts[1];
    let ref_len = |total: usize| -> Result<(), Gs1Error> {
        let ok = reference.len() + prefix.len() == total
            && reference.bytes().all(|b| b.is_ascii_digit());
        if ok {
            Ok(())
        } else {
            Err(Gs1Error::uri(
                text,
                format!(
                    "company prefix and reference must be {total} digits together; got {}.{}",
                    prefix, reference
                ),
            ))
        }
    };
    let epc = match scheme {
        SGTIN_URN | LGTIN_URN => {
            ref_len(13)?;
            let data = format!("{}{}{}", &reference[..1], prefix, &reference[1..]);
            let gtin = Gtin::parse(&with_check(&data))?;
            let text_part = unescape(parts[2])?;
            if scheme == SGTIN_URN {
                Epc::Sgtin(Sgtin::new(gtin, Serial::parse(&text_part)?))
            } else {
                Epc::Lgtin(Lgtin::new(gtin, Lot::parse(&text_part)?))
            }
        }
        SSCC_URN => {
            ref_len(17)?;
            let data = format!("{}{}{}", &reference[..1], prefix, &reference[1..]);
            Epc::Sscc(Sscc::parse(&with_check(&data))?)
        }
        _ => {
            ref_len(12)?;
            let gln = Gln::parse(&with_check(&format!("{prefix}{reference}")))?;
            let extension = match parts[2] {
                "0" => None,
                ext => Some(GlnExtension::parse(&unescape(ext)?)?),
            };
            Epc::Sgln(Sgln { gln, extension })
        }
    };
    Ok(EpcUri { epc, form })
}

fn with_check(data: &str) -> String {
    format!("{data}{}", check_digit(data))
}

fn parse_link(text: &str) -> Result<EpcUri, Gs1Error> {
    if text.contains('?') || text.contains('#') {
        return Err(Gs1Error::uri(
            text,
            "Digital Link query strings and fragments are not supported here; \
             put lot and expiry in the event's ilmd",
        ));
    }
    let scheme_end = text.find("://").map_or(0, |i| i + 3);
    let path_start = text[scheme_end..]
        .find('/')
        .map(|i| scheme_end + i)
        .ok_or_else(|| {
            Gs1Error::uri(
                text,
                "a Digital Link needs a path such as /01/{gtin}/21/{serial}",
            )
        })?;
    let base = &text[..path_start];
    if path_start == scheme_end {
        return Err(Gs1Error::uri(text, "missing host"));
    }
    let segments: Vec<&str> = text[path_start + 1..].split('/').collect();
    let form = IdForm::DigitalLink {
        base: base.to_string(),
    };
    let gtin14 = |value: &str| -> Result<Gtin, Gs1Error> {
        require_digits("GTIN", value)?;
        if value.len() != 14 {
            return Err(Gs1Error::uri(
                text,
                format!("a Digital Link writes the GTIN as 14 digits; got {value}"),
            ));
        }
        Gtin::parse(value)
    };
    let epc = match segments.as_slice() {
        ["01", gtin, "21", serial] => Epc::Sgtin(Sgtin::new(
            gtin14(gtin)?,
            Serial::parse(&unescape(serial)?)?,
        )),
        ["01", gtin, "10", lot] => {
            Epc::Lgtin(Lgtin::new(gtin14(gtin)?, Lot::parse(&unescape(lot)?)?))
        }
        ["00", sscc] => Epc::Sscc(Sscc::parse(sscc)?),
        ["414", gln] => Epc::Sgln(Sgln {
            gln: Gln::parse(gln)?,
            extension: None,
        }),
        ["414", gln, "254", ext] => Epc::Sgln(Sgln {
            gln: Gln::parse(gln)?,
            extension: Some(GlnExtension::parse(&unescape(ext)?)?),
        }),
        ["01", _] => {
            return Err(Gs1Error::uri(
                text,
                "names a product (GTIN) but no serial (/21/) or lot (/10/)",
            ))
        }
        _ => {
            return Err(Gs1Error::uri(
                text,
                "unsupported Digital Link path; expected /01/{gtin}/21/{serial}, \
                 /01/{gtin}/10/{lot}, /00/{sscc} or /414/{gln}[/254/{extension}]",
            ))
        }
    };
    Ok(EpcUri { epc, form })
}
