//! GS1 identifiers: what a pack, a lot, a case or a site is called.
//!
//! Keys are validated (lengths, mod-10 check digits, character set 82) when
//! parsed, so every other module can rely on a `Gtin` being a real GTIN.
//! [`EpcUri`] reads and writes the two URI spellings EPCIS uses.

mod digits;
mod error;
mod ids;
mod keys;
mod text;
mod uri;

pub use error::Gs1Error;
pub use ids::{Epc, Lgtin, Sgln, Sgtin};
pub use keys::{Gln, Gtin, Sscc};
pub use text::{GlnExtension, Lot, Serial};
pub use uri::{digital_link, epc_urn, EpcUri, IdForm, GS1_RESOLVER};

/// Percent-escapes text the way EPC URNs do, so it can be one segment of a
/// state key even when it contains `/`.
pub(crate) fn key_segment(text: &str) -> String {
    digits::escape_urn(text)
}
