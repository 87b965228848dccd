//! Cold chain: readings in range flag nothing, a short excursion flags
//! nothing, a long one flags exactly the packs that were in the measured
//! custody during it (inside cases too), and runs continue across batches.

mod common;

use common::*;
use custodia_supply::gs1::{Gtin, Lot, Serial};
use custodia_supply::ledger::{
    Commission, SupplyAction, SupplyStore, MAX_EXCURSIONS_PER_PACK, MAX_READING_AGE_MS,
};
use custodia_supply::model::{ExcursionKind, Reading, ReadingScope, ShipmentId, ShipmentRef};
use custodia_supply::time::{Date, Timestamp};
use serde_json::json;

const FRIDGE: &str = "urn:epc:id:giai:0012345.FRIDGE1";
const TRUCK: &str = "urn:epc:id:giai:0012345.TRUCK7";

/// The distributor's warehouse, over one day:
/// - case 1 (packs 1, 2) and packs 3, 4, 5 arrive at 02:00 (T0 + 2 h);
/// - pack 5 leaves for the pharmacy at 08:00, before any excursion;
/// - pack 4 leaves at 09:30, during the excursion window;
/// - pack 6 arrives at 11:00, after it;
/// - packs 7 and 8 stay with the manufacturer.
fn warehouse_day() -> World {
    let mut w = World::new();
    w.commission(&["1", "2", "3", "4", "5", "6", "7", "8"]);
    w.pack_into(MANUFACTURER, 1, vec![pack_id("1"), pack_id("2")]);
    w.ok(
        DISTRIBUTOR,
        SupplyAction::RegisterDevice {
            device: FRIDGE.into(),
        },
    );
    w.advance(HOUR);
    let items = vec![case_id(1), pack_id("3"), pack_id("4"), pack_id("5")];
    w.ship(MANUFACTURER, items.clone(), DISTRIBUTOR, "S1");
    w.advance(HOUR);
    w.receive(DISTRIBUTOR, items);
    w.now = T0 + 8 * HOUR;
    w.ship(DISTRIBUTOR, vec![pack_id("5")], PHARMACY, "S2");
    w.now = T0 + 9 * HOUR + 30 * MINUTE;
    w.ship(DISTRIBUTOR, vec![pack_id("4")], PHARMACY, "S3");
    w.now = T0 + 10 * HOUR + 30 * MINUTE;
    w.ship(MANUFACTURER, vec![pack_id("6")], DISTRIBUTOR, "S4");
    w.now = T0 + 11 * HOUR;
    w.receive(DISTRIBUTOR, vec![pack_id("6")]);
    w.now = T0 + 12 * HOUR;
    w
}

/// Readings at `T0 + minutes` of `celsius`.
fn readings(points: &[(u64, f64)]) -> Vec<Reading> {
    points
        .iter()
        .map(|(m, c)| Reading::celsius(T0 + m * MINUTE, *c))
        .collect()
}

fn record(w: &mut World, who: &str, device: &str, scope: ReadingScope, batch: Vec<Reading>) {
    w.ok(
        who,
        SupplyAction::RecordReadings {
            device: device.into(),
            scope,
            readings: batch,
        },
    );
}

fn site() -> ReadingScope {
    ReadingScope::Site { location: None }
}

/// The serials (of the insulin, 1 to 8, those that exist) compromised.
fn compromised(w: &World) -> Vec<String> {
    (1..=8)
        .map(|n| n.to_string())
        .filter(|s| {
            w.store
                .pack(&sgtin(s))
                .unwrap()
                .is_some_and(|p| !p.compromised.is_empty())
        })
        .collect()
}

#[test]
fn readings_in_range_flag_nothing() {
    let mut w = warehouse_day();
    let batch = readings(&[(510, 5.0), (540, 7.9), (560, 2.0), (585, 8.0), (600, 4.0)]);
    record(&mut w, DISTRIBUTOR, FRIDGE, site(), batch);
    assert!(compromised(&w).is_empty());
    assert!(w.store.device(FRIDGE).unwrap().unwrap().open.is_empty());
}

#[test]
fn a_short_excursion_flags_nothing() {
    let mut w = warehouse_day();
    // 09:00 to 09:25 out of range: 25 min, under the 30 allowed.
    let batch = readings(&[(510, 5.0), (540, 9.5), (560, 10.0), (565, 6.0), (600, 4.0)]);
    record(&mut w, DISTRIBUTOR, FRIDGE, site(), batch);
    // Exactly the allowed time is still allowed.
    let batch = readings(&[(610, 9.0), (640, 6.0)]);
    record(&mut w, DISTRIBUTOR, FRIDGE, site(), batch);
    assert!(compromised(&w).is_empty());
}

#[test]
fn a_long_excursion_flags_exactly_the_packs_in_that_custody_then() {
    let mut w = warehouse_day();
    // 09:00 to 10:00 above 8 °C: 60 min, over the 30 allowed.
    let batch = readings(&[
        (510, 5.0),
        (540, 9.5),
        (560, 10.0),
        (585, 12.0),
        (600, 6.0),
        (690, 5.0),
    ]);
    record(&mut w, DISTRIBUTOR, FRIDGE, site(), batch);
    // Packs 1 and 2 (inside case 1), 3, and 4 (which left during it) were
    // there; 5 had left, 6 had not arrived, 7 and 8 were never there.
    assert_eq!(compromised(&w), vec!["1", "2", "3", "4"]);

    let e = &w.pack("2").compromised[0];
    assert_eq!(e.device, FRIDGE);
    assert_eq!(e.org, org(DISTRIBUTOR));
    assert_eq!((e.from_ms, e.until_ms), (T0 + 9 * HOUR, T0 + 10 * HOUR));
    assert_eq!(e.minutes(), 60);
    assert!(!e.ongoing);
    assert_eq!(e.readings, 3);
    assert_eq!(e.values.min_celsius, Some(9.5));
    assert_eq!(e.values.max_celsius, Some(12.0));
    assert_eq!(e.kinds, vec![ExcursionKind::TooWarm]);
    assert_eq!(e.allowed_minutes, 30);

    // Verification comes back red, with the evidence; dispensing is refused.
    let v = w.verify("4");
    assert!(v.compromised && !v.ok);
    assert!(
        v.reasons
            .iter()
            .any(|r| r.contains(FRIDGE) && r.contains("60 min")),
        "{:?}",
        v.reasons
    );
    w.receive(PHARMACY, vec![pack_id("4"), pack_id("5")]);
    let err = w.dispense(PHARMACY, "4").unwrap_err();
    assert!(
        err.to_string()
            .contains("compromised by cold-chain excursion"),
        "{err}"
    );
    w.dispense(PHARMACY, "5").expect("pack 5 was never exposed");
}

#[test]
fn an_excursion_spanning_two_batches() {
    let mut w = warehouse_day();
    // Batch 1 ends out of range after 20 min: nothing yet.
    record(
        &mut w,
        DISTRIBUTOR,
        FRIDGE,
        site(),
        readings(&[(510, 5.0), (540, 9.5), (560, 10.0)]),
    );
    assert!(compromised(&w).is_empty());
    let open = w.store.device(FRIDGE).unwrap().unwrap().open;
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].from_ms, T0 + 9 * HOUR);
    // Batch 2 continues the run past 30 min and closes it at 10:00.
    w.advance(MINUTE);
    record(
        &mut w,
        DISTRIBUTOR,
        FRIDGE,
        site(),
        readings(&[(585, 12.0), (600, 6.0)]),
    );
    assert_eq!(compromised(&w), vec!["1", "2", "3", "4"]);
    let e = &w.pack("1").compromised[0];
    assert_eq!(
        (e.from_ms, e.until_ms, e.readings),
        (T0 + 9 * HOUR, T0 + 10 * HOUR, 3)
    );
    assert!(w.store.device(FRIDGE).unwrap().unwrap().open.is_empty());
}

#[test]
fn an_ongoing_excursion_is_flagged_then_extended_without_duplicates() {
    let mut w = warehouse_day();
    // 09:00 to 09:45 out of range, still out at the end of the batch.
    record(
        &mut w,
        DISTRIBUTOR,
        FRIDGE,
        site(),
        readings(&[(510, 5.0), (540, 9.5), (585, 11.0)]),
    );
    assert_eq!(compromised(&w), vec!["1", "2", "3", "4"]);
    let e = &w.pack("3").compromised[0];
    assert!(e.ongoing);
    assert_eq!(e.until_ms, T0 + 9 * HOUR + 45 * MINUTE);
    // It carries on until 11:30, when pack 6 (arrived 11:00) is exposed too.
    w.advance(MINUTE);
    record(
        &mut w,
        DISTRIBUTOR,
        FRIDGE,
        site(),
        readings(&[(660, 13.0), (690, 13.5), (700, 4.0)]),
    );
    assert_eq!(compromised(&w), vec!["1", "2", "3", "4", "6"]);
    let p3 = w.pack("3");
    assert_eq!(p3.compromised.len(), 1, "one excursion, updated in place");
    let e = &p3.compromised[0];
    assert!(!e.ongoing);
    assert_eq!(e.until_ms, T0 + 11 * HOUR + 40 * MINUTE);
    assert_eq!(e.values.max_celsius, Some(13.5));
    let marks = p3
        .history
        .iter()
        .filter(|h| {
            matches!(
                h.event,
                custodia_supply::model::TrailEvent::Compromised { .. }
            )
        })
        .count();
    assert_eq!(marks, 1);
}

#[test]
fn a_truck_excursion_flags_its_shipment_only_and_respects_each_products_range() {
    let mut w = World::new();
    // A second product of the same manufacturer: "store below 25 °C".
    let mut tablets = insulin();
    tablets.gtin = Gtin::parse("4006381333931").unwrap();
    tablets.name = "Metformin 500 mg, 60 tablets".into();
    tablets.storage.min_celsius = 2.0;
    tablets.storage.max_celsius = 25.0;
    tablets.storage.min_humidity_pct = None;
    tablets.storage.max_humidity_pct = None;
    w.ok(MANUFACTURER, SupplyAction::RegisterProduct(tablets.clone()));
    w.commission(&["1", "2", "3"]);
    w.ok(
        MANUFACTURER,
        SupplyAction::Commission(Commission {
            gtin: tablets.gtin.clone(),
            serials: vec![Serial::parse("T1").unwrap()],
            lot: Lot::parse("M1").unwrap(),
            expiry: Date::parse("2027-01-31").unwrap(),
            location: None,
        }),
    );
    w.pack_into(MANUFACTURER, 1, vec![pack_id("1")]);
    let tablet = custodia_supply::model::ItemId::Pack(custodia_supply::gs1::Sgtin::new(
        tablets.gtin.clone(),
        Serial::parse("T1").unwrap(),
    ));
    w.ship(
        MANUFACTURER,
        vec![case_id(1), pack_id("2"), tablet.clone()],
        DISTRIBUTOR,
        "S1",
    );
    w.advance(HOUR);
    w.receive(DISTRIBUTOR, vec![case_id(1), pack_id("2"), tablet.clone()]);
    w.ok(
        DISTRIBUTOR,
        SupplyAction::RegisterDevice {
            device: TRUCK.into(),
        },
    );
    w.now = T0 + 5 * HOUR;
    let s2 = w.ship(
        DISTRIBUTOR,
        vec![case_id(1), tablet.clone()],
        PHARMACY,
        "S2",
    );
    // Pack 2 travels the same day in another shipment, another truck.
    w.ship(DISTRIBUTOR, vec![pack_id("2")], PHARMACY_2, "S3");
    w.now = T0 + 9 * HOUR;
    // 14 °C and 95 % RH for 90 minutes in the truck of S2.
    let batch: Vec<Reading> = [
        (320, 5.0, 50.0),
        (330, 14.0, 95.0),
        (380, 14.0, 95.0),
        (420, 6.0, 50.0),
    ]
    .iter()
    .map(|(m, c, h)| Reading {
        time_ms: T0 + m * MINUTE,
        celsius: Some(*c),
        humidity_pct: Some(*h),
    })
    .collect();
    record(
        &mut w,
        DISTRIBUTOR,
        TRUCK,
        ReadingScope::Shipment(s2.clone()),
        batch,
    );
    assert_eq!(compromised(&w), vec!["1"], "only the insulin in S2");
    let e = &w.pack("1").compromised[0];
    assert_eq!(e.scope, ReadingScope::Shipment(s2));
    assert_eq!(
        e.kinds,
        vec![ExcursionKind::TooWarm, ExcursionKind::TooHumid]
    );
    assert_eq!(e.values.max_humidity_pct, Some(95.0));
    let t1 = w
        .store
        .pack(&custodia_supply::gs1::Sgtin::new(
            tablets.gtin,
            Serial::parse("T1").unwrap(),
        ))
        .unwrap()
        .unwrap();
    assert!(
        t1.compromised.is_empty(),
        "14 °C at any humidity is within the tablets' declared range"
    );
}

#[test]
fn sensor_data_can_arrive_as_epcis() {
    let mut w = World::new();
    w.commission(&["1", "2", "3"]);
    w.pack_into(MANUFACTURER, 1, vec![pack_id("1"), pack_id("2")]);
    w.ship(
        MANUFACTURER,
        vec![case_id(1), pack_id("3")],
        DISTRIBUTOR,
        "S1",
    );
    w.advance(HOUR);
    w.receive(DISTRIBUTOR, vec![case_id(1), pack_id("3")]);
    w.ok(
        DISTRIBUTOR,
        SupplyAction::RegisterDevice {
            device: TRUCK.into(),
        },
    );
    w.now = T0 + 3 * HOUR;
    w.ship(DISTRIBUTOR, vec![case_id(1)], PHARMACY, "S2");
    w.now = T0 + 6 * HOUR;
    let at = |m: u64| Timestamp::from_ms((T0 + m * MINUTE) as i64).unwrap().text;
    let element = |m: u64, c: f64| {
        json!({
            "sensorMetadata": {"time": at(m), "deviceID": TRUCK},
            "sensorReport": [{"type": "gs1:Temperature", "value": c, "uom": "CEL"}]
        })
    };
    let doc = json!({
        "@context": "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
        "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": at(360),
        "epcisBody": {"eventList": [{
            "type": "ObjectEvent", "eventTime": at(360), "eventTimeZoneOffset": "+00:00",
            "epcList": ["urn:epc:id:sscc:0614141.1000000001"],
            "action": "OBSERVE", "bizStep": "sensor_reporting",
            "sensorElementList": [element(200, 5.0), element(210, 11.0), element(260, 11.5), element(270, 4.0)]
        }]}
    });
    // The case is in shipment S2, so the readings are about S2.
    w.epcis_json(DISTRIBUTOR, &doc).expect("sensor event");
    assert_eq!(compromised(&w), vec!["1", "2"]);
    let e = &w.pack("1").compromised[0];
    assert_eq!(
        e.scope,
        ReadingScope::Shipment(ShipmentRef {
            from: org(DISTRIBUTOR),
            id: ShipmentId::new("S2").unwrap()
        })
    );
    assert_eq!(e.minutes(), 60);
    // An organisation cannot send readings from another's device as EPCIS.
    let err = w.epcis_json(PHARMACY, &doc).unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot report for corner-pharmacy"),
        "{err}"
    );
}

#[test]
fn a_device_cannot_grow_a_pack_without_bound_or_rewrite_old_custody() {
    let mut w = warehouse_day();
    // Many separate excursions, each longer than the 30 allowed minutes,
    // while pack 3 is on site: it records at most MAX_EXCURSIONS_PER_PACK.
    let many = MAX_EXCURSIONS_PER_PACK as u64 + 4;
    let long: Vec<(u64, f64)> = (0..many)
        .flat_map(|k| {
            let start = 12 * 60 + k * 45;
            [(start, 12.0), (start + 40, 12.0), (start + 41, 5.0)]
        })
        .collect();
    w.now = T0 + 30 * HOUR;
    record(&mut w, DISTRIBUTOR, FRIDGE, site(), readings(&long));
    assert_eq!(w.pack("3").compromised.len(), MAX_EXCURSIONS_PER_PACK);
    let first = &w.pack("3").compromised[0];
    assert_eq!(first.from_ms, T0 + 12 * HOUR, "the first evidence is kept");

    // A reading dated more than 30 days before the block time is refused,
    // even from a device that never reported before.
    w.ok(
        DISTRIBUTOR,
        SupplyAction::RegisterDevice {
            device: "new-logger".into(),
        },
    );
    w.now = T0 + MAX_READING_AGE_MS + 24 * HOUR;
    let err = w
        .act(
            DISTRIBUTOR,
            SupplyAction::RecordReadings {
                device: "new-logger".into(),
                scope: site(),
                readings: readings(&[(3 * 60, 20.0), (5 * 60, 20.0)]),
            },
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("more than 30 days before"),
        "{err}"
    );
}
