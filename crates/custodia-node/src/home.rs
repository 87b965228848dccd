//! A node's home directory: its configuration, keys, genesis and data.
//!
//! ```text
//! <home>/config.toml        commented settings (see `Config`)
//! <home>/genesis.toml       the consortium's genesis, identical on every node
//! <home>/keys/validator.key hex ed25519 key signing consensus messages
//! <home>/keys/admin.key     hex ed25519 key signing the org's governance txs
//! <home>/keys/encryption.key hex X25519 key the vault's data keys are wrapped to
//! <home>/vault/             encrypted clinical content and wrapped data keys
//! <home>/data/              blocks, certificates and state (never edit)
//! ```

use crate::config::Config;
use commonware_codec::Encode as _;
use commonware_cryptography::Signer as _;
use custodia_types::{parse_private_key, Genesis, Member, PrivateKey};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Everything loaded from a home directory that a node needs to start.
pub struct Home {
    pub dir: PathBuf,
    pub config: Config,
    pub genesis: Genesis,
    pub validator_key: PrivateKey,
    pub admin_key: PrivateKey,
}

impl Home {
    pub fn config_path(dir: &Path) -> PathBuf {
        dir.join("config.toml")
    }
    pub fn genesis_path(dir: &Path) -> PathBuf {
        dir.join("genesis.toml")
    }
    pub fn validator_key_path(dir: &Path) -> PathBuf {
        dir.join("keys").join("validator.key")
    }
    pub fn admin_key_path(dir: &Path) -> PathBuf {
        dir.join("keys").join("admin.key")
    }

    /// The organisation's X25519 key that its vault's data keys are
    /// wrapped to; made on first start.
    pub fn encryption_key_path(dir: &Path) -> PathBuf {
        dir.join("keys").join("encryption.key")
    }

    /// Encrypted clinical content and wrapped keys (see `custodia-vault`).
    pub fn vault_dir(&self) -> PathBuf {
        custodia_records::vault_dir(&self.dir)
    }

    /// Load the encryption key, creating it the first time.
    pub fn encryption_key(&self) -> Result<custodia_vault::EncryptionSecret, HomeError> {
        let path = Self::encryption_key_path(&self.dir);
        if !path.exists() {
            let secret = custodia_vault::EncryptionSecret::generate();
            write_secret(&path, &hex::encode(secret.to_bytes()))?;
            return Ok(secret);
        }
        let text = read(&path)?;
        hex::decode(text.trim())
            .ok()
            .and_then(|bytes| custodia_vault::EncryptionSecret::from_bytes(&bytes).ok())
            .ok_or_else(|| HomeError::Invalid {
                path,
                message: "not a hex-encoded X25519 private key".into(),
            })
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.join(&self.config.data_dir)
    }

    /// Load and cross-check a home directory.
    pub fn load(dir: &Path) -> Result<Self, HomeError> {
        let config_path = Self::config_path(dir);
        let config = Config::from_toml(&read(&config_path)?).map_err(|e| HomeError::Invalid {
            path: config_path.clone(),
            message: e.to_string(),
        })?;
        let genesis_path = Self::genesis_path(dir);
        let genesis =
            Genesis::from_toml(&read(&genesis_path)?).map_err(|e| HomeError::Invalid {
                path: genesis_path.clone(),
                message: e.to_string(),
            })?;
        let load_key = |path: PathBuf| -> Result<PrivateKey, HomeError> {
            parse_private_key(&read(&path)?).map_err(|_| HomeError::Invalid {
                path,
                message: "not a hex-encoded ed25519 private key".into(),
            })
        };
        let validator_key = load_key(Self::validator_key_path(dir))?;
        let admin_key = load_key(Self::admin_key_path(dir))?;
        let home = Self {
            dir: dir.to_path_buf(),
            config,
            genesis,
            validator_key,
            admin_key,
        };
        match home.member() {
            Some(member) if member.validator_key != home.validator_key.public_key() => {
                return Err(HomeError::Invalid {
                    path: Self::validator_key_path(dir),
                    message: format!("key does not match {}'s validator key in genesis", member.id),
                });
            }
            Some(_) => {}
            // Joining after genesis: governance must have added (or will add)
            // this org with this validator key and p2p address.
            None if home.config.p2p.is_some() => {}
            None => {
                return Err(HomeError::Invalid {
                    path: config_path.clone(),
                    message: format!(
                        "org {:?} is not a member in genesis.toml; a member added later by governance must set `p2p` in config.toml",
                        home.config.org
                    ),
                })
            }
        }
        Ok(home)
    }

    /// Where this node's validator listens for peers: its config's `p2p`,
    /// else its address in genesis (`load` refuses a home with neither).
    pub fn p2p_listen(&self) -> std::net::SocketAddr {
        self.config
            .p2p
            .or_else(|| self.member().map(|m| m.p2p))
            .expect("Home::load checked: a member in genesis or a p2p address")
    }

    /// This node's entry in genesis.
    pub fn member(&self) -> Option<&Member> {
        self.genesis
            .members
            .iter()
            .find(|m| m.id.as_str() == self.config.org)
    }

    /// Write a new home directory; refuses to overwrite existing keys.
    pub fn create(
        dir: &Path,
        config: &Config,
        genesis: &Genesis,
        validator_key: &PrivateKey,
        admin_key: &PrivateKey,
    ) -> Result<(), HomeError> {
        if Self::validator_key_path(dir).exists() {
            return Err(HomeError::Invalid {
                path: dir.to_path_buf(),
                message: "already holds node keys; refusing to overwrite them".into(),
            });
        }
        write(&Self::config_path(dir), &config.to_commented_toml())?;
        write(&Self::genesis_path(dir), &genesis.to_toml())?;
        write_secret(
            &Self::validator_key_path(dir),
            &hex::encode(validator_key.encode()),
        )?;
        write_secret(&Self::admin_key_path(dir), &hex::encode(admin_key.encode()))?;
        Ok(())
    }
}

fn read(path: &Path) -> Result<String, HomeError> {
    std::fs::read_to_string(path).map_err(|source| HomeError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn write(path: &Path, text: &str) -> Result<(), HomeError> {
    let fail = |source| HomeError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    std::fs::write(path, text).map_err(fail)
}

/// Keys are readable by their owner only.
fn write_secret(path: &Path, text: &str) -> Result<(), HomeError> {
    write(path, text)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(
            |source| HomeError::Write {
                path: path.to_path_buf(),
                source,
            },
        )?;
    }
    Ok(())
}

/// How much disk the files under a directory take.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskUse {
    /// The files' lengths: what was written.
    pub written: u64,
    /// Blocks allocated, as `du` counts them: more than written where
    /// files are rounded up to pages, less for sparse files (the block
    /// archives' hash tables are made at full length and fill page by
    /// page, a few MiB once).
    pub allocated: u64,
}

impl DiskUse {
    /// What grew since `earlier` (0 for what shrank).
    pub fn since(self, earlier: DiskUse) -> DiskUse {
        DiskUse {
            written: self.written.saturating_sub(earlier.written),
            allocated: self.allocated.saturating_sub(earlier.allocated),
        }
    }
}

/// The disk the files under `dir` take; 0 for what cannot be read. How
/// fast a node's `data/` grows is what an operator plans disks with.
pub fn disk_use(dir: &Path) -> DiskUse {
    use std::os::unix::fs::MetadataExt as _;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return DiskUse::default();
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => disk_use(&entry.path()),
            Ok(meta) => DiskUse {
                written: meta.len(),
                allocated: meta.blocks() * 512,
            },
            Err(_) => DiskUse::default(),
        })
        .fold(DiskUse::default(), |sum, file| DiskUse {
            written: sum.written + file.written,
            allocated: sum.allocated + file.allocated,
        })
}
