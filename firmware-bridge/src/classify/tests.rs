//! Classification tests with real-format examples (carriers' published test numbers, GS1 and
//! retail examples), each valid and with a wrong check digit.

use super::*;

fn class(code: &str) -> BarcodeClass {
    classify(code, None, &ClassifierConfig::default())
}

fn invalid_as(code: &str) -> (String, String) {
    match class(code) {
        BarcodeClass::Invalid { looks_like, reason, .. } => (looks_like, reason),
        other => panic!("{code} should be invalid, was {other:?}"),
    }
}

#[test]
fn ups_numbers_are_split_into_their_parts_and_checked() {
    assert_eq!(
        class("1Z999AA10123456784"),
        BarcodeClass::Ups {
            tracking: "1Z999AA10123456784".into(),
            shipper: "999AA1".into(),
            service: "01".into(),
            package: "2345678".into()
        }
    );
    assert_eq!(
        invalid_as("1Z999AA10123456785"),
        ("ups".into(), "check digit is `5`, expected `4`".into())
    );
}

#[test]
fn usps_numbers_lose_their_routing_prefix() {
    assert_eq!(
        class("9400111201080805483016"),
        BarcodeClass::Usps {
            tracking: "9400111201080805483016".into(),
            routing_zip: None
        }
    );
    assert_eq!(
        class("420221539101026837331000039521"),
        BarcodeClass::Usps {
            tracking: "9101026837331000039521".into(),
            routing_zip: Some("22153".into())
        }
    );
    assert_eq!(
        class("4201002334249200190132607600833457"),
        BarcodeClass::Usps {
            tracking: "9200190132607600833457".into(),
            routing_zip: Some("100233424".into())
        }
    );
    // Scanned from GS1-128 with FNC1 between the ZIP and the tracking number.
    let scanned = classify(
        "42022153\u{1d}9101026837331000039521",
        Some(Symbology::Gs1_128),
        &ClassifierConfig::default(),
    );
    assert!(matches!(scanned, BarcodeClass::Usps { routing_zip: Some(zip), .. } if zip == "22153"));
    assert_eq!(
        class("03071790000523483741"),
        BarcodeClass::Usps {
            tracking: "03071790000523483741".into(),
            routing_zip: None
        }
    );
    assert_eq!(invalid_as("9400111201080805483017").0, "usps");
    assert_eq!(invalid_as("420221539101026837331000039522").0, "usps");
}

#[test]
fn fedex_forms_each_have_their_check() {
    let cases = [
        ("986578788855", FedexForm::Express12),
        ("041441760228964", FedexForm::Ground15),
        ("61299998820821171811", FedexForm::SmartPost20),
        ("9611020987654312345672", FedexForm::Ground96),
        ("1001921334250001000300779017972697", FedexForm::Express34),
        ("9622001900000000000000776632517510", FedexForm::Express34),
    ];
    for (code, form) in cases {
        assert_eq!(
            class(code),
            BarcodeClass::Fedex {
                tracking: code.into(),
                form
            },
            "{code}"
        );
    }
    for code in [
        "568283610012732",
        "1001901781990001000300617767839438",
        "9611020987654312345671",
    ] {
        assert_eq!(invalid_as(code).0, "fedex", "{code}");
    }
}

#[test]
fn dhl_express_waybills_use_mod_7() {
    assert_eq!(
        class("3318810025"),
        BarcodeClass::DhlExpress {
            waybill: "3318810025".into()
        }
    );
    assert_eq!(
        invalid_as("3318810010"),
        ("dhl_express".into(), "check digit is `0`, expected `4`".into())
    );
}

#[test]
fn gs1_element_strings_are_parsed_and_checked() {
    let code = "0100614141999996\u{1d}10LOT42\u{1d}21SER9";
    assert_eq!(
        classify(code, Some(Symbology::Gs1_128), &ClassifierConfig::default()),
        BarcodeClass::Gs1 {
            sscc: None,
            gtin: Some("00614141999996".into()),
            lot: Some("LOT42".into()),
            serial: Some("SER9".into()),
            other: vec![]
        }
    );
    // Fixed-length fields need no separator; a date (17) and a count (30) go to `other`.
    let code = "010061414199999617250101\u{1d}3012";
    let BarcodeClass::Gs1 { gtin, other, .. } =
        classify(code, Some(Symbology::Gs1DataMatrix), &ClassifierConfig::default())
    else {
        panic!("GS1 expected")
    };
    assert_eq!(gtin.as_deref(), Some("00614141999996"));
    assert_eq!(
        other,
        [
            Gs1Field {
                ai: "17".into(),
                value: "250101".into()
            },
            Gs1Field {
                ai: "30".into(),
                value: "12".into()
            }
        ]
    );
    // An SSCC without its symbology (it would also pass as a 20-digit USPS number).
    assert!(
        matches!(class("00106141411234567897"), BarcodeClass::Gs1 { sscc: Some(sscc), .. } if sscc == "106141411234567897")
    );
    let wrong = classify(
        "0100614141999997",
        Some(Symbology::Gs1_128),
        &ClassifierConfig::default(),
    );
    assert!(
        matches!(&wrong, BarcodeClass::Invalid { looks_like, reason, .. }
        if looks_like == "gs1" && reason == "AI (01) fails its GS1 check digit"),
        "{wrong:?}"
    );
    let short = classify("\u{1d}01006141", None, &ClassifierConfig::default());
    assert!(
        matches!(&short, BarcodeClass::Invalid { reason, .. } if reason == "expected 14 characters after AI (01), found 6"),
        "{short:?}"
    );
}

#[test]
fn retail_codes_are_checked() {
    assert_eq!(
        class("4006381333931"),
        BarcodeClass::Ean13 {
            code: "4006381333931".into()
        }
    );
    assert_eq!(
        class("96385074"),
        BarcodeClass::Ean8 {
            code: "96385074".into()
        }
    );
    assert_eq!(
        classify("036000291452", Some(Symbology::UpcA), &ClassifierConfig::default()),
        BarcodeClass::UpcA {
            code: "036000291452".into()
        }
    );
    assert_eq!(
        invalid_as("4006381333932"),
        ("ean13".into(), "check digit is `2`, expected `1`".into())
    );
    assert_eq!(invalid_as("96385075").0, "ean8");
}

#[test]
fn a_twelve_digit_code_can_be_both_a_fedex_number_and_a_upc() {
    // 036000291452 is a valid UPC-A; whether FedEx also accepts it decides the order only.
    let all = classify_all("036000291452", Some(Symbology::UpcA), &ClassifierConfig::default());
    assert_eq!(
        all.first(),
        Some(&BarcodeClass::UpcA {
            code: "036000291452".into()
        })
    );
    let without_symbology = classify_all("986578788855", None, &ClassifierConfig::default());
    assert_eq!(
        without_symbology.first(),
        Some(&BarcodeClass::Fedex {
            tracking: "986578788855".into(),
            form: FedexForm::Express12
        })
    );
}

#[test]
fn the_site_rma_pattern_wins_over_everything() {
    let config = ClassifierConfig {
        rma: Some(RmaPattern::Prefix {
            prefix: "RMA".into(),
            digits: 8,
        }),
    };
    assert_eq!(
        classify("RMA00012345", None, &config),
        BarcodeClass::Rma {
            code: "RMA00012345".into()
        }
    );
    let config = ClassifierConfig {
        rma: Some(RmaPattern::Glob("##########".into())),
    };
    assert_eq!(
        classify("3318810025", None, &config),
        BarcodeClass::Rma {
            code: "3318810025".into()
        }
    );
}

#[test]
fn unknown_codes_are_kept() {
    assert_eq!(class(" HELLO "), BarcodeClass::Unknown { code: "HELLO".into() });
}

#[test]
fn classes_serialise_in_snake_case_with_their_parts() {
    let json = serde_json::to_value(class("9611020987654312345672")).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"kind": "fedex", "tracking": "9611020987654312345672", "form": "ground96"})
    );
    let json = serde_json::to_value(class("3318810025")).unwrap();
    assert_eq!(json["kind"], "dhl_express");
}
