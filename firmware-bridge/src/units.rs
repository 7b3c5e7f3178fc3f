//! Weights as scales print them (a decimal text and a unit) turned into whole grams, with the
//! scale's resolution kept.
//!
//! Owns decimal parsing and unit conversion for every scale protocol; knows nothing of framing.
//! Arithmetic is exact (integers, `i128` intermediates) and rounds once, half away from zero, so a
//! reading in pounds becomes the nearest gram and its resolution the next whole gram above one
//! division (a scale reading 0.01 lb can not tell weights closer than 4.54 g apart: 5 g).
//! Sub-gram resolutions (lab balances) round to the gram, with a resolution of 1 g.

use thiserror::Error;

/// Why a weight text or value could not become grams.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UnitsError {
    /// The text is not a decimal number (an optional sign, digits, at most one `.` or `,`).
    #[error("expected a decimal weight such as `-12.345`, found {found:?}")]
    NotANumber { found: String },
    /// More digits than any scale prints (12); refused rather than risking overflow.
    #[error("expected at most 12 digits in a weight, found {digits} in {found:?}")]
    TooManyDigits { digits: usize, found: String },
    /// The unit is not one we convert (the text is kept for the error message).
    #[error("expected a mass unit (g, kg, mg, lb, oz, t, ct), found {found:?}")]
    UnknownUnit { found: String },
    /// The power of ten (from a HID report, for example) is outside ±12.
    #[error("expected a decimal exponent between -12 and 12, found {exponent}")]
    ExponentOutOfRange { exponent: i32 },
    /// The weight in grams does not fit the reading type.
    #[error("expected a weight that fits in 64-bit grams")]
    Overflow,
}

/// A mass unit a scale may report in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MassUnit {
    Milligram,
    Gram,
    Kilogram,
    Tonne,
    Carat,
    Grain,
    Pennyweight,
    TroyOunce,
    Ounce,
    Pound,
    ShortTon,
}

/// A decimal value: `mantissa × 10^exponent`, exactly as the scale printed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decimal {
    pub mantissa: i64,
    pub exponent: i32,
}

/// Grams and the resolution (one division) in grams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grams {
    pub grams: i64,
    pub resolution_g: u32,
}

const MAX_DIGITS: usize = 12;
const MAX_EXPONENT: i32 = 12;

impl MassUnit {
    /// Parses the unit abbreviations scales print, in any letter case (`KG`, `kg`, `Kg`).
    /// `gr` is refused on purpose: some scales mean gram by it, others grain.
    pub fn parse(text: &str) -> Result<MassUnit, UnitsError> {
        let unit = match text.trim().to_ascii_lowercase().as_str() {
            "mg" => MassUnit::Milligram,
            "g" => MassUnit::Gram,
            "kg" => MassUnit::Kilogram,
            "t" => MassUnit::Tonne,
            "ct" => MassUnit::Carat,
            "gn" => MassUnit::Grain,
            "dwt" => MassUnit::Pennyweight,
            "ozt" => MassUnit::TroyOunce,
            "oz" => MassUnit::Ounce,
            "lb" | "lbs" => MassUnit::Pound,
            "ton" => MassUnit::ShortTon,
            _ => return Err(UnitsError::UnknownUnit { found: text.to_owned() }),
        };
        Ok(unit)
    }

    /// The usual abbreviation, as the simulators print it.
    pub fn symbol(self) -> &'static str {
        match self {
            MassUnit::Milligram => "mg",
            MassUnit::Gram => "g",
            MassUnit::Kilogram => "kg",
            MassUnit::Tonne => "t",
            MassUnit::Carat => "ct",
            MassUnit::Grain => "gn",
            MassUnit::Pennyweight => "dwt",
            MassUnit::TroyOunce => "ozt",
            MassUnit::Ounce => "oz",
            MassUnit::Pound => "lb",
            MassUnit::ShortTon => "ton",
        }
    }

    /// Grams in one unit as an exact fraction (numerator, denominator). The pound is defined as
    /// exactly 0.45359237 kg; the others follow from it or from the metric prefixes.
    fn grams_per_unit(self) -> (i128, i128) {
        match self {
            MassUnit::Milligram => (1, 1000),
            MassUnit::Gram => (1, 1),
            MassUnit::Kilogram => (1000, 1),
            MassUnit::Tonne => (1_000_000, 1),
            MassUnit::Carat => (1, 5),
            MassUnit::Grain => (6_479_891, 100_000_000),
            MassUnit::Pennyweight => (155_517_384, 100_000_000),
            MassUnit::TroyOunce => (311_034_768, 10_000_000),
            MassUnit::Ounce => (45_359_237, 1_600_000),
            MassUnit::Pound => (45_359_237, 100_000),
            MassUnit::ShortTon => (90_718_474, 100),
        }
    }
}

impl Decimal {
    /// Parses a weight as scales print it: surrounding spaces, an optional sign that may be
    /// separated from the digits by spaces (`-   1.25`, `+ 2.00`), digits with at most one decimal
    /// separator (`.` or `,`), and leading zeros (`0001.250`).
    pub fn parse(text: &str) -> Result<Decimal, UnitsError> {
        let not_a_number = || UnitsError::NotANumber { found: text.to_owned() };
        let trimmed = text.trim();
        let (negative, rest) = match trimmed.as_bytes().first() {
            Some(b'-') => (true, trimmed[1..].trim_start()),
            Some(b'+') => (false, trimmed[1..].trim_start()),
            _ => (false, trimmed),
        };
        let mut mantissa: i64 = 0;
        let mut digits = 0usize;
        let mut decimals: Option<i32> = None;
        for byte in rest.bytes() {
            match byte {
                b'0'..=b'9' => {
                    digits += 1;
                    if digits > MAX_DIGITS {
                        let digits = rest.bytes().filter(u8::is_ascii_digit).count();
                        return Err(UnitsError::TooManyDigits {
                            digits,
                            found: text.to_owned(),
                        });
                    }
                    mantissa = mantissa * 10 + i64::from(byte - b'0');
                    if let Some(count) = decimals.as_mut() {
                        *count += 1;
                    }
                }
                b'.' | b',' if decimals.is_none() => decimals = Some(0),
                _ => return Err(not_a_number()),
            }
        }
        if digits == 0 {
            return Err(not_a_number());
        }
        Ok(Decimal {
            mantissa: if negative { -mantissa } else { mantissa },
            exponent: -decimals.unwrap_or(0),
        })
    }

    /// The number of decimals, for printing (`0` for whole numbers).
    pub fn decimals(self) -> usize {
        usize::try_from(-self.exponent.min(0)).unwrap_or(0)
    }
}

impl std::fmt::Display for Decimal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let decimals = self.decimals();
        let sign = if self.mantissa < 0 { "-" } else { "" };
        let magnitude = self.mantissa.unsigned_abs();
        if decimals == 0 {
            let zeros = usize::try_from(self.exponent.max(0)).unwrap_or(0);
            return write!(f, "{sign}{magnitude}{}", "0".repeat(zeros));
        }
        let digits = format!("{magnitude:0>width$}", width = decimals + 1);
        let (whole, fraction) = digits.split_at(digits.len() - decimals);
        write!(f, "{sign}{whole}.{fraction}")
    }
}

/// Converts a printed value in `unit` to grams, and one division (a unit in the last printed
/// digit) to the resolution in grams.
pub fn to_grams(value: Decimal, unit: MassUnit) -> Result<Grams, UnitsError> {
    if !(-MAX_EXPONENT..=MAX_EXPONENT).contains(&value.exponent) {
        return Err(UnitsError::ExponentOutOfRange {
            exponent: value.exponent,
        });
    }
    let (per_unit_num, per_unit_den) = unit.grams_per_unit();
    let scale = 10i128.pow(value.exponent.unsigned_abs());
    let (num_scale, den_scale) = if value.exponent >= 0 { (scale, 1) } else { (1, scale) };
    let numerator = i128::from(value.mantissa) * per_unit_num * num_scale;
    let denominator = per_unit_den * den_scale;
    let grams = i64::try_from(round_half_away(numerator, denominator)).map_err(|_| UnitsError::Overflow)?;
    let division_num = per_unit_num * num_scale;
    let resolution = (division_num + denominator - 1) / denominator;
    let resolution_g = u32::try_from(resolution.max(1)).map_err(|_| UnitsError::Overflow)?;
    Ok(Grams { grams, resolution_g })
}

/// Parses a weight text and its unit text in one step.
pub fn parse_grams(value: &str, unit: &str) -> Result<Grams, UnitsError> {
    to_grams(Decimal::parse(value)?, MassUnit::parse(unit)?)
}

/// Integer division rounding half away from zero; `denominator` is positive.
fn round_half_away(numerator: i128, denominator: i128) -> i128 {
    let magnitude = (numerator.abs() * 2 + denominator) / (denominator * 2);
    if numerator < 0 {
        -magnitude
    } else {
        magnitude
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kilograms_with_three_decimals_are_grams_at_one_gram_resolution() {
        assert_eq!(
            parse_grams("0001.250", "KG"),
            Ok(Grams {
                grams: 1250,
                resolution_g: 1
            })
        );
        assert_eq!(
            parse_grams("13.5", "kg"),
            Ok(Grams {
                grams: 13_500,
                resolution_g: 100
            })
        );
    }

    #[test]
    fn pounds_round_to_the_nearest_gram_and_resolution_rounds_up() {
        // 1.00 lb = 453.59237 g; one division 0.01 lb = 4.5359 g → 5 g.
        assert_eq!(
            parse_grams("1.00", "lb"),
            Ok(Grams {
                grams: 454,
                resolution_g: 5
            })
        );
        assert_eq!(
            parse_grams("-2.5", "oz"),
            Ok(Grams {
                grams: -71,
                resolution_g: 3
            })
        );
    }

    #[test]
    fn sub_gram_resolution_rounds_to_whole_grams() {
        assert_eq!(
            parse_grams("100.45", "g"),
            Ok(Grams {
                grams: 100,
                resolution_g: 1
            })
        );
        assert_eq!(
            parse_grams("100.5", "g"),
            Ok(Grams {
                grams: 101,
                resolution_g: 1
            })
        );
        assert_eq!(
            parse_grams("-100.5", "g"),
            Ok(Grams {
                grams: -101,
                resolution_g: 1
            })
        );
    }

    #[test]
    fn signs_may_be_separated_from_the_digits() {
        assert_eq!(
            Decimal::parse("-   1.25"),
            Ok(Decimal {
                mantissa: -125,
                exponent: -2
            })
        );
        assert_eq!(
            Decimal::parse("+ 2,00"),
            Ok(Decimal {
                mantissa: 200,
                exponent: -2
            })
        );
    }

    #[test]
    fn text_that_is_not_a_number_names_what_was_expected() {
        let error = Decimal::parse("^^^^^^").unwrap_err();
        assert!(error.to_string().contains("expected a decimal weight"), "{error}");
        assert!(Decimal::parse("1.2.3").is_err());
        assert!(Decimal::parse("").is_err());
        assert!(Decimal::parse("-").is_err());
        assert!(matches!(MassUnit::parse("gr"), Err(UnitsError::UnknownUnit { .. })));
    }

    #[test]
    fn decimals_print_as_they_were_read() {
        for text in ["1.250", "-0.005", "120", "0.0", "-12.34"] {
            assert_eq!(Decimal::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn huge_values_are_refused_not_wrapped() {
        assert!(matches!(
            Decimal::parse("1234567890123"),
            Err(UnitsError::TooManyDigits { .. })
        ));
        let value = Decimal {
            mantissa: 999_999_999_999,
            exponent: 12,
        };
        assert_eq!(to_grams(value, MassUnit::ShortTon), Err(UnitsError::Overflow));
        let value = Decimal {
            mantissa: 1,
            exponent: 13,
        };
        assert!(matches!(
            to_grams(value, MassUnit::Gram),
            Err(UnitsError::ExponentOutOfRange { .. })
        ));
    }
}
