//! Where a vault keeps its ciphertexts, as configured (the node's
//! `[vault]` table): local disk, the default, or an S3-compatible bucket.
//! Credentials never come from here: `object_store` reads the standard
//! `AWS_*` environment variables (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, ...) or an instance role.

use crate::{DiskStore, VaultError};
use custodia_config::{S3Settings, VaultBackend};
use object_store::{
    aws::{AmazonS3Builder, AmazonS3ConfigKey},
    ClientOptions, RetryConfig,
};
use std::{path::Path, sync::Arc, time::Duration};

/// Connection limits for the bucket. No overall request timeout: a file
/// download can outlast any; a stalled one is caught by the read timeout
/// instead (which, for a request, also bounds sending it until the
/// answer starts, so an upload part of 8 MiB has that long).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Few, quick retries: callers (request handlers) wait for the answer, so
/// a store that is down should fail them soon rather than after minutes.
const RETRIES: usize = 3;
const RETRY_TIMEOUT: Duration = Duration::from_secs(30);

/// Open the ciphertext store of the vault in `vault_dir` for the member
/// `member` (the remote store's default prefix).
///
/// # Errors
/// Bad settings, or a store that does not answer a listing of the prefix
/// (unreachable, no such bucket, credentials refused).
pub fn open_store(
    backend: &VaultBackend,
    vault_dir: &Path,
    member: &str,
) -> Result<DiskStore, VaultError> {
    match backend {
        VaultBackend::Local {} => DiskStore::open(vault_dir),
        VaultBackend::S3(s3) => DiskStore::remote(
            s3_store(s3)?,
            s3.prefix_for(member),
            vault_dir.join("staging"),
        ),
    }
}

/// For the node's log: where ciphertexts go (never credentials).
pub fn describe_store(backend: &VaultBackend, member: &str) -> String {
    match backend {
        VaultBackend::Local {} => "local disk".into(),
        VaultBackend::S3(s3) => format!(
            "s3 bucket {:?} at {}, prefix {:?}",
            s3.bucket,
            s3.endpoint.as_deref().unwrap_or("AWS"),
            s3.prefix_for(member)
        ),
    }
}

/// The bucket as an object store: settings from `[vault]`, credentials (and
/// anything not set there) from the environment.
fn s3_store(settings: &S3Settings) -> Result<Arc<dyn object_store::ObjectStore>, VaultError> {
    if settings.bucket.trim().is_empty() {
        return Err(VaultError::Settings(
            "[vault] store = \"s3\" needs a bucket".into(),
        ));
    }
    let client = ClientOptions::new()
        .with_connect_timeout(CONNECT_TIMEOUT)
        .with_timeout_disabled()
        .with_read_timeout(READ_TIMEOUT);
    let mut builder = AmazonS3Builder::new()
        .with_client_options(client)
        .with_retry(RetryConfig {
            max_retries: RETRIES,
            retry_timeout: RETRY_TIMEOUT,
            ..RetryConfig::default()
        });
    // Then the environment, read as `AmazonS3Builder::from_env` does
    // (which would come first and lose its client settings, such as
    // AWS_PROXY_URL or AWS_TIMEOUT, to the defaults above): the
    // credentials, and anything else an operator sets there. Then this
    // file's settings over both.
    for (name, value) in std::env::vars_os() {
        let (Some(name), Some(value)) = (name.to_str(), value.to_str()) else {
            continue;
        };
        if !name.starts_with("AWS_") {
            continue;
        }
        if let Ok(key) = name.to_ascii_lowercase().parse::<AmazonS3ConfigKey>() {
            builder = builder.with_config(key, value);
        }
    }
    builder = builder.with_bucket_name(&settings.bucket);
    if settings.allow_http {
        builder = builder.with_allow_http(true);
    }
    if let Some(endpoint) = &settings.endpoint {
        // A custom endpoint serves buckets by path, not by host name.
        builder = builder
            .with_endpoint(endpoint)
            .with_virtual_hosted_style_request(false);
    }
    if let Some(region) = &settings.region {
        builder = builder.with_region(region);
    }
    let store = builder
        .build()
        .map_err(|e| VaultError::Settings(format!("s3 bucket {:?}: {e}", settings.bucket)))?;
    Ok(Arc::new(store))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Config {
        #[serde(default)]
        vault: VaultBackend,
    }

    fn parse(text: &str) -> Result<VaultBackend, String> {
        toml::from_str::<Config>(text)
            .map(|c| c.vault)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn settings_read_from_toml() {
        assert_eq!(parse(""), Ok(VaultBackend::Local {}));
        assert_eq!(
            parse("[vault]\nstore = \"local\"\n"),
            Ok(VaultBackend::Local {})
        );
        let s3 = parse(
            "[vault]\nstore = \"s3\"\nbucket = \"records\"\nendpoint = \"http://127.0.0.1:9000\"\nallow_http = true\n",
        )
        .unwrap();
        let VaultBackend::S3(settings) = &s3 else {
            panic!("{s3:?}")
        };
        assert_eq!(settings.bucket, "records");
        assert_eq!(settings.prefix_for("st-mary"), "st-mary");
        assert!(settings.allow_http);
        assert_eq!(settings.region, None);
        assert!(describe_store(&s3, "st-mary").contains("\"st-mary\""));

        let missing = parse("[vault]\nstore = \"s3\"\n").unwrap_err();
        assert!(missing.contains("bucket"), "{missing}");
        let typo =
            parse("[vault]\nstore = \"s3\"\nbucket = \"b\"\nendpiont = \"x\"\n").unwrap_err();
        assert!(typo.contains("endpiont"), "{typo}");
        let unknown = parse("[vault]\nstore = \"ftp\"\n").unwrap_err();
        assert!(unknown.contains("ftp"), "{unknown}");
        let stray = parse("[vault]\nstore = \"local\"\nbucket = \"b\"\n").unwrap_err();
        assert!(stray.contains("bucket"), "{stray}");
    }

    #[test]
    fn an_empty_bucket_or_prefix_is_refused_before_any_request() {
        let settings = S3Settings {
            bucket: " ".into(),
            endpoint: None,
            region: None,
            prefix: None,
            allow_http: false,
        };
        assert!(matches!(s3_store(&settings), Err(VaultError::Settings(_))));
        let dir = crate::store::tests::temp();
        let store = crate::store::tests::chunked_memory();
        let empty = DiskStore::remote(store, "/", dir.join("staging")).unwrap_err();
        assert!(empty.to_string().contains("prefix is empty"), "{empty}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn an_unreachable_store_fails_at_open_naming_it() {
        // A port nothing listens on (bound, then released).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = crate::store::tests::temp();
        // Credentials as the environment would give them: without any,
        // object_store would ask an instance metadata service instead.
        let store = AmazonS3Builder::new()
            .with_access_key_id("testing")
            .with_secret_access_key("testing")
            .with_bucket_name("records")
            .with_endpoint(format!("http://127.0.0.1:{port}"))
            .with_allow_http(true)
            .with_retry(RetryConfig {
                max_retries: 1,
                ..RetryConfig::default()
            })
            .build()
            .unwrap();
        let error = DiskStore::remote(Arc::new(store), "st-mary", dir.join("staging")).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("could not list its objects at start"),
            "{message}"
        );
        assert!(message.contains("st-mary"), "{message}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
