//! Node settings (`config.toml`): the `custodia-config` crate, and what
//! the node derives from them.

pub use custodia_config::*;

/// How long the node's services wait.
pub fn waits(config: &Config) -> custodia_engine::submit::Waits {
    let ms = std::time::Duration::from_millis;
    custodia_engine::submit::Waits {
        finality: ms(config.finality_timeout_ms),
        decision: ms(config.decision_wait_ms),
        peer: ms(config.peer_timeout_ms),
    }
}

/// The state cache in pages; at least one.
pub fn state_cache_pages(config: &Config) -> std::num::NonZeroUsize {
    let pages = config.state_cache_mib.saturating_mul(1 << 20) / custodia_store::CACHE_PAGE_BYTES;
    std::num::NonZeroUsize::new(pages).unwrap_or(std::num::NonZeroUsize::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_cache_is_sized_in_pages_and_never_empty() {
        let mut config = Config::new("st-mary", "127.0.0.1:8400".parse().unwrap());
        assert_eq!(state_cache_pages(&config).get(), 65_536);
        config.state_cache_mib = 0;
        assert_eq!(state_cache_pages(&config).get(), 1);
        let waits = waits(&config);
        assert_eq!(waits.finality, std::time::Duration::from_secs(30));
        assert_eq!(waits.decision, std::time::Duration::from_secs(5));
        assert_eq!(waits.peer, std::time::Duration::from_secs(30));
    }
}
