//! A genesis file (`genesis.toml`, handed between organisations): parsing
//! never panics, and a parsed genesis writes back to one that parses equal.
#![no_main]
use custodia_types::Genesis;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(genesis) = Genesis::from_toml(text) {
        let written = genesis.to_toml();
        assert_eq!(
            Genesis::from_toml(&written).expect("it parses again"),
            genesis
        );
    }
});
