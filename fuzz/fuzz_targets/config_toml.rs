//! A node's `config.toml`, written by hand or by tools: parsing never
//! panics (bad settings are refused with what is wrong), and a parsed
//! config, written back as the commented file `custodia init` writes,
//! parses equal (nothing in a setting can escape its string or comment).
#![no_main]
use custodia_config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = Config::from_toml(text) {
        let written = config.to_commented_toml();
        assert_eq!(
            Config::from_toml(&written).expect("it parses again"),
            config
        );
    }
});
