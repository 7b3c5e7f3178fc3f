//! Carrier tracking numbers: UPS 1Z, USPS IMpb (with and without the `420` + ZIP routing
//! prefix), FedEx (12, 15, 20, 22 and 34 digits) and DHL Express (10 digits), each with its check
//! digit. Formats as published by the carriers and collected in the tracking_number_data project.

use super::check::{dhl_mod7, fedex_mod11, gs1_mod10, gs1_mod10_ok, ups};
use super::gs1::GS;
use super::{BarcodeClass, FedexForm, Outcome};

/// A check-digit algorithm: the data digits in, the check digit out.
type CheckDigit = fn(&[u8]) -> u8;

/// UPS: `1Z` + 6 shipper + 2 service + 7 package + 1 check (18 characters).
pub(crate) fn ups_label(code: &str) -> Outcome {
    let Some(rest) = code.strip_prefix("1Z") else {
        return Outcome::NotThisFormat;
    };
    if rest.len() != 16
        || !rest
            .bytes()
            .all(|byte| byte.is_ascii_digit() || byte.is_ascii_uppercase())
    {
        return Outcome::NotThisFormat;
    }
    let (data, check) = rest.as_bytes().split_at(15);
    let expected = ups(data);
    if check[0] != b'0' + expected {
        return Outcome::invalid(
            "ups",
            format!("check digit is `{}`, expected `{expected}`", char::from(check[0])),
        );
    }
    Outcome::Valid(BarcodeClass::Ups {
        tracking: code.to_owned(),
        shipper: rest[..6].to_owned(),
        service: rest[6..8].to_owned(),
        package: rest[8..15].to_owned(),
    })
}

/// USPS with routing: `420` + ZIP (5 or 9 digits), an optional GS (FNC1, when scanned from
/// GS1-128), then the tracking number, which is what is kept.
pub(crate) fn usps_routed(code: &str) -> Outcome {
    let Some(rest) = code.strip_prefix("420") else {
        return Outcome::NotThisFormat;
    };
    // With FNC1 the ZIP's length is explicit.
    if let Some((zip, tracking)) = rest.split_once(GS) {
        if !matches!(zip.len(), 5 | 9) || !all_digits(zip) {
            return Outcome::NotThisFormat;
        }
        return match usps_tracking(tracking) {
            Outcome::Valid(BarcodeClass::Usps { tracking, .. }) => Outcome::Valid(BarcodeClass::Usps {
                tracking,
                routing_zip: Some(zip.to_owned()),
            }),
            Outcome::NotThisFormat => Outcome::invalid("usps", "expected an IMpb tracking number after the ZIP".into()),
            invalid => invalid,
        };
    }
    if !all_digits(rest) {
        return Outcome::NotThisFormat;
    }
    let mut first_problem = None;
    for zip_len in [5, 9] {
        if rest.len() <= zip_len {
            continue;
        }
        let (zip, tracking) = rest.split_at(zip_len);
        match usps_tracking(tracking) {
            Outcome::Valid(BarcodeClass::Usps { tracking, .. }) => {
                return Outcome::Valid(BarcodeClass::Usps {
                    tracking,
                    routing_zip: Some(zip.to_owned()),
                })
            }
            Outcome::Invalid { looks_like, reason } => {
                first_problem.get_or_insert(Outcome::Invalid { looks_like, reason });
            }
            _ => {}
        }
    }
    first_problem.unwrap_or(Outcome::NotThisFormat)
}

/// USPS IMpb tracking numbers: 20 digits, or 22/26/30/34 digits starting `91`–`95`, with the
/// GS1 mod-10 check digit.
pub(crate) fn usps_tracking(code: &str) -> Outcome {
    if !all_digits(code) {
        return Outcome::NotThisFormat;
    }
    let starts_impb = matches!(code.as_bytes(), [b'9', b'1'..=b'5', ..]);
    let structural = match code.len() {
        20 => true,
        22 | 26 | 30 | 34 => starts_impb,
        _ => false,
    };
    if !structural {
        return Outcome::NotThisFormat;
    }
    if !gs1_mod10_ok(code.as_bytes()) {
        return Outcome::invalid("usps", check_reason(code.as_bytes(), gs1_mod10));
    }
    Outcome::Valid(BarcodeClass::Usps {
        tracking: code.to_owned(),
        routing_zip: None,
    })
}

/// FedEx forms, told apart by length and prefix.
pub(crate) fn fedex(code: &str) -> Outcome {
    if !all_digits(code) {
        return Outcome::NotThisFormat;
    }
    let digits = code.as_bytes();
    // (form, the digits the check covers with the check digit last, the algorithm)
    let (form, checked, algorithm): (FedexForm, &[u8], CheckDigit) = match digits.len() {
        12 => (FedexForm::Express12, digits, fedex_mod11),
        15 => (FedexForm::Ground15, digits, gs1_mod10),
        // SmartPost: the check digit is computed as if `92` stood in front.
        20 => (FedexForm::SmartPost20, digits, smartpost_check),
        // Ground `96`: the check covers the 14-digit shipper + package serial only.
        22 if digits.starts_with(b"96") => (FedexForm::Ground96, &digits[7..], gs1_mod10),
        34 if digits.starts_with(b"100") || digits.starts_with(b"96") => {
            (FedexForm::Express34, &digits[20..], fedex_mod11)
        }
        _ => return Outcome::NotThisFormat,
    };
    if !check_ok(checked, algorithm) {
        return Outcome::invalid("fedex", check_reason(checked, algorithm));
    }
    Outcome::Valid(BarcodeClass::Fedex {
        tracking: code.to_owned(),
        form,
    })
}

/// DHL Express waybill: 10 digits, the last being the first nine modulo 7.
pub(crate) fn dhl_express(code: &str) -> Outcome {
    if code.len() != 10 || !all_digits(code) {
        return Outcome::NotThisFormat;
    }
    if !check_ok(code.as_bytes(), dhl_mod7) {
        return Outcome::invalid("dhl_express", check_reason(code.as_bytes(), dhl_mod7));
    }
    Outcome::Valid(BarcodeClass::DhlExpress {
        waybill: code.to_owned(),
    })
}

/// Whether the last digit is what `algorithm` computes from the others.
fn check_ok(digits: &[u8], algorithm: CheckDigit) -> bool {
    digits
        .split_last()
        .is_some_and(|(check, data)| check.wrapping_sub(b'0') == algorithm(data))
}

fn smartpost_check(data: &[u8]) -> u8 {
    gs1_mod10(&[b"92".as_slice(), data].concat())
}

/// "check digit is `5`, expected `4`" for digits whose last one is the check.
pub(crate) fn check_reason(digits: &[u8], algorithm: CheckDigit) -> String {
    match digits.split_last() {
        Some((check, data)) => format!(
            "check digit is `{}`, expected `{}`",
            char::from(*check),
            algorithm(data)
        ),
        None => "expected digits".to_owned(),
    }
}

pub(crate) fn all_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit())
}
