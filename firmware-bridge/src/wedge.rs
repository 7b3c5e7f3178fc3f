//! Keyboard-wedge scanners: key events → lines of text. Pure; the evdev reading loop in
//! `transport::evdev` only feeds it.
//!
//! Owns modifier tracking (Shift, AltGr, Ctrl, Alt, Caps Lock), the line terminator (Enter, or Tab
//! when configured), and the two ways scanners type GS1 FNC1 on a keyboard: Ctrl + `]` (the US
//! position of `]`, whatever the layout, as scanners send it) and Alt + keypad `0 2 9`. Completed
//! lines go through the same [`crate::scanner::interpret_line`] as serial scanners.

use serde::{Deserialize, Serialize};

use crate::keymap::{codes, key_to_char, keypad_digit, KeyboardLayout, Modifiers};
use crate::scanner::{interpret_line, ScanError, ScannedCode, ScannerConfig, GS};

/// Which key ends a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WedgeTerminator {
    #[default]
    Enter,
    /// Tab ends a code too (scanners programmed to tab between form fields).
    EnterOrTab,
}

/// What a key event completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WedgeLine {
    Code(ScannedCode),
    Error(ScanError),
}

/// A key event's value as evdev reports it.
pub const KEY_RELEASE: i32 = 0;
pub const KEY_PRESS: i32 = 1;

/// Assembles key events into codes.
#[derive(Debug)]
pub struct LineAssembler {
    layout: KeyboardLayout,
    terminator: WedgeTerminator,
    config: ScannerConfig,
    left_shift: bool,
    right_shift: bool,
    altgr: bool,
    alt: bool,
    ctrl: bool,
    caps_lock: bool,
    /// Digits typed on the keypad while Alt is held: a character code.
    alt_code: Option<u32>,
    line: String,
    overflowed: bool,
}

impl LineAssembler {
    pub fn new(layout: KeyboardLayout, terminator: WedgeTerminator, config: ScannerConfig) -> Self {
        LineAssembler {
            layout,
            terminator,
            config,
            left_shift: false,
            right_shift: false,
            altgr: false,
            alt: false,
            ctrl: false,
            caps_lock: false,
            alt_code: None,
            line: String::new(),
            overflowed: false,
        }
    }

    /// Feeds one key event (`value`: 0 release, 1 press, 2 auto-repeat, which is ignored) read at
    /// `now_ms`.
    pub fn key(&mut self, code: u16, value: i32, now_ms: u64) -> Option<WedgeLine> {
        let pressed = match value {
            KEY_PRESS => true,
            KEY_RELEASE => false,
            _ => return None,
        };
        match code {
            codes::KEY_LEFTSHIFT => self.left_shift = pressed,
            codes::KEY_RIGHTSHIFT => self.right_shift = pressed,
            codes::KEY_LEFTCTRL | codes::KEY_RIGHTCTRL => self.ctrl = pressed,
            codes::KEY_RIGHTALT => self.altgr = pressed,
            codes::KEY_LEFTALT => {
                self.alt = pressed;
                if !pressed {
                    if let Some(c) = self.alt_code.take().and_then(char::from_u32) {
                        self.push(c);
                    }
                }
            }
            codes::KEY_CAPSLOCK if pressed => self.caps_lock = !self.caps_lock,
            _ if !pressed => {}
            codes::KEY_ENTER | codes::KEY_KPENTER => return self.finish(now_ms),
            codes::KEY_TAB if self.terminator == WedgeTerminator::EnterOrTab => return self.finish(now_ms),
            codes::KEY_TAB => self.push('\t'),
            codes::KEY_RIGHTBRACE if self.ctrl => self.push(char::from(GS)),
            _ if self.alt && keypad_digit(code).is_some() => {
                let digit = keypad_digit(code).unwrap_or(0);
                self.alt_code = Some(self.alt_code.unwrap_or(0).saturating_mul(10).saturating_add(digit));
            }
            _ => {
                let modifiers = Modifiers {
                    shift: self.left_shift || self.right_shift,
                    altgr: self.altgr,
                    caps_lock: self.caps_lock,
                };
                if let Some(c) = key_to_char(self.layout, code, modifiers) {
                    self.push(c);
                }
            }
        }
        None
    }

    fn push(&mut self, c: char) {
        if self.line.len() + c.len_utf8() > self.config.max_len {
            self.overflowed = true;
            return;
        }
        self.line.push(c);
    }

    fn finish(&mut self, now_ms: u64) -> Option<WedgeLine> {
        let line = std::mem::take(&mut self.line);
        if std::mem::take(&mut self.overflowed) {
            return Some(WedgeLine::Error(ScanError::TooLong {
                max: self.config.max_len,
                terminator: "Enter",
            }));
        }
        if line.is_empty() {
            return None;
        }
        let code = interpret_line(line.as_bytes(), &self.config, now_ms);
        (!code.code.is_empty()).then_some(WedgeLine::Code(code))
    }
}

/// The key events a scanner programmed for `layout` sends to type `text` and Enter (for tests
/// and demos). `None` when the layout can not type a character of it.
pub fn type_line(layout: KeyboardLayout, text: &str) -> Option<Vec<(u16, i32)>> {
    let mut events = Vec::new();
    for c in text.chars() {
        if c == char::from(GS) {
            events.extend([(codes::KEY_LEFTCTRL, KEY_PRESS), (codes::KEY_RIGHTBRACE, KEY_PRESS)]);
            events.extend([(codes::KEY_RIGHTBRACE, KEY_RELEASE), (codes::KEY_LEFTCTRL, KEY_RELEASE)]);
            continue;
        }
        let (code, modifiers) = crate::keymap::char_to_key(layout, c)?;
        let modifier = if modifiers.shift {
            Some(codes::KEY_LEFTSHIFT)
        } else if modifiers.altgr {
            Some(codes::KEY_RIGHTALT)
        } else {
            None
        };
        events.extend(modifier.map(|key| (key, KEY_PRESS)));
        events.extend([(code, KEY_PRESS), (code, KEY_RELEASE)]);
        events.extend(modifier.map(|key| (key, KEY_RELEASE)));
    }
    events.extend([(codes::KEY_ENTER, KEY_PRESS), (codes::KEY_ENTER, KEY_RELEASE)]);
    Some(events)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::event::Symbology;

    fn assemble(layout: KeyboardLayout, events: &[(u16, i32)]) -> Vec<WedgeLine> {
        let mut assembler = LineAssembler::new(layout, WedgeTerminator::Enter, ScannerConfig::default());
        events
            .iter()
            .filter_map(|&(code, value)| assembler.key(code, value, 5))
            .collect()
    }

    fn codes_of(lines: &[WedgeLine]) -> Vec<String> {
        lines
            .iter()
            .map(|line| match line {
                WedgeLine::Code(code) => code.code.clone(),
                WedgeLine::Error(error) => format!("error: {error}"),
            })
            .collect()
    }

    #[test]
    fn a_ups_label_typed_on_a_us_layout_arrives_whole() {
        let events = type_line(KeyboardLayout::Us, "1Z999AA10123456784").unwrap();
        assert_eq!(codes_of(&assemble(KeyboardLayout::Us, &events)), ["1Z999AA10123456784"]);
    }

    #[test]
    fn decoding_with_the_wrong_layout_shows_the_classic_confusions() {
        let events = type_line(KeyboardLayout::Us, "A@B\"1y").unwrap();
        assert_eq!(codes_of(&assemble(KeyboardLayout::Uk, &events)), ["A\"B@1y"]);
        assert_eq!(codes_of(&assemble(KeyboardLayout::De, &events)), ["A\"BÄ1z"]);
        assert_eq!(codes_of(&assemble(KeyboardLayout::Fr, &events)), ["Q2B%&y"]);
    }

    #[test]
    fn ctrl_bracket_and_alt_keypad_029_both_type_fnc1() {
        let mut events = Vec::new();
        events.extend(
            type_line(KeyboardLayout::Us, "]C101")
                .unwrap()
                .into_iter()
                .filter(|(code, _)| *code != codes::KEY_ENTER),
        );
        events.extend([
            (codes::KEY_LEFTCTRL, KEY_PRESS),
            (27, KEY_PRESS),
            (27, KEY_RELEASE),
            (codes::KEY_LEFTCTRL, KEY_RELEASE),
        ]);
        events.extend([
            (codes::KEY_LEFTALT, KEY_PRESS),
            (82, KEY_PRESS),
            (82, KEY_RELEASE),
            (80, KEY_PRESS),
            (80, KEY_RELEASE),
        ]);
        events.extend([(73, KEY_PRESS), (73, KEY_RELEASE), (codes::KEY_LEFTALT, KEY_RELEASE)]);
        events.extend([(codes::KEY_ENTER, KEY_PRESS)]);
        let lines = assemble(KeyboardLayout::Us, &events);
        let [WedgeLine::Code(code)] = lines.as_slice() else {
            panic!("{lines:?}")
        };
        assert_eq!(code.code, "01\u{1d}\u{1d}");
        assert_eq!(code.symbology, Some(Symbology::Gs1_128));
    }

    #[test]
    fn repeats_are_ignored_and_empty_lines_are_not_codes() {
        let events = [
            (30, KEY_PRESS),
            (30, 2),
            (30, 2),
            (30, KEY_RELEASE),
            (codes::KEY_ENTER, KEY_PRESS),
            (codes::KEY_ENTER, KEY_PRESS),
        ];
        assert_eq!(codes_of(&assemble(KeyboardLayout::Us, &events)), ["a"]);
    }

    #[test]
    fn an_over_long_line_is_reported_and_the_next_one_decodes() {
        let config = ScannerConfig {
            max_len: 4,
            ..ScannerConfig::default()
        };
        let mut assembler = LineAssembler::new(KeyboardLayout::Us, WedgeTerminator::Enter, config);
        let mut events = type_line(KeyboardLayout::Us, "123456").unwrap();
        events.extend(type_line(KeyboardLayout::Us, "OK").unwrap());
        let lines: Vec<WedgeLine> = events
            .iter()
            .filter_map(|&(code, value)| assembler.key(code, value, 0))
            .collect();
        assert_eq!(
            codes_of(&lines),
            [
                "error: expected Enter within 4 bytes; dropped the line up to the next Enter",
                "OK"
            ]
        );
    }

    fn any_layout() -> impl Strategy<Value = KeyboardLayout> {
        prop_oneof![
            Just(KeyboardLayout::Us),
            Just(KeyboardLayout::Uk),
            Just(KeyboardLayout::De),
            Just(KeyboardLayout::Fr)
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn what_a_scanner_types_on_a_layout_decodes_on_that_layout(
            layout in any_layout(),
            text in "[A-Za-z0-9 !#$%&()*+,./:;<=>?@\\[\\]{}|_-]{1,40}",
        ) {
            let events = type_line(layout, &text);
            prop_assume!(events.is_some());
            let events = events.unwrap_or_default();
            let expected = vec![text.clone()];
            // AIM detection would eat a leading `]Xn`; turn it off to compare text exactly.
            let config = ScannerConfig { aim: crate::scanner::AimMode::Off, fnc1_substitutes: vec![], ..ScannerConfig::default() };
            let mut assembler = LineAssembler::new(layout, WedgeTerminator::Enter, config);
            let lines: Vec<WedgeLine> = events.iter().filter_map(|&(code, value)| assembler.key(code, value, 0)).collect();
            prop_assert_eq!(codes_of(&lines), expected);
        }

        #[test]
        fn any_key_events_never_panic(
            layout in any_layout(),
            events in prop::collection::vec((0u16..256, 0i32..3), 0..300),
        ) {
            let mut assembler = LineAssembler::new(layout, WedgeTerminator::EnterOrTab, ScannerConfig { max_len: 16, ..ScannerConfig::default() });
            for (code, value) in events {
                let _ = assembler.key(code, value, 0);
            }
        }
    }
}
