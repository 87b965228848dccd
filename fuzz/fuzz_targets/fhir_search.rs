//! A FHIR search (`GET /fhir/{type}?...`, and the same parameters from
//! another member's node): parsing the query against R4's parameters,
//! indexing a resource and matching and sorting it never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // First line: a query string; the rest: a resource to match it with.
    let (query, resource) = text.split_once('\n').unwrap_or((text, "{}"));
    let types = custodia_fhir::r4::resource_types();
    let resource_type = &types[data.first().map_or(0, |b| *b as usize) % types.len()];
    let params: Vec<(String, String)> = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let Ok(json) = serde_json::from_str::<serde_json::Value>(resource) else {
        return;
    };
    let indexed = custodia_fhir::search::index(resource_type, &json);
    if let Ok(query) = custodia_fhir::search::Query::parse(resource_type, &params) {
        let _ = query.matches(&indexed);
        let key = query.sort_key(&indexed);
        let _ = query.compare(&key, &key);
        let _ = query.lookup_keys();
    }
});
