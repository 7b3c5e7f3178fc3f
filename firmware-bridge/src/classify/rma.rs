//! The site's RMA label pattern: a prefix and a number of digits, or a simple glob. No regular
//! expressions: sites write these in configuration and should not need to learn a regex dialect.

use serde::{Deserialize, Serialize};

/// How the site's return labels look.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RmaPattern {
    /// `prefix` followed by exactly `digits` ASCII digits (`RMA` + 8 → `RMA00012345`).
    Prefix { prefix: String, digits: usize },
    /// `*` any run of characters, `?` any one character, `#` one digit; all else literal.
    Glob(String),
}

impl RmaPattern {
    pub fn matches(&self, code: &str) -> bool {
        match self {
            RmaPattern::Prefix { prefix, digits } => code
                .strip_prefix(prefix.as_str())
                .is_some_and(|rest| rest.len() == *digits && rest.bytes().all(|byte| byte.is_ascii_digit())),
            RmaPattern::Glob(glob) => {
                let pattern: Vec<char> = glob.chars().collect();
                let text: Vec<char> = code.chars().collect();
                glob_matches(&pattern, &text)
            }
        }
    }
}

/// Iterative glob matching with one backtrack point for the last `*` (linear in practice, no
/// recursion however many stars).
fn glob_matches(pattern: &[char], text: &[char]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some('?') => {
                p += 1;
                t += 1;
            }
            Some('#') if text[t].is_ascii_digit() => {
                p += 1;
                t += 1;
            }
            Some(&literal) if literal != '#' && literal == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_and_digit_count() {
        let pattern = RmaPattern::Prefix {
            prefix: "RMA".into(),
            digits: 8,
        };
        assert!(pattern.matches("RMA00012345"));
        assert!(!pattern.matches("RMA0001234"));
        assert!(!pattern.matches("RMA0001234X"));
        assert!(!pattern.matches("XRMA00012345"));
    }

    #[test]
    fn globs() {
        let pattern = RmaPattern::Glob("R-####-*".into());
        assert!(pattern.matches("R-2024-ABC"));
        assert!(pattern.matches("R-2024-"));
        assert!(!pattern.matches("R-20A4-ABC"));
        assert!(RmaPattern::Glob("*-??".into()).matches("anything-AB"));
        assert!(!RmaPattern::Glob("*-??".into()).matches("anything-ABC"));
        assert!(RmaPattern::Glob("a*b*c".into()).matches("axxbyyc"));
        assert!(!RmaPattern::Glob("a*b*c".into()).matches("axxbyy"));
    }
}
