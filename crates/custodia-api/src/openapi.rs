//! The OpenAPI 3.1 description served at `GET /v1/openapi.json`.

use serde_json::{json, Map, Value};

pub fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
    })
}

pub fn ok_json(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": { "type": "object" } } } })
}

/// The document: the ledger's own paths and the plugged-in domains'
/// (`domain_paths`, by path).
pub fn document(domain_paths: &Map<String, Value>) -> Value {
    let mut document = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Custodia node API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Every Custodia validator serves this API. Transactions are submitted as their canonical binary encoding (see custodia-types); everything else is JSON."
        },
        "paths": {
            "/v1/status": { "get": {
                "summary": "Chain id, heights, validators and peers",
                "responses": { "200": ok_json("The node's status") }
            }},
            "/v1/tx": { "post": {
                "summary": "Submit a signed transaction",
                "requestBody": { "required": true, "content": { "application/octet-stream": {
                    "schema": { "type": "string", "format": "binary" } } } },
                "responses": {
                    "202": ok_json("Admitted to the mempool: {id, status: pending}"),
                    "400": error_response("Malformed bytes, wrong chain id, bad signature, unknown signer, replayed nonce or unauthorized body"),
                    "413": error_response("The body is larger than the transaction limit"),
                    "503": error_response("The mempool is full; retry")
                }
            }},
            "/v1/txs": { "post": {
                "summary": "Submit many signed transactions at once",
                "description": "The body is the transactions framed back to back, each as a 4-byte big-endian length then its canonical encoding (at most 8 MiB in all). Each transaction is admitted or refused on its own; a signer's transactions are admitted in the order given.",
                "requestBody": { "required": true, "content": { "application/octet-stream": {
                    "schema": { "type": "string", "format": "binary" } } } },
                "responses": {
                    "200": { "description": "One entry per transaction, in order: {id, status: pending} or {error, code}",
                        "content": { "application/json": { "schema": { "type": "array", "items": { "type": "object" } } } } },
                    "400": error_response("The framing is malformed"),
                    "413": error_response("The body is larger than 8 MiB")
                }
            }},
            "/v1/tx/{id}": { "get": {
                "summary": "Where a transaction is: pending, finalized (applied or rejected with a reason) or unknown",
                "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "pattern": "^[0-9a-f]{64}$" } }],
                "responses": { "200": ok_json("The transaction's status"), "400": error_response("Not a transaction id"), "404": error_response("Unknown transaction") }
            }},
            "/v1/accounts/{key}": { "get": {
                "summary": "A signer's next nonce (counting pending transactions) and who the key belongs to",
                "parameters": [{ "name": "key", "in": "path", "required": true, "schema": { "type": "string", "pattern": "^[0-9a-f]{64}$" } }],
                "responses": { "200": ok_json("The account"), "400": error_response("Not a public key") }
            }},
            "/v1/blocks/{height}": { "get": {
                "summary": "A finalized block with its transactions and finality certificate",
                "parameters": [{ "name": "height", "in": "path", "required": true, "schema": { "type": "integer", "minimum": 0 } }],
                "responses": { "200": ok_json("The block"), "404": error_response("Not finalized yet") }
            }},
            "/v1/state/{key}": { "get": {
                "summary": "A state value; with proof=true a proof of it against the latest finalized state root; 404 if the key holds nothing",
                "parameters": [
                    { "name": "key", "in": "path", "required": true, "schema": { "type": "string" }, "example": "gov/members" },
                    { "name": "proof", "in": "query", "required": false, "schema": { "type": "boolean" } }
                ],
                "responses": { "200": ok_json("The value (or null) and optional proof") }
            }},
            "/metrics": { "get": {
                "summary": "Prometheus metrics",
                "responses": { "200": { "description": "Prometheus text format", "content": { "text/plain": { "schema": { "type": "string" } } } } }
            }},
            "/v1/openapi.json": { "get": {
                "summary": "This document",
                "responses": { "200": ok_json("OpenAPI 3.1") }
            }}
        },
        "components": { "schemas": { "Error": {
            "type": "object",
            "required": ["error", "code"],
            "properties": {
                "error": { "type": "string", "description": "What went wrong and what to do about it" },
                "code": { "type": "string", "description": "A stable machine-readable code" }
            }
        }}}
    });
    if let Some(paths) = document["paths"].as_object_mut() {
        paths.extend(domain_paths.clone());
    }
    document
}
