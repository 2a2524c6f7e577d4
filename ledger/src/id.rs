//! Entry ids: BLAKE3 over a domain tag and the exact stored bytes, shown as hex.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Domain tag hashed before an entry's stored bytes. Part of the id scheme: never change it.
pub const ENTRY_DOMAIN: &[u8] = b"ledger entry v1\0";

/// The shortest prefix accepted when resolving an id typed by a user.
pub const MIN_PREFIX_LEN: usize = 4;

/// The content address of an entry.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EntryId(pub [u8; 32]);

impl EntryId {
    /// The id of an entry whose stored bytes (version byte included) are `stored`.
    pub fn of_stored_bytes(stored: &[u8]) -> EntryId {
        let mut hasher = blake3::Hasher::new();
        hasher.update(ENTRY_DOMAIN);
        hasher.update(stored);
        EntryId(*hasher.finalize().as_bytes())
    }

    pub fn to_hex(&self) -> String {
        let mut out = String::with_capacity(64);
        for byte in self.0 {
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
        out
    }

    /// The first `len` hex digits, as shown in tables.
    pub fn short(&self) -> String {
        self.to_hex()[..12].to_string()
    }

    /// Parses a full 64-digit id.
    pub fn from_hex(text: &str) -> Option<EntryId> {
        let prefix = HexPrefix::parse(text)?;
        if prefix.len != 64 {
            return None;
        }
        Some(EntryId(prefix.low))
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EntryId({})", self.short())
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A hex prefix of an id, as the inclusive range of ids it covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HexPrefix {
    pub low: [u8; 32],
    pub high: [u8; 32],
    pub len: usize,
}

impl HexPrefix {
    /// Parses 1 to 64 hex digits (either case). Callers enforce [`MIN_PREFIX_LEN`].
    pub fn parse(text: &str) -> Option<HexPrefix> {
        if text.is_empty() || text.len() > 64 {
            return None;
        }
        let mut low = [0u8; 32];
        let mut high = [0xffu8; 32];
        for (i, c) in text.bytes().enumerate() {
            let nibble = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => return None,
            };
            let byte = i / 2;
            if i % 2 == 0 {
                low[byte] = nibble << 4;
                high[byte] = (nibble << 4) | 0x0f;
            } else {
                low[byte] |= nibble;
                high[byte] = low[byte];
            }
        }
        Some(HexPrefix { low, high, len: text.len() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let id = EntryId::of_stored_bytes(b"\x01abc");
        assert_eq!(EntryId::from_hex(&id.to_hex()), Some(id));
        assert_eq!(EntryId::from_hex(&id.to_hex().to_uppercase()), Some(id));
        assert_eq!(EntryId::from_hex(&id.to_hex()[..63]), None);
    }

    #[test]
    fn prefix_range_covers_exactly_the_prefix() {
        let p = HexPrefix::parse("a1b").unwrap();
        assert_eq!(p.low[..2], [0xa1, 0xb0]);
        assert_eq!(p.high[..2], [0xa1, 0xbf]);
        assert!(p.high[2..].iter().all(|b| *b == 0xff));
        assert!(HexPrefix::parse("a1g").is_none());
        assert!(HexPrefix::parse("").is_none());
    }
}
