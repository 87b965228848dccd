//! The supply routes' OpenAPI path items, merged into the node's
//! `/v1/openapi.json`.

use custodia_api::openapi::{error_response, ok_json};
use serde_json::{json, Map, Value};

fn gtin_param() -> Value {
    json!({ "name": "gtin", "in": "path", "required": true, "schema": { "type": "string", "pattern": "^[0-9]{8}$|^[0-9]{12,14}$" }, "description": "GTIN-8, -12, -13 or -14 with its check digit", "example": "80614141123458" })
}

fn lot_param() -> Value {
    json!({ "name": "lot", "in": "path", "required": true, "schema": { "type": "string" }, "description": "Lot/batch number (AI 10), percent-encoded" })
}

pub fn paths() -> Map<String, Value> {
    let paths = json!({
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
            "description": "Authenticated with `Authorization: Bearer <token>` (custodia token) of an agent or the admin of this node's organisation; the node signs the transaction on the caller's behalf and answers once it is final. Devices do not use this: they sign their own readings (a supply body posted to /v1/tx). Alternatively any signer may post a signed supply transaction (Body::Domain named supply) to /v1/tx. The document's events must fit one transaction (about 7.75 KiB of JSON); split larger documents.",
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
        }}
    });
    match paths {
        Value::Object(paths) => paths,
        _ => unreachable!("a JSON object literal"),
    }
}
