//! Loading the site's return policy (`config/policy.toml`, embedded as the default) into the
//! domain's [`Policy`], validated once: unknown keys, missing grades, percentages over 100 and
//! empty rule names are refused naming the key, so `check-config` finds them before a restart.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::config::ConfigError;
use crate::domain::{Disposition, Flag, Grade, GradeRule, Policy, RefundOn, WeightCheck};

/// The shipped policy, embedded as the default.
pub const DEFAULT_POLICY_TOML: &str = include_str!("../config/policy.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    refund_on: RefundOn,
    #[serde(default = "hundred")]
    receipt_refund_percent: u32,
    #[serde(default)]
    return_window_days: Option<u32>,
    #[serde(default)]
    high_value_threshold_minor: Option<u64>,
    supervisor_dispositions: Vec<Disposition>,
    refund_blocking_flags: Vec<Flag>,
    #[serde(default)]
    weight_check: Option<WeightCheckFile>,
    grades: BTreeMap<Grade, GradeFile>,
}

fn hundred() -> u32 {
    100
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WeightCheckFile {
    packaging_allowance_g: u32,
    tolerance_percent: u32,
    tolerance_min_g: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GradeFile {
    disposition: Disposition,
    refund_percent: u32,
    #[serde(default)]
    restocking_fee_percent: u32,
    #[serde(default)]
    rule: Option<String>,
}

/// Reads and validates the policy file, or the embedded one when `file` is `None`.
pub fn load(file: Option<&Path>) -> Result<Policy, ConfigError> {
    match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            parse(&path.display().to_string(), &text)
        }
        None => parse("embedded policy", DEFAULT_POLICY_TOML),
    }
}

/// Parses policy text; `origin` names it in errors.
pub fn parse(origin: &str, text: &str) -> Result<Policy, ConfigError> {
    let file: PolicyFile = toml::from_str(text).map_err(|e| ConfigError::Parse {
        origin: origin.to_owned(),
        message: e.to_string(),
    })?;
    let invalid = |key: &str, message: String| ConfigError::Invalid {
        key: format!("{origin}: {key}"),
        message,
    };
    let percent = |key: &str, value: u32| -> Result<u8, ConfigError> {
        u8::try_from(value)
            .ok()
            .filter(|p| *p <= 100)
            .ok_or_else(|| invalid(key, format!("expected a percentage from 0 to 100, not {value}")))
    };
    if let Some(days) = file.return_window_days {
        if !(1..=3650).contains(&days) {
            return Err(invalid(
                "return_window_days",
                format!("expected 1 to 3650 days, not {days}; remove the line for no window"),
            ));
        }
    }
    let weight = match file.weight_check {
        Some(w) => {
            if w.tolerance_percent > 100 {
                return Err(invalid(
                    "weight_check.tolerance_percent",
                    format!("expected a percentage from 0 to 100, not {}", w.tolerance_percent),
                ));
            }
            Some(WeightCheck {
                packaging_allowance_g: w.packaging_allowance_g,
                tolerance_percent: w.tolerance_percent,
                tolerance_min_g: w.tolerance_min_g,
            })
        }
        None => None,
    };
    let mut grades = Vec::new();
    for grade in Grade::ALL {
        let Some(rule) = file.grades.get(grade) else {
            return Err(invalid(
                &format!("grades.{grade}"),
                format!("every grade needs a rule: add a [grades.{grade}] table"),
            ));
        };
        let key = |field: &str| format!("grades.{grade}.{field}");
        let refund_percent = percent(&key("refund_percent"), rule.refund_percent)?;
        let restocking_fee_percent = percent(&key("restocking_fee_percent"), rule.restocking_fee_percent)?;
        if restocking_fee_percent > refund_percent {
            return Err(invalid(
                &key("restocking_fee_percent"),
                format!("the fee ({restocking_fee_percent}) cannot exceed the refund ({refund_percent})"),
            ));
        }
        let name = match &rule.rule {
            Some(name) if name.trim().is_empty() || name.len() > 64 => {
                return Err(invalid(
                    &key("rule"),
                    "expected a rule name of 1 to 64 characters".into(),
                ))
            }
            other => other.clone(),
        };
        grades.push(GradeRule {
            grade: *grade,
            disposition: rule.disposition,
            refund_percent,
            restocking_fee_percent,
            name,
        });
    }
    Ok(Policy {
        supervisor_dispositions: file.supervisor_dispositions,
        return_window_days: file.return_window_days,
        weight,
        grades,
        high_value_minor: file.high_value_threshold_minor,
        refund_blocking_flags: file.refund_blocking_flags,
        refund_on: file.refund_on,
        receipt_refund_percent: percent("receipt_refund_percent", file.receipt_refund_percent)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn without(line_prefix: &str) -> String {
        DEFAULT_POLICY_TOML
            .lines()
            .filter(|l| !l.starts_with(line_prefix))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn error(text: &str) -> String {
        parse("p.toml", text).unwrap_err().to_string()
    }

    #[test]
    fn the_shipped_file_is_the_domain_default() {
        assert_eq!(parse("p", DEFAULT_POLICY_TOML).unwrap(), Policy::default());
        assert_eq!(load(None).unwrap(), Policy::default());
    }

    #[test]
    fn a_missing_grade_is_named() {
        let text = DEFAULT_POLICY_TOML.replace("[grades.D]", "[grades_unused]");
        let text = text.replace(
            "[grades_unused]\ndisposition = \"return_to_vendor\"\nrefund_percent = 30\n",
            "",
        );
        let err = error(&text);
        assert!(
            err.contains("grades.D") && err.contains("every grade needs a rule"),
            "{err}"
        );
    }

    #[test]
    fn percentages_over_100_and_fees_over_the_refund_are_refused_naming_the_key() {
        let err = error(&DEFAULT_POLICY_TOML.replace("refund_percent = 70", "refund_percent = 170"));
        assert!(
            err.contains("grades.C.refund_percent") && err.contains("0 to 100"),
            "{err}"
        );
        let err = error(&DEFAULT_POLICY_TOML.replace("restocking_fee_percent = 15", "restocking_fee_percent = 101"));
        assert!(err.contains("grades.B.restocking_fee_percent"), "{err}");
        let text = DEFAULT_POLICY_TOML.replace(
            "refund_percent = 0\n",
            "refund_percent = 0\nrestocking_fee_percent = 5\n",
        );
        let err = error(&text);
        assert!(
            err.contains("grades.F.restocking_fee_percent") && err.contains("cannot exceed"),
            "{err}"
        );
    }

    #[test]
    fn unknown_keys_bad_flags_and_bad_windows_are_named() {
        let err = error(&format!("{DEFAULT_POLICY_TOML}\n[grades.A.extra]\n"));
        assert!(err.contains("unknown field") && err.contains("extra"), "{err}");
        let err = error(&DEFAULT_POLICY_TOML.replace("\"empty_box\",", "\"empty-box\","));
        assert!(
            err.contains("refund_blocking_flags") || err.contains("empty-box"),
            "{err}"
        );
        let err = error(&DEFAULT_POLICY_TOML.replace("return_window_days = 30", "return_window_days = 0"));
        assert!(err.contains("return_window_days") && err.contains("1 to 3650"), "{err}");
        let err = error(&DEFAULT_POLICY_TOML.replace("refund_on = \"inspection\"", "refund_on = \"never\""));
        assert!(err.contains("refund_on") || err.contains("never"), "{err}");
    }

    #[test]
    fn optional_rules_can_be_removed() {
        let text = without("return_window_days");
        let text = text.replace(
            "[weight_check]\npackaging_allowance_g = 150\ntolerance_percent = 10\ntolerance_min_g = 50\n",
            "",
        );
        let policy = parse("p", &without("high_value_threshold_minor")).unwrap();
        assert_eq!(policy.high_value_minor, None);
        let policy = parse("p", &text).unwrap();
        assert_eq!(policy.return_window_days, None);
        assert_eq!(policy.weight, None);
    }
}
