//! Keyboard layouts for keyboard-wedge scanners: Linux key code + modifiers → character. Pure.
//!
//! A wedge scanner "types" each character by pressing the key that produces it on the keyboard
//! layout it is programmed for. The host must decode with the same layout, or `"` and `@` swap
//! (US vs UK), `y` and `z` swap (DE), and digits come out as `&é"'(` (FR AZERTY, where digits
//! need Shift). So the layout is configured per scanner, matching its programming.
//!
//! Key codes are the Linux input event codes (`KEY_A` = 30 …), which name physical positions on
//! a US keyboard whatever the layout. Dead keys (`´` on DE, `^` on FR) produce nothing here:
//! scanners do not send them for barcode characters. Keypad keys assume Num Lock on.

use serde::{Deserialize, Serialize};

/// A keyboard layout a scanner can emulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyboardLayout {
    #[default]
    Us,
    Uk,
    De,
    Fr,
}

/// Modifier state at the time of a key press.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Modifiers {
    pub shift: bool,
    /// AltGr (right Alt) on layouts that have it (UK, DE, FR).
    pub altgr: bool,
    pub caps_lock: bool,
}

/// Linux key codes used outside the character tables.
pub mod codes {
    pub const KEY_TAB: u16 = 15;
    pub const KEY_RIGHTBRACE: u16 = 27;
    pub const KEY_ENTER: u16 = 28;
    pub const KEY_LEFTCTRL: u16 = 29;
    pub const KEY_LEFTSHIFT: u16 = 42;
    pub const KEY_RIGHTSHIFT: u16 = 54;
    pub const KEY_LEFTALT: u16 = 56;
    pub const KEY_CAPSLOCK: u16 = 58;
    pub const KEY_KPENTER: u16 = 96;
    pub const KEY_RIGHTCTRL: u16 = 97;
    pub const KEY_RIGHTALT: u16 = 100;
}

/// One layout's rows: unshifted and shifted characters for consecutive key codes starting at
/// `first`. `\0` marks a dead key or a key that types nothing.
struct Row {
    first: u16,
    normal: &'static str,
    shifted: &'static str,
}

struct Layout {
    rows: [Row; 6],
    altgr: &'static [(u16, char)],
}

// Rows: 2–13 (digits), 16–27 (Q…), 30–41 (A…, and the key left of 1), 43 (the key by Enter),
// 44–53 (Z…), 86 (the extra ISO key by left Shift).
const US: Layout = Layout {
    rows: [
        Row {
            first: 2,
            normal: "1234567890-=",
            shifted: "!@#$%^&*()_+",
        },
        Row {
            first: 16,
            normal: "qwertyuiop[]",
            shifted: "QWERTYUIOP{}",
        },
        Row {
            first: 30,
            normal: "asdfghjkl;'`",
            shifted: "ASDFGHJKL:\"~",
        },
        Row {
            first: 43,
            normal: "\\",
            shifted: "|",
        },
        Row {
            first: 44,
            normal: "zxcvbnm,./",
            shifted: "ZXCVBNM<>?",
        },
        Row {
            first: 86,
            normal: "\\",
            shifted: "|",
        },
    ],
    altgr: &[],
};

const UK: Layout = Layout {
    rows: [
        Row {
            first: 2,
            normal: "1234567890-=",
            shifted: "!\"£$%^&*()_+",
        },
        Row {
            first: 16,
            normal: "qwertyuiop[]",
            shifted: "QWERTYUIOP{}",
        },
        Row {
            first: 30,
            normal: "asdfghjkl;'`",
            shifted: "ASDFGHJKL:@¬",
        },
        Row {
            first: 43,
            normal: "#",
            shifted: "~",
        },
        Row {
            first: 44,
            normal: "zxcvbnm,./",
            shifted: "ZXCVBNM<>?",
        },
        Row {
            first: 86,
            normal: "\\",
            shifted: "|",
        },
    ],
    altgr: &[(5, '€')],
};

const DE: Layout = Layout {
    rows: [
        Row {
            first: 2,
            normal: "1234567890ß\0",
            shifted: "!\"§$%&/()=?\0",
        },
        Row {
            first: 16,
            normal: "qwertzuiopü+",
            shifted: "QWERTZUIOPÜ*",
        },
        Row {
            first: 30,
            normal: "asdfghjklöä\0",
            shifted: "ASDFGHJKLÖÄ°",
        },
        Row {
            first: 43,
            normal: "#",
            shifted: "'",
        },
        Row {
            first: 44,
            normal: "yxcvbnm,.-",
            shifted: "YXCVBNM;:_",
        },
        Row {
            first: 86,
            normal: "<",
            shifted: ">",
        },
    ],
    altgr: &[
        (3, '²'),
        (4, '³'),
        (8, '{'),
        (9, '['),
        (10, ']'),
        (11, '}'),
        (12, '\\'),
        (16, '@'),
        (18, '€'),
        (27, '~'),
        (50, 'µ'),
        (86, '|'),
    ],
};

const FR: Layout = Layout {
    rows: [
        Row {
            first: 2,
            normal: "&é\"'(-è_çà)=",
            shifted: "1234567890°+",
        },
        Row {
            first: 16,
            normal: "azertyuiop\0$",
            shifted: "AZERTYUIOP\0£",
        },
        Row {
            first: 30,
            normal: "qsdfghjklmù²",
            shifted: "QSDFGHJKLM%\0",
        },
        Row {
            first: 43,
            normal: "*",
            shifted: "µ",
        },
        Row {
            first: 44,
            normal: "wxcvbn,;:!",
            shifted: "WXCVBN?./§",
        },
        Row {
            first: 86,
            normal: "<",
            shifted: ">",
        },
    ],
    altgr: &[
        (4, '#'),
        (5, '{'),
        (6, '['),
        (7, '|'),
        (9, '\\'),
        (10, '^'),
        (11, '@'),
        (12, ']'),
        (13, '}'),
        (18, '€'),
    ],
};

/// The character a key press types, or `None` (modifiers, dead keys, function keys).
pub fn key_to_char(layout: KeyboardLayout, code: u16, modifiers: Modifiers) -> Option<char> {
    if let Some(c) = keypad_or_space(code) {
        return Some(c);
    }
    let table = match layout {
        KeyboardLayout::Us => &US,
        KeyboardLayout::Uk => &UK,
        KeyboardLayout::De => &DE,
        KeyboardLayout::Fr => &FR,
    };
    if modifiers.altgr && layout != KeyboardLayout::Us {
        return table.altgr.iter().find(|(key, _)| *key == code).map(|(_, c)| *c);
    }
    let row = table
        .rows
        .iter()
        .find(|row| code >= row.first && usize::from(code - row.first) < row.normal.chars().count())?;
    let index = usize::from(code - row.first);
    let normal = row.normal.chars().nth(index)?;
    // Caps Lock shifts letters only (as on Linux consoles), never digits or punctuation.
    let shifted = modifiers.shift ^ (modifiers.caps_lock && normal.is_ascii_lowercase());
    let c = if shifted {
        row.shifted.chars().nth(index)?
    } else {
        normal
    };
    (c != '\0').then_some(c)
}

fn keypad_or_space(code: u16) -> Option<char> {
    Some(match code {
        57 => ' ',
        71 => '7',
        72 => '8',
        73 => '9',
        74 => '-',
        75 => '4',
        76 => '5',
        77 => '6',
        78 => '+',
        79 => '1',
        80 => '2',
        81 => '3',
        82 => '0',
        83 => '.',
        55 => '*',
        98 => '/',
        _ => return None,
    })
}

/// The digit a keypad key stands for (for Alt + keypad character codes).
pub fn keypad_digit(code: u16) -> Option<u32> {
    match keypad_or_space(code)? {
        c @ '0'..='9' => c.to_digit(10),
        _ => None,
    }
}

/// The key and modifiers that type `c` on `layout` (for tests and simulators): the inverse of
/// [`key_to_char`].
pub fn char_to_key(layout: KeyboardLayout, c: char) -> Option<(u16, Modifiers)> {
    let candidates = (1u16..=127).flat_map(|code| {
        [
            Modifiers::default(),
            Modifiers {
                shift: true,
                ..Modifiers::default()
            },
            Modifiers {
                altgr: true,
                ..Modifiers::default()
            },
        ]
        .into_iter()
        .map(move |modifiers| (code, modifiers))
    });
    candidates
        .filter(|(code, _)| keypad_or_space(*code).is_none() || *code == 57)
        .find(|(code, modifiers)| key_to_char(layout, *code, *modifiers) == Some(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIFT: Modifiers = Modifiers {
        shift: true,
        altgr: false,
        caps_lock: false,
    };
    const PLAIN: Modifiers = Modifiers {
        shift: false,
        altgr: false,
        caps_lock: false,
    };
    const ALTGR: Modifiers = Modifiers {
        shift: false,
        altgr: true,
        caps_lock: false,
    };
    const KEY_2: u16 = 3;
    const KEY_APOSTROPHE: u16 = 40;
    const KEY_Y: u16 = 21;
    const KEY_Z: u16 = 44;
    const KEY_Q: u16 = 16;
    const KEY_A: u16 = 30;

    #[test]
    fn quote_and_at_swap_between_us_and_uk() {
        assert_eq!(key_to_char(KeyboardLayout::Us, KEY_2, SHIFT), Some('@'));
        assert_eq!(key_to_char(KeyboardLayout::Uk, KEY_2, SHIFT), Some('"'));
        assert_eq!(key_to_char(KeyboardLayout::Us, KEY_APOSTROPHE, SHIFT), Some('"'));
        assert_eq!(key_to_char(KeyboardLayout::Uk, KEY_APOSTROPHE, SHIFT), Some('@'));
    }

    #[test]
    fn german_swaps_y_and_z_and_puts_at_on_altgr_q() {
        assert_eq!(key_to_char(KeyboardLayout::De, KEY_Y, PLAIN), Some('z'));
        assert_eq!(key_to_char(KeyboardLayout::De, KEY_Z, SHIFT), Some('Y'));
        assert_eq!(key_to_char(KeyboardLayout::De, KEY_Q, ALTGR), Some('@'));
        assert_eq!(key_to_char(KeyboardLayout::De, KEY_2, SHIFT), Some('"'));
    }

    #[test]
    fn azerty_needs_shift_for_digits_and_swaps_a_q_and_z_w() {
        assert_eq!(key_to_char(KeyboardLayout::Fr, KEY_2, PLAIN), Some('é'));
        assert_eq!(key_to_char(KeyboardLayout::Fr, KEY_2, SHIFT), Some('2'));
        assert_eq!(key_to_char(KeyboardLayout::Fr, KEY_Q, PLAIN), Some('a'));
        assert_eq!(key_to_char(KeyboardLayout::Fr, KEY_A, PLAIN), Some('q'));
        assert_eq!(key_to_char(KeyboardLayout::Fr, KEY_Z, PLAIN), Some('w'));
        assert_eq!(key_to_char(KeyboardLayout::Fr, 11, ALTGR), Some('@'));
    }

    #[test]
    fn caps_lock_shifts_letters_only() {
        let caps = Modifiers {
            caps_lock: true,
            ..PLAIN
        };
        assert_eq!(key_to_char(KeyboardLayout::Us, KEY_A, caps), Some('A'));
        assert_eq!(key_to_char(KeyboardLayout::Us, KEY_2, caps), Some('2'));
        assert_eq!(
            key_to_char(KeyboardLayout::Us, KEY_A, Modifiers { shift: true, ..caps }),
            Some('a')
        );
    }

    #[test]
    fn dead_keys_and_modifiers_type_nothing() {
        assert_eq!(key_to_char(KeyboardLayout::De, 13, PLAIN), None);
        assert_eq!(key_to_char(KeyboardLayout::Fr, 26, PLAIN), None);
        assert_eq!(key_to_char(KeyboardLayout::Us, codes::KEY_LEFTSHIFT, PLAIN), None);
        assert_eq!(key_to_char(KeyboardLayout::Us, 59, PLAIN), None, "F1");
    }

    #[test]
    fn every_printable_ascii_character_round_trips_on_every_layout_that_has_it() {
        for layout in [
            KeyboardLayout::Us,
            KeyboardLayout::Uk,
            KeyboardLayout::De,
            KeyboardLayout::Fr,
        ] {
            for c in (' '..='~').filter(|c| {
                !matches!(
                    (layout, c),
                    (KeyboardLayout::De, '`' | '^') | (KeyboardLayout::Fr, '~' | '`')
                )
            }) {
                let (code, modifiers) =
                    char_to_key(layout, c).unwrap_or_else(|| panic!("{layout:?} can not type {c:?}"));
                assert_eq!(key_to_char(layout, code, modifiers), Some(c));
            }
        }
    }
}
