//! Barcode classification, pure: what a scanned code is (a carrier's tracking number, a GS1
//! element string, a retail GTIN, the site's RMA label) with its parts parsed and its check
//! digit verified.
//!
//! Formats are tried in a fixed order and the first that validates wins ([`classify`]); every
//! format that validates is available too ([`classify_all`]) because some codes are ambiguous
//! on their own (a 12-digit number can be a valid FedEx Express number and a valid UPC-A). The
//! AIM symbology settles most of that: a code read as EAN/UPC is tried as a product first, a code
//! read as GS1-128/DataMatrix as an element string. A code that has a format's shape but fails
//! its check digit is [`BarcodeClass::Invalid`], naming what it looked like and the expected
//! check digit, unless another format accepts it.

use serde::{Deserialize, Serialize};

use crate::event::Symbology;

mod carrier;
mod check;
mod gs1;
mod rma;

pub use gs1::Gs1Field;
pub use rma::RmaPattern;

/// What a scanned code is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BarcodeClass {
    /// UPS `1Z` number: shipper account, service code and package number.
    Ups {
        tracking: String,
        shipper: String,
        service: String,
        package: String,
    },
    /// USPS IMpb; `routing_zip` when the `420` + ZIP prefix was scanned (and stripped).
    Usps {
        tracking: String,
        routing_zip: Option<String>,
    },
    Fedex {
        tracking: String,
        form: FedexForm,
    },
    DhlExpress {
        waybill: String,
    },
    /// A GS1 element string: SSCC (00), GTIN (01), lot (10), serial (21) and any other fields.
    Gs1 {
        sscc: Option<String>,
        gtin: Option<String>,
        lot: Option<String>,
        serial: Option<String>,
        other: Vec<Gs1Field>,
    },
    Ean13 {
        code: String,
    },
    UpcA {
        code: String,
    },
    Ean8 {
        code: String,
    },
    /// The site's return label.
    Rma {
        code: String,
    },
    /// Shaped like `looks_like` (`ups`, `usps`, `fedex`, `dhl_express`, `gs1`, `ean13`, `upc_a`,
    /// `ean8`) but not valid: `reason` names what was expected (usually the check digit).
    Invalid {
        code: String,
        looks_like: String,
        reason: String,
    },
    /// No known format.
    Unknown {
        code: String,
    },
}

/// The FedEx number forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FedexForm {
    /// 12 digits, mod-11 check (FedEx Express).
    Express12,
    /// 15 digits, mod-10 check (FedEx Ground).
    Ground15,
    /// 20 digits, mod-10 check over `92` + the number (SmartPost).
    SmartPost20,
    /// 22 digits starting `96`, mod-10 check over the serial (Ground 96).
    Ground96,
    /// 34 digits starting `100` or `96`, mod-11 check over the last 14 digits.
    Express34,
}

/// Site-specific classification settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClassifierConfig {
    /// The site's RMA label pattern; `None` when the site prints none.
    pub rma: Option<RmaPattern>,
}

/// One format's verdict on a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    NotThisFormat,
    Valid(BarcodeClass),
    Invalid { looks_like: &'static str, reason: String },
}

impl Outcome {
    pub(crate) fn invalid(looks_like: &'static str, reason: String) -> Outcome {
        Outcome::Invalid { looks_like, reason }
    }
}

/// The most likely class of `code` (see the module notes for the order).
pub fn classify(code: &str, symbology: Option<Symbology>, config: &ClassifierConfig) -> BarcodeClass {
    let code = code.trim_matches(|c: char| c.is_ascii_whitespace());
    let mut first_invalid = None;
    for outcome in outcomes(code, symbology, config) {
        match outcome {
            Outcome::Valid(class) => return class,
            Outcome::Invalid { looks_like, reason } => {
                first_invalid.get_or_insert(BarcodeClass::Invalid {
                    code: code.to_owned(),
                    looks_like: looks_like.to_owned(),
                    reason,
                });
            }
            Outcome::NotThisFormat => {}
        }
    }
    first_invalid.unwrap_or_else(|| BarcodeClass::Unknown { code: code.to_owned() })
}

/// Every valid class of `code`, most likely first; empty when none validates.
pub fn classify_all(code: &str, symbology: Option<Symbology>, config: &ClassifierConfig) -> Vec<BarcodeClass> {
    let code = code.trim_matches(|c: char| c.is_ascii_whitespace());
    let mut classes = Vec::new();
    for outcome in outcomes(code, symbology, config) {
        if let Outcome::Valid(class) = outcome {
            if !classes.contains(&class) {
                classes.push(class);
            }
        }
    }
    classes
}

/// One format's check of a code.
type Recogniser = fn(&str, &ClassifierConfig) -> Outcome;

fn outcomes<'a>(
    code: &'a str,
    symbology: Option<Symbology>,
    config: &'a ClassifierConfig,
) -> impl Iterator<Item = Outcome> + 'a {
    let retail_first = matches!(symbology, Some(Symbology::Ean13 | Symbology::UpcA | Symbology::Ean8));
    let gs1_flagged = symbology.is_some_and(Symbology::carries_gs1) || code.starts_with(gs1::GS);
    let steps: [(bool, Recogniser); 10] = [
        (true, rma_label),
        (retail_first, |code, _| retail(code)),
        // IMpb is printed as GS1-128 `(420) ZIP (92…)`: try it before the generic element string.
        (true, |code, _| {
            carrier::usps_routed(code.strip_prefix(gs1::GS).unwrap_or(code))
        }),
        (gs1_flagged, |code, _| element_string(code, true)),
        (true, |code, _| carrier::ups_label(code)),
        (true, |code, _| bare_sscc(code)),
        (true, |code, _| carrier::usps_tracking(code)),
        (true, |code, _| carrier::fedex(code)),
        (true, |code, _| carrier::dhl_express(code)),
        (!retail_first, |code, _| retail(code)),
    ];
    let unflagged_gs1 = (!gs1_flagged).then(|| element_string(code, false));
    steps
        .into_iter()
        .filter(|(wanted, _)| *wanted)
        .map(move |(_, step)| step(code, config))
        .chain(unflagged_gs1)
}

fn rma_label(code: &str, config: &ClassifierConfig) -> Outcome {
    match &config.rma {
        Some(pattern) if pattern.matches(code) => Outcome::Valid(BarcodeClass::Rma { code: code.to_owned() }),
        _ => Outcome::NotThisFormat,
    }
}

/// A GS1 element string. When nothing said it is one (`flagged` false), only a code that parses
/// completely counts, and a failure is not reported as invalid.
fn element_string(code: &str, flagged: bool) -> Outcome {
    if !flagged && !code.starts_with('0') {
        return Outcome::NotThisFormat;
    }
    match gs1::parse_element_string(code) {
        Ok(fields) => {
            let mut class = (None, None, None, None, Vec::new());
            for field in fields {
                match field.ai.as_str() {
                    "00" => class.0 = Some(field.value),
                    "01" => class.1 = Some(field.value),
                    "10" => class.2 = Some(field.value),
                    "21" => class.3 = Some(field.value),
                    _ => class.4.push(field),
                }
            }
            let (sscc, gtin, lot, serial, other) = class;
            Outcome::Valid(BarcodeClass::Gs1 {
                sscc,
                gtin,
                lot,
                serial,
                other,
            })
        }
        Err(problem) if flagged => Outcome::invalid("gs1", problem.to_string()),
        Err(_) => Outcome::NotThisFormat,
    }
}

/// An SSCC scanned without its symbology: `00` + 18 digits. Tried before the 20-digit USPS form,
/// which any valid SSCC also satisfies (the leading zeros weigh nothing).
fn bare_sscc(code: &str) -> Outcome {
    if code.len() == 20 && code.starts_with("00") && carrier::all_digits(code) && check::gs1_mod10_ok(code.as_bytes()) {
        return element_string(code, false);
    }
    Outcome::NotThisFormat
}

fn retail(code: &str) -> Outcome {
    let Some(form) = gs1::retail_form(code) else {
        return Outcome::NotThisFormat;
    };
    let (looks_like, class): (&'static str, fn(String) -> BarcodeClass) = match form {
        gs1::Retail::Ean13 => ("ean13", |code| BarcodeClass::Ean13 { code }),
        gs1::Retail::UpcA => ("upc_a", |code| BarcodeClass::UpcA { code }),
        gs1::Retail::Ean8 => ("ean8", |code| BarcodeClass::Ean8 { code }),
    };
    if !check::gs1_mod10_ok(code.as_bytes()) {
        return Outcome::invalid(looks_like, carrier::check_reason(code.as_bytes(), check::gs1_mod10));
    }
    Outcome::Valid(class(code.to_owned()))
}

#[cfg(test)]
mod tests;
