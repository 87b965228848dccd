//! The domains plugged into the state machine, by name.
//!
//! A plugged-in domain (supply, claims, trials, …) owns its actions
//! (`Body::Domain`, named by [`DomainTx::domain`](custodia_types::DomainTx))
//! and the state module that applies them. Which domains a chain runs is
//! decided where the node is wired (`custodia-node`'s domain list); every
//! node of a consortium runs the same list, as it runs the same binary.
//! A body naming a domain not in the list is refused
//! ([`Rejection::UnknownDomain`]): it cannot reach a missing module.

use crate::{modules::Module, Rejection};
use std::{collections::BTreeMap, fmt, sync::Arc};

/// The plugged-in domains' state modules, each under its
/// [`Module::name`]. Cheap to clone.
#[derive(Clone, Default)]
pub struct Domains(Arc<BTreeMap<&'static str, Arc<dyn Module>>>);

/// Two modules registered under one name.
#[derive(Debug, thiserror::Error)]
#[error("two domains are registered as {0:?}; every domain needs a name of its own")]
pub struct DuplicateDomain(pub &'static str);

impl Domains {
    /// No plugged-in domain: the core alone.
    pub fn none() -> Self {
        Self::default()
    }

    pub fn new(
        modules: impl IntoIterator<Item = Arc<dyn Module>>,
    ) -> Result<Self, DuplicateDomain> {
        let mut by_name = BTreeMap::new();
        for module in modules {
            let name = module.name();
            if by_name.insert(name, module).is_some() {
                return Err(DuplicateDomain(name));
            }
        }
        Ok(Self(Arc::new(by_name)))
    }

    /// The module that applies actions of `domain`.
    pub fn get(&self, domain: &str) -> Result<&dyn Module, Rejection> {
        self.0
            .get(domain)
            .map(|module| module.as_ref())
            .ok_or_else(|| Rejection::UnknownDomain(domain.to_string()))
    }

    /// Every plugged-in module, in name order (the order their end-of-block
    /// work runs, after the core's).
    pub fn modules(&self) -> impl Iterator<Item = &dyn Module> {
        self.0.values().map(|module| module.as_ref())
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.0.keys().copied()
    }
}

impl fmt::Debug for Domains {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

/// A plugged-in domain's refusal, kept as its own error type so the
/// domain can read it back ([`Module::record_refusal`]); compared by its
/// message, the part that reaches receipts.
#[derive(Clone)]
pub struct DomainError(Arc<dyn std::error::Error + Send + Sync>);

impl DomainError {
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(Arc::new(error))
    }

    /// The domain's own error, if it is of type `T`.
    pub fn downcast_ref<T: std::error::Error + 'static>(&self) -> Option<&T> {
        self.0.downcast_ref::<T>()
    }
}

impl fmt::Debug for DomainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for DomainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl PartialEq for DomainError {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Eq for DomainError {}
