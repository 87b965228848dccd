//! The OpenAPI 3.1 description served at `GET /v1/openapi.json`.

use serde_json::{json, Value};

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
    })
}

fn ok_json(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": { "type": "object" } } } })
}

fn gtin_param() -> Value {
    json!({ "name": "gtin", "in": "path", "required": true, "schema": { "type": "string", "pattern": "^[0-9]{8}$|^[0-9]{12,14}$" }, "description": "GTIN-8, -12, -13 or -14 with its check digit", "example": "80614141123458" })
}

fn lot_param() -> Value {
    json!({ "name": "lot", "in": "path", "required": true, "schema": { "type": "string" }, "description": "Lot/batch number (AI 10), percent-encoded" })
}

pub fn document() -> Value {
    json!({
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
            "/v1/supply/verify/{gtin}/{serial}": { "get": {
                "tags": ["supply"],
                "summary": "DSCSA-style verification of one serialised pack, from chain state",
                "description": "Answers, as of the latest finalized block (named in as_of; its time is \"now\" for expiry): genuine (commissioned by the product's manufacturer), product, lot, expiry, expired, recalled, compromised with the cold-chain excursions as evidence (device, span, extreme values), dispensed, custody_ok, counterfeit signals (unknown serial, dispensed twice, receive without ship, commissioned by a non-manufacturer) with their records, ok, reasons in words, and the full custody trail. An unknown serial is an answer (genuine: false), not an error.",
                "parameters": [
                    gtin_param(),
                    { "name": "serial", "in": "path", "required": true, "schema": { "type": "string" }, "description": "GS1 serial (AI 21), percent-encoded" },
                    { "name": "lot", "in": "query", "required": false, "schema": { "type": "string" }, "description": "Lot printed on the pack, compared with the ledger" },
                    { "name": "expiry", "in": "query", "required": false, "schema": { "type": "string", "format": "date" }, "description": "Expiry printed on the pack" },
                    { "name": "asked_by", "in": "query", "required": false, "schema": { "type": "string" }, "description": "Organisation about to dispense; custody is ok only if it holds the pack" }
                ],
                "responses": { "200": ok_json("The verification"), "400": error_response("Not a GTIN (check digit), serial, lot, date or organisation id") }
            }},
            "/v1/supply/packs/{gtin}/{serial}/trace": { "get": {
                "tags": ["supply"],
                "summary": "Everything known about a pack: status, custodian, custody intervals, trail, excursions, containers, signals",
                "parameters": [gtin_param(), { "name": "serial", "in": "path", "required": true, "schema": { "type": "string" } }],
                "responses": { "200": ok_json("The pack's trace"), "404": error_response("No such pack was ever commissioned") }
            }},
            "/v1/supply/packs/{gtin}/{serial}/epcis": { "get": {
                "tags": ["supply"],
                "summary": "The pack's events as an EPCIS 2.0 JSON-LD document",
                "description": "Events received as EPCIS are emitted exactly as received; events recorded from typed actions are written in CBV 2.0 form (organisations as urn:custodia:org:{id}, event ids urn:custodia:tx:{tx}). The finalized height is in the X-Custodia-Height header.",
                "parameters": [gtin_param(), { "name": "serial", "in": "path", "required": true, "schema": { "type": "string" } }],
                "responses": {
                    "200": { "description": "An EPCISDocument", "content": { "application/ld+json": { "schema": { "type": "object" } } } },
                    "404": error_response("No such pack was ever commissioned")
                }
            }},
            "/v1/supply/lots/{gtin}/{lot}/trace": { "get": {
                "tags": ["supply"],
                "summary": "A lot, its product and the trace of every pack in it",
                "parameters": [gtin_param(), lot_param()],
                "responses": { "200": ok_json("The lot's trace"), "404": error_response("No such lot") }
            }},
            "/v1/supply/lots/{gtin}/{lot}/recall": { "get": {
                "tags": ["supply"],
                "summary": "Every pack of a lot, its status, custodian and container path (what to pull off which shelf), and how many are still in the supply chain",
                "parameters": [gtin_param(), lot_param()],
                "responses": { "200": ok_json("The recall report"), "404": error_response("No such lot") }
            }},
            "/v1/supply/epcis": { "post": {
                "tags": ["supply"],
                "summary": "Submit an EPCIS 2.0 JSON document as one transaction (all events or none)",
                "description": "Authenticated with `Authorization: Bearer <token>` (custodia token) of an agent or the admin of this node's organisation; the node signs the transaction on the caller's behalf and answers once it is final. Devices do not use this: they sign their own readings (a supply body posted to /v1/tx). Alternatively any signer may post a signed Body::Supply transaction to /v1/tx. The document's events must fit one transaction (about 7.75 KiB of JSON); split larger documents.",
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object" } }, "application/ld+json": { "schema": { "type": "object" } } } },
                "responses": {
                    "201": ok_json("Applied and final: {id, status: finalized, height, events}"),
                    "400": error_response("Not an EPCIS 2.0 JSON document (the event, field and reason are named)"),
                    "401": error_response("No or bad bearer token"),
                    "403": error_response("The token's key is not an agent or admin of this node's organisation, or is a device"),
                    "413": error_response("The document does not fit one transaction"),
                    "422": error_response("The chain refused it: the rule broken, e.g. shipping by a non-custodian, receiving by the wrong party, an event after dispense"),
                    "504": error_response("Not final in time")
                }
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
    })
}
