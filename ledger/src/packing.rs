//! The physical form of an entry in the store's `entries` table: its canonical stored bytes,
//! or those bytes compressed against a fixed dictionary. What a read gives back is always the
//! canonical bytes, which are then re-hashed against the id that names them (`store::check`),
//! so the form changes nothing about ids. See docs/store.md ("Entries on disk").
//!
//! Forms, told apart by the first byte (the canonical bytes always start with
//! [`FORMAT_VERSION`]):
//!
//! - `0x01 …` or `0x02 …` (a signed entry): the canonical bytes as they are (every entry
//!   written before layout 2, and any entry that the dictionary would not make smaller);
//! - `0xd1 ++ kind ++ varint(length of the canonical bytes) ++ LZ4 block`: compressed with
//!   [`DICTIONARY_V1`]; `kind` is the entry's body variant (0 release, 1 release set,
//!   2 deployment, 3 outcome), so that scans for one kind unpack only that kind. That
//!   dictionary never changes: a better one gets a new first byte, and both stay readable
//!   forever.

use crate::entry::{Entry, EntryKind, FORMAT_VERSION, SIGNED_FORMAT_VERSION, read_varint};

/// The first byte of an entry compressed with [`DICTIONARY_V1`].
pub const PACKED_V1: u8 = 0xd1;

/// The largest entry a packed row may unpack to: a bound on what damaged bytes can make a
/// reader allocate. (An entry is a few hundred bytes; a release set of thousands of services
/// stays far below this.)
pub const MAX_UNPACKED_LEN: usize = 16 * 1024 * 1024;

/// What entries are compressed against: fragments that recur across entries but rarely
/// within one (postcard's field framing around them included), so that each entry's first
/// occurrence of them costs a 3-byte reference instead of its bytes. Fixed forever: its BLAKE3
/// is pinned by a test.
pub const DICTIONARY_V1: &[u8] = include_bytes!("dictionary-v1.bin");

/// A stored row that does not unpack to an entry: the row's bytes were damaged or altered.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum UnpackError {
    #[error("the row is empty")]
    Empty,
    #[error("its first byte {0:#04x} names no stored form this ledger knows")]
    UnknownForm(u8),
    #[error("it declares {0} unpacked bytes, more than an entry may have")]
    TooLong(u64),
    #[error("its kind byte says {0:?}, and it unpacks to another kind")]
    WrongKind(Option<EntryKind>),
    #[error("{0}")]
    Corrupt(String),
}

/// The kinds, numbered as in the packed form (and as `Body`'s variants).
const KINDS: [EntryKind; 4] =
    [EntryKind::Release, EntryKind::ReleaseSet, EntryKind::Deployment, EntryKind::Outcome];

/// The form `canonical` is kept in: compressed when that is smaller, else as it is.
pub fn pack(canonical: &[u8]) -> Vec<u8> {
    let Some(kind) = Entry::peek_kind(canonical).and_then(|kind| KINDS.iter().position(|k| *k == kind))
    else {
        return canonical.to_vec();
    };
    let compressed = lz4_flex::block::compress_with_dict(canonical, DICTIONARY_V1);
    let mut packed = Vec::with_capacity(compressed.len() + 5);
    packed.extend([PACKED_V1, kind as u8]);
    write_varint(&mut packed, canonical.len() as u64);
    packed.extend_from_slice(&compressed);
    if packed.len() < canonical.len() { packed } else { canonical.to_vec() }
}

/// The canonical bytes of a stored row, into `out` (whose contents are replaced). A buffer
/// reused across rows is only zeroed where it grows.
pub fn unpack_into(row: &[u8], out: &mut Vec<u8>) -> Result<(), UnpackError> {
    let (&form, rest) = row.split_first().ok_or(UnpackError::Empty)?;
    match form {
        FORMAT_VERSION | SIGNED_FORMAT_VERSION => {
            out.clear();
            out.extend_from_slice(row);
            Ok(())
        }
        PACKED_V1 => {
            let (&kind, mut rest) =
                rest.split_first().ok_or_else(|| UnpackError::Corrupt("it has no kind".into()))?;
            let len =
                read_varint(&mut rest).ok_or_else(|| UnpackError::Corrupt("it has no length".into()))?;
            let len_usize = usize::try_from(len).ok().filter(|len| *len <= MAX_UNPACKED_LEN);
            let len_usize = len_usize.ok_or(UnpackError::TooLong(len))?;
            // Every byte up to `len` is written when the block decodes to exactly `len` bytes.
            out.resize(len_usize, 0);
            let written = lz4_flex::block::decompress_into_with_dict(rest, out, DICTIONARY_V1)
                .map_err(|error| UnpackError::Corrupt(error.to_string()))?;
            if written != len_usize {
                return Err(UnpackError::Corrupt(format!(
                    "it gives {written} bytes, not the {len} it declares"
                )));
            }
            let kind = KINDS.get(usize::from(kind)).copied();
            if Entry::peek_kind(out).is_none_or(|unpacked| Some(unpacked) != kind) {
                return Err(UnpackError::WrongKind(kind));
            }
            Ok(())
        }
        other => Err(UnpackError::UnknownForm(other)),
    }
}

/// The kind of entry a stored row holds, read without unpacking it (a damaged row may say
/// another kind than it holds: unpacking it then refuses it).
pub fn peek_kind(row: &[u8]) -> Option<EntryKind> {
    match row.split_first()? {
        (&PACKED_V1, rest) => KINDS.get(usize::from(*rest.first()?)).copied(),
        _ => Entry::peek_kind(row),
    }
}

/// The canonical bytes of a stored row.
pub fn unpack(row: &[u8]) -> Result<Vec<u8>, UnpackError> {
    let mut out = Vec::new();
    unpack_into(row, &mut out)?;
    Ok(out)
}

fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}
