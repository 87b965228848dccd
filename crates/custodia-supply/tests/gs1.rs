//! GS1 identifiers: validation and exact round trips of both URI forms.

use custodia_supply::gs1::{digital_link, epc_urn, Epc, EpcUri, Gln, Gs1Error, Gtin, IdForm, Sscc};

fn round_trip(text: &str) -> EpcUri {
    let parsed = EpcUri::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    assert_eq!(parsed.to_uri(), text, "round trip of {text}");
    parsed
}

#[test]
fn sgtin_urn_keeps_company_prefix_length() {
    let id = round_trip("urn:epc:id:sgtin:0614141.812345.6789");
    let Epc::Sgtin(sgtin) = &id.epc else {
        panic!("not an SGTIN: {:?}", id.epc)
    };
    assert_eq!(sgtin.gtin.as_str(), "80614141123458");
    assert_eq!(sgtin.serial.as_str(), "6789");
    assert_eq!(
        id.form,
        IdForm::Urn {
            company_prefix_len: 7
        }
    );
    // The same pack under a different prefix split is the same pack.
    let other = round_trip("urn:epc:id:sgtin:06141411.82345.6789");
    assert_eq!(other.epc, id.epc);
    assert_ne!(other.form, id.form);
    // And its Digital Link spelling.
    let link = round_trip("https://id.gs1.org/01/80614141123458/21/6789");
    assert_eq!(link.epc, id.epc);
    assert_eq!(digital_link(&id.epc), link.to_uri());
    assert_eq!(epc_urn(&link.epc, 7), id.to_uri());
}

#[test]
fn escaped_serials_round_trip_in_both_forms() {
    let urn = round_trip("urn:epc:id:sgtin:0614141.812345.A%2FB.c");
    let Epc::Sgtin(sgtin) = &urn.epc else {
        panic!("not an SGTIN")
    };
    assert_eq!(sgtin.serial.as_str(), "A/B.c");
    let link = round_trip("https://id.gs1.org/01/80614141123458/21/A%2FB.c");
    assert_eq!(link.epc, urn.epc);
    // A resolver other than id.gs1.org is kept.
    round_trip("https://example.com/01/80614141123458/21/6789");
}

#[test]
fn lots_containers_and_locations_round_trip() {
    let lot = round_trip("urn:epc:class:lgtin:0614141.812345.LOT-42");
    let lot_link = round_trip("https://id.gs1.org/01/80614141123458/10/LOT-42");
    assert_eq!(lot.epc, lot_link.epc);

    let case = round_trip("urn:epc:id:sscc:0614141.1234567890");
    let Epc::Sscc(sscc) = &case.epc else {
        panic!("not an SSCC")
    };
    assert_eq!(sscc.as_str(), "106141412345678908");
    assert_eq!(
        round_trip("https://id.gs1.org/00/106141412345678908").epc,
        case.epc
    );

    let site = round_trip("urn:epc:id:sgln:0614141.12345.400");
    let Epc::Sgln(sgln) = &site.epc else {
        panic!("not an SGLN")
    };
    assert_eq!(sgln.gln.as_str(), "0614141123452");
    assert_eq!(sgln.extension.as_ref().map(|e| e.as_str()), Some("400"));
    assert_eq!(
        round_trip("https://id.gs1.org/414/0614141123452/254/400").epc,
        site.epc
    );
    let plain = round_trip("urn:epc:id:sgln:0614141.12345.0");
    assert_eq!(
        round_trip("https://id.gs1.org/414/0614141123452").epc,
        plain.epc
    );
}

#[test]
fn gtin_forms_and_check_digits() {
    for short in [
        "96385074",
        "614141000036",
        "4006381333931",
        "04006381333931",
    ] {
        assert_eq!(Gtin::parse(short).unwrap().as_str().len(), 14);
    }
    let err = Gtin::parse("80614141123459").unwrap_err();
    assert_eq!(
        err,
        Gs1Error::CheckDigit {
            kind: "GTIN",
            value: "80614141123459".into(),
            found: 9,
            expected: 8
        }
    );
    assert!(err.to_string().contains("expected 8"));
    assert!(Gln::parse("0614141123453")
        .unwrap_err()
        .to_string()
        .contains("expected 2"));
    assert!(Sscc::parse("10614141234567890").is_err());
    assert!(Gtin::parse("8061414112345x").is_err());
}

#[test]
fn malformed_uris_say_why() {
    let cases = [
        ("urn:epc:id:sgtin:06141.x", "expected 3 dot-separated parts"),
        ("urn:epc:id:sgtin:06141.812345.1", "expected 6 to 12"),
        ("urn:epc:id:sgtin:0614141.8123456.1", "13 digits together"),
        ("urn:epc:id:sgtin:0614141.812345.a#b", "character set 82"),
        ("urn:epc:id:sgtin:0614141.812345.%zz", "percent-escape"),
        ("urn:epc:id:giai:4000001.111", "unsupported EPC URN scheme"),
        ("https://id.gs1.org/01/0614141123452/21/1", "14 digits"),
        ("https://id.gs1.org/01/80614141123458", "no serial"),
        (
            "https://id.gs1.org/01/80614141123458/21/1?17=261231",
            "query",
        ),
        ("https://id.gs1.org/01/80614141123459/21/1", "expected 8"),
        ("6789", "expected an EPC URN"),
    ];
    for (text, why) in cases {
        let err = EpcUri::parse(text).expect_err(text).to_string();
        assert!(err.contains(why), "{text}: {err}");
    }
}

#[test]
fn a_hand_built_form_cannot_split_outside_the_key() {
    let id = EpcUri::parse("urn:epc:id:sgtin:0614141.812345.6789").unwrap();
    let odd = EpcUri {
        epc: id.epc.clone(),
        form: IdForm::Urn {
            company_prefix_len: 200,
        },
    };
    assert_eq!(odd.to_uri(), "urn:epc:id:sgtin:061414112345.8.6789");
    assert_eq!(EpcUri::parse(&odd.to_uri()).unwrap().epc, id.epc);
}
