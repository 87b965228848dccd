//! The API over TLS, when `config.toml` names a certificate (`[tls]`).
//!
//! Health data and bearer tokens cross hospital networks (HIPAA
//! §164.312(e), transmission security). With `[tls]` the node serves its
//! API over HTTPS only, and calls other members' nodes over HTTPS,
//! accepting only certificates that chain to the consortium's authorities
//! (`ca`), never the system's.
//!
//! Connections are accepted and handshaken by the API's front door
//! (`crate::front_door`), each handshake on its own task and bounded in
//! time, so a client that opens a connection and stalls holds nothing but
//! its own connection.

use crate::config::TlsFiles;
use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} {path}: {reason}; check [tls] in config.toml")]
    Read {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("{path} holds no certificate (PEM, -----BEGIN CERTIFICATE-----)")]
    NoCertificate { path: PathBuf },
    #[error("the certificate and key do not make a TLS server: {0}")]
    Server(rustls::Error),
}

/// What a node with `[tls]` needs: its server settings and the
/// authorities it trusts for its peers.
pub struct Tls {
    pub server: Arc<rustls::ServerConfig>,
    pub peer_roots: Vec<reqwest::Certificate>,
}

/// Read and check the `[tls]` files, relative to `home`.
pub fn load(files: &TlsFiles, home: &Path) -> Result<Tls, TlsError> {
    let (cert, key, ca) = (
        home.join(&files.cert),
        home.join(&files.key),
        home.join(&files.ca),
    );
    let chain = certificates(&cert, "the certificate")?;
    let key = PrivateKeyDer::from_pem_file(&key).map_err(|e| TlsError::Read {
        what: "the private key",
        path: key.clone(),
        reason: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Server)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(TlsError::Server)?;
    let peer_roots = certificates(&ca, "the authorities")?
        .iter()
        .map(|der| reqwest::Certificate::from_der(der))
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Read {
            what: "the authorities",
            path: ca.clone(),
            reason: e.to_string(),
        })?;
    Ok(Tls {
        server: Arc::new(server),
        peer_roots,
    })
}

fn certificates(path: &Path, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let read = |reason: String| TlsError::Read {
        what,
        path: path.to_path_buf(),
        reason,
    };
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|e| read(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| read(e.to_string()))?;
    if certificates.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certificates)
}
