//! Stored text made safe to show: whatever an entry carries (an actor, a message, an image, a
//! detail from ECS) may have come from a remote anyone with write access can fill, so before it
//! reaches a terminal its control characters and bidirectional overrides are made visible and
//! inert, as `cat -v`, git and less do. JSON documents carry the text exactly.

use std::borrow::Cow;

/// `text` with every control character but tab shown in caret notation (`^[`, `^M`, `^?`), and
/// every C1 control and bidirectional formatting character as `<U+202E>`.
pub fn inert(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_showing) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            c if !needs_showing(c) => shown.push(c),
            '\u{7f}' => shown.push_str("^?"),
            c if (c as u32) < 0x20 => {
                shown.push('^');
                shown.push(char::from(b'@' + c as u8));
            }
            c => shown.push_str(&format!("<U+{:04X}>", c as u32)),
        }
    }
    Cow::Owned(shown)
}

fn needs_showing(c: char) -> bool {
    (c.is_control() && c != '\t') || is_bidi_control(c)
}

/// The characters that reorder text on screen: marks, embeddings, overrides and isolates.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::inert;

    #[test]
    fn plain_text_is_left_as_it_is() {
        assert!(matches!(inert("Ship api 1.4 — für alle\tok"), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn controls_and_overrides_are_shown_not_obeyed() {
        assert_eq!(inert("\x1b]0;pwned\x07title"), "^[]0;pwned^Gtitle");
        assert_eq!(inert("a\x1b[2Jb\rc\x1b[8m"), "a^[[2Jb^Mc^[[8m");
        assert_eq!(inert("x\u{7f}y\u{85}z"), "x^?y<U+0085>z");
        assert_eq!(inert("admin\u{202E}gnp.exe"), "admin<U+202E>gnp.exe");
        assert_eq!(inert("\u{2066}a\u{2069}\n"), "<U+2066>a<U+2069>^J");
        assert!(!inert("\x00\x1f").chars().any(char::is_control));
    }
}
