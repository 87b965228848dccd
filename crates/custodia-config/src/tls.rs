//! `[tls]`: the files a node serves HTTPS with and trusts its peers by.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `[tls]` in config.toml: paths relative to the node's home.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// This node's certificate chain (PEM), valid for its API address.
    pub cert: PathBuf,
    /// The certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// The authorities (PEM) that sign the members' certificates: other
    /// members' nodes are trusted only if their certificate chains to one.
    pub ca: PathBuf,
}

/// The `[tls]` table, explained: commented out while the API is plain
/// HTTP. (Before `[vault]`: a table ends the top-level settings.)
pub(crate) fn tls_toml(tls: Option<&TlsFiles>) -> String {
    let intro = r#"# HTTPS. With this table the API is served over TLS only, and calls to
# other members' nodes (key release, replicas, file streams) go over HTTPS
# and accept only a certificate that chains to one of the authorities in
# `ca` (the consortium's, not the system's). Every member of a consortium
# should then have it. Paths are relative to this directory.
#   cert   this node's certificate chain (PEM), valid for its API address
#          (an IP address SAN for an address like 10.0.0.5:8400)
#   key    its private key (PEM: PKCS#8, PKCS#1 or SEC1)
#   ca     the authorities that sign the members' certificates (PEM)
"#;
    let quoted = |path: &std::path::Path| crate::quoted(&path.display().to_string());
    match tls {
        None => format!(
            "{intro}# [tls]\n# cert = \"tls/node.pem\"\n# key = \"tls/node.key\"\n# ca = \"tls/ca.pem\"\n"
        ),
        Some(tls) => format!(
            "{intro}[tls]\ncert = {}\nkey = {}\nca = {}\n",
            quoted(&tls.cert),
            quoted(&tls.key),
            quoted(&tls.ca)
        ),
    }
}
