//! `[vault]`: where a vault keeps its ciphertexts, as configured: local
//! disk, the default, or an S3-compatible bucket. Credentials never come
//! from here (the vault reads the standard `AWS_*` environment variables).

use crate::quoted;
use serde::{Deserialize, Serialize};

/// The backend of a vault's ciphertext store. Keys always stay local.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "store", rename_all = "lowercase", deny_unknown_fields)]
pub enum VaultBackend {
    /// `<vault>/objects` on local disk. (A struct variant, not a unit
    /// one, so that a stray `bucket` beside `store = "local"` is refused
    /// rather than ignored.)
    Local {},
    /// An S3-compatible object store (AWS S3, MinIO, Ceph, ...).
    S3(S3Settings),
}

/// An S3 bucket and how to reach it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    pub bucket: String,
    /// For a store other than AWS (e.g. `http://minio:9000`); requests
    /// then name the bucket in the path, not the host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Defaults to `AWS_REGION` from the environment, else `us-east-1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Where this member's objects go in the bucket; defaults to its org
    /// id, so members sharing a bucket never touch each other's objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Allow a plain-HTTP endpoint (ciphertext only crosses it, but
    /// request signatures could be replayed): for a store on a trusted
    /// network or in tests.
    #[serde(default)]
    pub allow_http: bool,
}

impl Default for VaultBackend {
    fn default() -> Self {
        Self::Local {}
    }
}

impl S3Settings {
    /// The prefix this member's objects go under.
    pub fn prefix_for<'a>(&'a self, member: &'a str) -> &'a str {
        self.prefix.as_deref().unwrap_or(member)
    }
}

/// The `[vault]` table, explained: commented out while ciphertexts stay on
/// local disk, with the values in force for an S3 bucket. Last in the
/// file, since a table ends the top-level settings.
pub(crate) fn vault_toml(vault: &VaultBackend, org: &str) -> String {
    let intro = format!(
        r#"# Where the vault keeps ciphertexts. Keys never leave this node
# (vault/keys), so a bucket holds only ciphertext; erasing a record still
# shreds its key here and deletes its objects wherever they are.
# Local disk (vault/objects) unless the table below says store = "s3",
# an S3-compatible object store (AWS S3, MinIO, Ceph, ...). Credentials
# come only from the environment: AWS_ACCESS_KEY_ID and
# AWS_SECRET_ACCESS_KEY (AWS_SESSION_TOKEN if any), or an instance role;
# never put them in this file. The node checks the bucket when it starts.
#   bucket      the bucket (required)
#   endpoint    a store other than AWS, e.g. "https://minio.internal:9000";
#               buckets are then addressed by path
#   region      default: AWS_REGION, else us-east-1
#   prefix      where this member's objects go in the bucket; default: this
#               organisation's id ({org}), so members can share a bucket
#               and never touch each other's objects
#   allow_http  true to allow a plain-HTTP endpoint (a trusted network)
"#,
        org = quoted(org)
    );
    let optional = |name: &str, value: &Option<String>, example: &str| match value {
        Some(value) => format!("{name} = {}\n", quoted(value)),
        None => format!("# {name} = {}\n", quoted(example)),
    };
    match vault {
        VaultBackend::Local {} => format!(
            "{intro}# [vault]\n# store = \"s3\"\n# bucket = \"custodia-vault\"\n\
             # endpoint = \"https://minio.internal:9000\"\n# region = \"eu-west-1\"\n\
             # prefix = {}\n# allow_http = false\n",
            quoted(org)
        ),
        VaultBackend::S3(s3) => format!(
            "{intro}[vault]\nstore = \"s3\"\nbucket = {}\n{}{}{}allow_http = {}\n",
            quoted(&s3.bucket),
            optional("endpoint", &s3.endpoint, "https://minio.internal:9000"),
            optional("region", &s3.region, "eu-west-1"),
            optional("prefix", &s3.prefix, org),
            s3.allow_http
        ),
    }
}
