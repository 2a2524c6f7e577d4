//! Packs: many entries in one remote object, with an index of what it holds, so that a big push
//! or a clone costs a request per pack rather than per entry. This module holds the byte
//! formats (versioned; see docs/remote.md, "Packs"), the keys, and what a reader does with
//! them: download every pack (a clone), or find the packs holding given ids and read only the
//! part of each it lacks (an incremental pull). Nothing read is believed: a whole pack must hash
//! to its key, and every entry taken from a pack is checked as a loose object is.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::sync::{Arc, Mutex, mpsc};

use futures_util::StreamExt;
use ledger::EntryId;
use ledger::received::Received;
use ledger::store::ReceiveError;

use crate::{Remote, RemoteError, Written};

/// Bytes of entries after which a push or a repack starts a new pack: memory stays bounded, and
/// a million entries make a few dozen packs.
pub const PACK_TARGET_BYTES: usize = 16 << 20;
/// A push of at most this many entries writes them as loose objects, one request each (as
/// many as one round of parallel requests); a bigger one writes packs. See docs/remote.md.
pub const LOOSE_LIMIT: usize = 16;

const PACK_MAGIC: &[u8; 8] = b"LDGRPACK";
const INDEX_MAGIC: &[u8; 8] = b"LDGRIDX\0";
const FORMAT_VERSION: u8 = 1;
const PACK_HEADER: usize = 8 + 1 + 4;
const INDEX_HEADER: usize = 8 + 1 + 8 + 4;
/// A pack record: the entry's id, its length (u32 LE), its bytes.
const RECORD_HEADER: usize = 32 + 4;
const INDEX_RECORD: usize = 32 + 8 + 4;
/// Packs downloaded at once.
const PARALLEL_PACKS: usize = 4;
/// Threads that check downloaded packs, at most.
const MAX_CHECKERS: usize = 4;
/// Listings a reader takes before it gives up on a pack that keeps disappearing.
const LISTING_ATTEMPTS: usize = 3;

/// A pack's name: BLAKE3 of a domain tag and the pack's bytes, so a pack checks against its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PackId(pub [u8; 32]);

impl PackId {
    pub fn of_pack_bytes(bytes: &[u8]) -> PackId {
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"ledger pack v1\0");
        hasher.update(bytes);
        PackId(*hasher.finalize().as_bytes())
    }

    pub fn to_hex(&self) -> String {
        EntryId(self.0).to_hex()
    }

    pub fn from_hex(text: &str) -> Option<PackId> {
        EntryId::from_hex(text).map(|id| PackId(id.0))
    }
}

impl std::fmt::Display for PackId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Which file of a pack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PackPart {
    /// `packs/<id>.pack`: the entries.
    Pack,
    /// `packs/<id>.idx`: what the pack holds, and where. Written after the pack: a pack counts
    /// only once its index is there.
    Index,
}

/// The key of a pack file, built only from a pack id's hex.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PackKey {
    pub id: PackId,
    pub part: PackPart,
}

impl PackKey {
    pub fn pack(id: PackId) -> PackKey {
        PackKey { id, part: PackPart::Pack }
    }

    pub fn index(id: PackId) -> PackKey {
        PackKey { id, part: PackPart::Index }
    }

    /// `packs/<hex>.pack` or `packs/<hex>.idx`.
    pub fn key(&self) -> String {
        let extension = match self.part {
            PackPart::Pack => "pack",
            PackPart::Index => "idx",
        };
        format!("packs/{}.{extension}", self.id.to_hex())
    }

    /// The pack file a listed key names, if it is one (anything else under `packs/` is ignored).
    pub fn parse(key: &str) -> Option<PackKey> {
        let name = key.strip_prefix("packs/")?;
        let (hex, extension) = name.split_once('.')?;
        let part = match extension {
            "pack" => PackPart::Pack,
            "idx" => PackPart::Index,
            _ => return None,
        };
        Some(PackKey { id: PackId::from_hex(hex)?, part })
    }
}

/// A pack file as listed: its key and when it was written (Unix seconds: S3's LastModified, a
/// file's modification time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListedPackFile {
    pub key: PackKey,
    pub modified: i64,
}

/// Why a pack or an index cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FormatError(String);

/// Where an entry is in a pack: the offset of its record, and the length of its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexRecord {
    pub id: EntryId,
    pub offset: u64,
    pub len: u32,
}

impl IndexRecord {
    /// The bytes of the pack that hold this record.
    pub fn span(&self) -> Range<u64> {
        self.offset..self.offset + (RECORD_HEADER as u64) + u64::from(self.len)
    }
}

/// A pack's index, as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Index {
    pub pack_len: u64,
    /// In the pack's order.
    pub records: Vec<IndexRecord>,
}

/// A pack being filled: its bytes and its index.
pub struct PackBuilder {
    bytes: Vec<u8>,
    records: Vec<IndexRecord>,
}

impl Default for PackBuilder {
    fn default() -> PackBuilder {
        let mut bytes = Vec::with_capacity(PACK_TARGET_BYTES + PACK_TARGET_BYTES / 8);
        bytes.extend_from_slice(PACK_MAGIC);
        bytes.push(FORMAT_VERSION);
        bytes.extend_from_slice(&0u32.to_le_bytes());
        PackBuilder { bytes, records: Vec::new() }
    }
}

/// A finished pack: its id, its bytes and its index's bytes.
pub struct Pack {
    pub id: PackId,
    pub bytes: Vec<u8>,
    pub index: Vec<u8>,
    pub entries: usize,
}

impl PackBuilder {
    pub fn push(&mut self, id: EntryId, entry: &[u8]) {
        let len = u32::try_from(entry.len()).expect("an entry is far smaller than 4 GiB");
        self.records.push(IndexRecord { id, offset: self.bytes.len() as u64, len });
        self.bytes.extend_from_slice(&id.0);
        self.bytes.extend_from_slice(&len.to_le_bytes());
        self.bytes.extend_from_slice(entry);
    }

    /// Whether the pack holds enough to be sent.
    pub fn is_full(&self) -> bool {
        self.bytes.len() >= PACK_TARGET_BYTES
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn finish(mut self) -> Pack {
        let count = u32::try_from(self.records.len()).expect("a pack holds far fewer than 2^32 entries");
        self.bytes[9..13].copy_from_slice(&count.to_le_bytes());
        let mut index = Vec::with_capacity(INDEX_HEADER + self.records.len() * INDEX_RECORD);
        index.extend_from_slice(INDEX_MAGIC);
        index.push(FORMAT_VERSION);
        index.extend_from_slice(&(self.bytes.len() as u64).to_le_bytes());
        index.extend_from_slice(&count.to_le_bytes());
        for record in &self.records {
            index.extend_from_slice(&record.id.0);
            index.extend_from_slice(&record.offset.to_le_bytes());
            index.extend_from_slice(&record.len.to_le_bytes());
        }
        Pack { id: PackId::of_pack_bytes(&self.bytes), bytes: self.bytes, index, entries: self.records.len() }
    }
}

fn header(bytes: &[u8], magic: &[u8; 8], what: &str) -> Result<(), FormatError> {
    if bytes.len() < 9 || &bytes[..8] != magic {
        return Err(FormatError(format!("not a ledger {what}")));
    }
    if bytes[8] != FORMAT_VERSION {
        return Err(FormatError(format!(
            "{what} format {} (this ledger reads format 1; upgrade ledger)",
            bytes[8]
        )));
    }
    Ok(())
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("four bytes"))
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("eight bytes"))
}

/// The records of a whole pack: each entry's claimed id and its bytes (not yet checked).
pub fn parse_pack(bytes: &[u8]) -> Result<Vec<(EntryId, &[u8])>, FormatError> {
    header(bytes, PACK_MAGIC, "pack")?;
    if bytes.len() < PACK_HEADER {
        return Err(FormatError("the pack ends inside its header".into()));
    }
    let count = u32_at(bytes, 9) as usize;
    let records = parse_records(&bytes[PACK_HEADER..])?;
    if records.len() != count {
        return Err(FormatError(format!(
            "the pack says it holds {count} entries but holds {}",
            records.len()
        )));
    }
    Ok(records)
}

/// Whole records, one after the other (a pack without its header, or a range of records).
pub fn parse_records(mut bytes: &[u8]) -> Result<Vec<(EntryId, &[u8])>, FormatError> {
    let mut records = Vec::new();
    while !bytes.is_empty() {
        if bytes.len() < RECORD_HEADER {
            return Err(FormatError("a record is cut short".into()));
        }
        let id = EntryId(bytes[..32].try_into().expect("32 bytes"));
        let len = u32_at(bytes, 32) as usize;
        let end = RECORD_HEADER.checked_add(len).filter(|end| *end <= bytes.len());
        let end = end.ok_or_else(|| FormatError(format!("the record of {id} is cut short")))?;
        records.push((id, &bytes[RECORD_HEADER..end]));
        bytes = &bytes[end..];
    }
    Ok(records)
}

/// A pack's index: every record within the pack's length, in the pack's order.
pub fn parse_index(bytes: &[u8]) -> Result<Index, FormatError> {
    header(bytes, INDEX_MAGIC, "pack index")?;
    if bytes.len() < INDEX_HEADER {
        return Err(FormatError("the index ends inside its header".into()));
    }
    let pack_len = u64_at(bytes, 9);
    let count = u32_at(bytes, 17) as usize;
    let body = &bytes[INDEX_HEADER..];
    if body.len() != count.saturating_mul(INDEX_RECORD) {
        return Err(FormatError(format!(
            "the index says it lists {count} entries but is {} bytes long",
            bytes.len()
        )));
    }
    let mut records = Vec::with_capacity(count);
    let mut next = PACK_HEADER as u64;
    for chunk in body.chunks_exact(INDEX_RECORD) {
        let record = IndexRecord {
            id: EntryId(chunk[..32].try_into().expect("32 bytes")),
            offset: u64_at(chunk, 32),
            len: u32_at(chunk, 40),
        };
        if record.offset != next || record.span().end > pack_len {
            return Err(FormatError(format!("the index places {} outside the pack", record.id)));
        }
        next = record.span().end;
        records.push(record);
    }
    if next != pack_len {
        return Err(FormatError("the index does not cover the pack".into()));
    }
    Ok(Index { pack_len, records })
}

/// Why a pack could not be taken from the remote.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("{0}")]
    Remote(#[from] RemoteError),
    #[error("remote {url}: pack {pack} is corrupted or forged ({why}); nothing of it was stored")]
    Bad { url: String, pack: PackId, why: String },
}

fn bad(remote: &impl Remote, pack: PackId, why: impl std::fmt::Display) -> PackError {
    PackError::Bad { url: remote.url().into(), pack, why: why.to_string() }
}

/// The complete packs of a listing (those whose index is there too), newest first, with when
/// the index was written; and the other files (a pack without its index, an index without its
/// pack).
pub fn complete_packs(listed: &[ListedPackFile]) -> (Vec<(PackId, i64)>, Vec<ListedPackFile>) {
    let packs: BTreeSet<PackId> =
        listed.iter().filter(|file| file.key.part == PackPart::Pack).map(|file| file.key.id).collect();
    let indexes: BTreeSet<PackId> =
        listed.iter().filter(|file| file.key.part == PackPart::Index).map(|file| file.key.id).collect();
    let mut complete: Vec<(PackId, i64)> = listed
        .iter()
        .filter(|file| file.key.part == PackPart::Index && packs.contains(&file.key.id))
        .map(|file| (file.key.id, file.modified))
        .collect();
    complete.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
    let others = listed
        .iter()
        .filter(|file| !(packs.contains(&file.key.id) && indexes.contains(&file.key.id)))
        .copied()
        .collect();
    (complete, others)
}

/// Reads and checks the whole of pack `id`: it hashes to its key, parses, and its index (when
/// given) says exactly what it holds. `None` when the pack is gone.
pub async fn read_pack<R: Remote>(
    remote: &R,
    id: PackId,
    index: Option<&Index>,
) -> Result<Option<Vec<(EntryId, Vec<u8>)>>, PackError> {
    let Some(bytes) = remote.get_pack_file(&PackKey::pack(id), None).await? else { return Ok(None) };
    let records = checked_pack(id, &bytes, index).map_err(|why| bad(remote, id, why))?;
    Ok(Some(records.into_iter().map(|(id, bytes)| (id, bytes.to_vec())).collect()))
}

/// The records of pack `id`, once its bytes hash to its name and parse (and `index`, if
/// given, describes them); else why not.
fn checked_pack<'b>(
    id: PackId,
    bytes: &'b [u8],
    index: Option<&Index>,
) -> Result<Vec<(EntryId, &'b [u8])>, String> {
    if PackId::of_pack_bytes(bytes) != id {
        return Err("its bytes do not hash to its name".into());
    }
    let records = parse_pack(bytes).map_err(|error| error.to_string())?;
    if let Some(index) = index {
        let same = index.records.len() == records.len()
            && index
                .records
                .iter()
                .zip(&records)
                .all(|(a, (id, bytes))| a.id == *id && a.len as usize == bytes.len());
        if !same || index.pack_len != bytes.len() as u64 {
            return Err("its index does not describe it".into());
        }
    }
    Ok(records)
}

/// Reads and parses the index of pack `id`; `None` when it is gone.
pub async fn read_index<R: Remote>(remote: &R, id: PackId) -> Result<Option<Index>, PackError> {
    let Some(bytes) = remote.get_pack_file(&PackKey::index(id), None).await? else { return Ok(None) };
    parse_index(&bytes).map(Some).map_err(|error| bad(remote, id, format!("its index: {error}")))
}

/// Writes `pack`: the pack, then its index (a pack counts only once its index is there).
/// Either already there counts as written: the name is the hash of the content.
pub async fn write_pack<R: Remote>(remote: &R, pack: &Pack) -> Result<(), RemoteError> {
    for (key, bytes) in [(PackKey::pack(pack.id), &pack.bytes), (PackKey::index(pack.id), &pack.index)] {
        match remote.put_pack_file(&key, bytes).await? {
            Written::Done(_) | Written::Refused => {}
        }
    }
    Ok(())
}

/// An entry taken from a pack: checked (see [`Received::check`]), or why its bytes are not the
/// entry it is filed under. A bad entry is an error only for whoever takes it, as a bad loose
/// object is: nothing reaches it otherwise.
pub type Taken = Result<Received, Box<ReceiveError>>;

/// What a reader knows of the remote's packs: the listing it took, the indexes it read, and the
/// entries it downloaded, each checked, and has not handed out yet.
#[derive(Default)]
pub struct PackReader {
    /// Complete packs as last listed, newest first; `None` until listed.
    listed: Option<Vec<(PackId, i64)>>,
    indexes: BTreeMap<PackId, Index>,
    /// Where each id of the indexes read is.
    located: BTreeMap<EntryId, PackId>,
    /// Packs that were listed but could not be read: gone since (superseded and deleted).
    gone: BTreeSet<PackId>,
    downloaded: BTreeMap<EntryId, Taken>,
    listings: usize,
}

impl PackReader {
    /// An entry downloaded from a pack and not handed out yet.
    pub fn take(&mut self, id: &EntryId) -> Option<Taken> {
        self.downloaded.remove(id)
    }

    async fn list<R: Remote>(&mut self, remote: &R) -> Result<(), RemoteError> {
        self.listings += 1;
        let (complete, _) = complete_packs(&remote.list_pack_files().await?);
        self.listed = Some(complete);
        Ok(())
    }

    /// Lists the packs again, after a pack went missing: what replaced it is in the new listing.
    /// `false` when this reader has listed too often already.
    async fn list_again<R: Remote>(&mut self, remote: &R) -> Result<bool, RemoteError> {
        if self.listings >= LISTING_ATTEMPTS {
            return Ok(false);
        }
        self.list(remote).await?;
        Ok(true)
    }

    /// Downloads every pack the remote lists (a clone), checking each against its name and
    /// every entry in it (see [`Received::check`]) on other threads while the next packs
    /// download. A pack deleted since the listing (superseded by a repack) sends the reader to
    /// a new listing.
    pub async fn download_all<R: Remote>(
        &mut self,
        remote: &R,
        progress: &dyn crate::exchange::Progress,
    ) -> Result<(), PackError> {
        let mut done: BTreeSet<PackId> = BTreeSet::new();
        let mut checker = Checker::start();
        self.list(remote).await?;
        loop {
            let wanted: Vec<PackId> =
                self.listed.iter().flatten().map(|(id, _)| *id).filter(|id| !done.contains(id)).collect();
            progress.start("downloading packs", wanted.len());
            let mut answers = futures_util::stream::iter(wanted)
                .map(|id| async move { (id, remote.get_pack_file(&PackKey::pack(id), None).await) })
                .buffer_unordered(PARALLEL_PACKS);
            let mut missing = false;
            while let Some((id, answer)) = answers.next().await {
                match answer? {
                    Some(bytes) => {
                        done.insert(id);
                        checker.check(id, bytes);
                    }
                    None => missing = true,
                }
                // A bad pack ends the clone now, not once every pack is downloaded.
                checker.collect_ready(&mut self.downloaded).map_err(|(pack, why)| bad(remote, pack, why))?;
                progress.advance(1);
            }
            drop(answers);
            progress.finish();
            if !missing || !self.list_again(remote).await? {
                break;
            }
        }
        checker.collect_all(&mut self.downloaded).map_err(|(pack, why)| bad(remote, pack, why))
    }

    /// Downloads, from the packs, what of `wanted` they hold: reading indexes newest first until
    /// each is located, then, from each pack that holds some, one range: from its first entry
    /// this ledger lacks (`has` says which it has) to the last one wanted. Ids in no pack are
    /// left out (the caller says they are missing).
    pub async fn find<R: Remote>(
        &mut self,
        remote: &R,
        wanted: &[EntryId],
        has: impl Fn(&EntryId) -> bool,
    ) -> Result<(), PackError> {
        if self.listed.is_none() {
            self.list(remote).await?;
        }
        loop {
            let unlocated = |reader: &PackReader| wanted.iter().any(|id| !reader.located.contains_key(id));
            let unread: Vec<PackId> = self
                .listed
                .iter()
                .flatten()
                .map(|(id, _)| *id)
                .filter(|id| !self.indexes.contains_key(id) && !self.gone.contains(id))
                .collect();
            for pack in unread {
                if !unlocated(self) {
                    break;
                }
                match read_index(remote, pack).await? {
                    Some(index) => {
                        for record in &index.records {
                            self.located.entry(record.id).or_insert(pack);
                        }
                        self.indexes.insert(pack, index);
                    }
                    None => {
                        self.gone.insert(pack);
                    }
                }
            }
            let mut by_pack: BTreeMap<PackId, Vec<EntryId>> = BTreeMap::new();
            for id in wanted {
                if let Some(pack) = self.located.get(id)
                    && !self.downloaded.contains_key(id)
                {
                    by_pack.entry(*pack).or_default().push(*id);
                }
            }
            let mut vanished = false;
            for (pack, ids) in by_pack {
                if !self.read_range(remote, pack, &ids, &has).await? {
                    vanished = true;
                    self.gone.insert(pack);
                    self.located.retain(|_, holder| *holder != pack);
                }
            }
            if !vanished || !self.list_again(remote).await? {
                return Ok(());
            }
        }
    }

    /// Reads from `pack` the range that holds `ids` and what this ledger lacks before them;
    /// `false` when the pack is gone.
    async fn read_range<R: Remote>(
        &mut self,
        remote: &R,
        pack: PackId,
        ids: &[EntryId],
        has: &impl Fn(&EntryId) -> bool,
    ) -> Result<bool, PackError> {
        let index = &self.indexes[&pack];
        let ids: BTreeSet<&EntryId> = ids.iter().collect();
        let end = index.records.iter().filter(|r| ids.contains(&r.id)).map(|r| r.span().end).max();
        let Some(end) = end else { return Ok(true) };
        let start = index
            .records
            .iter()
            .find(|r| !has(&r.id) && !self.downloaded.contains_key(&r.id))
            .map_or(end, |r| r.offset)
            .min(end);
        let Some(bytes) = remote.get_pack_file(&PackKey::pack(pack), Some(start..end)).await? else {
            return Ok(false);
        };
        let records = parse_records(&bytes).map_err(|error| bad(remote, pack, error))?;
        for (id, bytes) in records {
            if !has(&id) {
                self.downloaded.entry(id).or_insert_with(|| check_entry(id, bytes));
            }
        }
        Ok(true)
    }
}

/// A pack checked on a checker thread: its entries, each checked; or the pack and why it is bad.
type CheckedPack = Result<Vec<(EntryId, Taken)>, (PackId, String)>;

/// Threads that check whole packs as they arrive (see [`checked_pack`], [`Received::check`]):
/// the pure, per-entry part of taking packs in, done beside the downloads and off the thread
/// that stores the entries afterwards.
struct Checker {
    /// Closed once every pack is sent: the threads end when the queue is empty.
    packs: Option<mpsc::Sender<(PackId, Vec<u8>)>>,
    checked: mpsc::Receiver<CheckedPack>,
    threads: Vec<std::thread::JoinHandle<()>>,
    /// Packs sent and not collected yet.
    pending: usize,
}

impl Checker {
    /// A thread per core but one (the one downloading, then storing), at least one.
    fn start() -> Checker {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let (packs, queue) = mpsc::channel::<(PackId, Vec<u8>)>();
        let (done, checked) = mpsc::channel();
        let queue = Arc::new(Mutex::new(queue));
        let threads = (0..cores.saturating_sub(1).clamp(1, MAX_CHECKERS))
            .map(|_| {
                let (queue, done) = (Arc::clone(&queue), done.clone());
                std::thread::spawn(move || {
                    loop {
                        // Held only while taking the next pack; a closed, empty queue ends it.
                        let next = queue.lock().map_or(None, |queue| queue.recv().ok());
                        let Some((pack, bytes)) = next else { return };
                        if done.send(check_whole_pack(pack, &bytes)).is_err() {
                            return;
                        }
                    }
                })
            })
            .collect();
        Checker { packs: Some(packs), checked, threads, pending: 0 }
    }

    fn check(&mut self, pack: PackId, bytes: Vec<u8>) {
        if let Some(packs) = &self.packs
            && packs.send((pack, bytes)).is_ok()
        {
            self.pending += 1;
        }
    }

    /// Adds to `downloaded` the entries of the packs checked so far; a bad pack is an error.
    fn collect_ready(&mut self, downloaded: &mut BTreeMap<EntryId, Taken>) -> Result<(), (PackId, String)> {
        while self.pending > 0 {
            let Ok(checked) = self.checked.try_recv() else { return Ok(()) };
            self.pending -= 1;
            add_checked(downloaded, checked?);
        }
        Ok(())
    }

    /// Waits for the packs still being checked, and adds their entries to `downloaded`.
    fn collect_all(mut self, downloaded: &mut BTreeMap<EntryId, Taken>) -> Result<(), (PackId, String)> {
        self.packs = None;
        while self.pending > 0 {
            match self.checked.recv() {
                Ok(checked) => {
                    self.pending -= 1;
                    add_checked(downloaded, checked?);
                }
                // Every thread ended with packs unchecked: one panicked, which is a bug; its
                // panic goes on here.
                Err(_) => self.join(),
            }
        }
        self.join();
        Ok(())
    }

    fn join(&mut self) {
        for thread in self.threads.drain(..) {
            if let Err(panic) = thread.join() {
                std::panic::resume_unwind(panic);
            }
        }
    }
}

impl Drop for Checker {
    /// An abandoned check (an error, or the download dropped) lets its threads end, unwaited.
    fn drop(&mut self) {
        self.packs = None;
    }
}

/// Pack `pack` checked against its name and parsed, and each of its entries checked.
fn check_whole_pack(pack: PackId, bytes: &[u8]) -> CheckedPack {
    let records = checked_pack(pack, bytes, None).map_err(|why| (pack, why))?;
    Ok(records.into_iter().map(|(id, bytes)| (id, check_entry(id, bytes))).collect())
}

fn check_entry(id: EntryId, bytes: &[u8]) -> Taken {
    Received::check(id, bytes.to_vec()).map_err(Box::new)
}

/// A checked copy of an entry is kept over one that is not (two packs may hold an entry).
fn add_checked(downloaded: &mut BTreeMap<EntryId, Taken>, entries: Vec<(EntryId, Taken)>) {
    for (id, taken) in entries {
        match downloaded.get_mut(&id) {
            Some(Ok(_)) => {}
            Some(bad) => *bad = taken,
            None => {
                downloaded.insert(id, taken);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: u8) -> Pack {
        let mut builder = PackBuilder::default();
        for i in 0..n {
            builder.push(EntryId([i; 32]), &vec![i; usize::from(i) + 1]);
        }
        builder.finish()
    }

    #[test]
    fn a_pack_and_its_index_round_trip() {
        let pack = sample(5);
        let records = parse_pack(&pack.bytes).unwrap();
        assert_eq!(records.len(), 5);
        assert_eq!(records[3], (EntryId([3; 32]), &[3u8; 4][..]));
        let index = parse_index(&pack.index).unwrap();
        assert_eq!(index.pack_len, pack.bytes.len() as u64);
        let span = index.records[2].span();
        let range = &pack.bytes[span.start as usize..span.end as usize];
        assert_eq!(parse_records(range).unwrap(), [(EntryId([2; 32]), &[2u8; 3][..])]);
        assert_eq!(pack.id, PackId::of_pack_bytes(&pack.bytes));
    }

    #[test]
    fn damaged_packs_and_indexes_are_errors_never_panics() {
        let pack = sample(4);
        for cut in 0..pack.bytes.len() {
            assert!(parse_pack(&pack.bytes[..cut]).is_err(), "cut at {cut}");
        }
        for cut in 0..pack.index.len() {
            assert!(parse_index(&pack.index[..cut]).is_err(), "cut at {cut}");
        }
        let mut newer = pack.bytes.clone();
        newer[8] = 2;
        assert!(parse_pack(&newer).unwrap_err().to_string().contains("upgrade"));
        let mut lying = pack.index.clone();
        let last = lying.len() - 5;
        lying[last] ^= 1;
        assert!(parse_index(&lying).is_err());
    }

    #[test]
    fn only_hex_names_are_pack_keys() {
        let id = PackId([0xab; 32]);
        assert_eq!(PackKey::pack(id).key(), format!("packs/{}.pack", "ab".repeat(32)));
        assert_eq!(PackKey::parse(&PackKey::index(id).key()), Some(PackKey::index(id)));
        for bad in ["packs/x.pack", "packs/../a.pack", &format!("packs/{}.tmp", "ab".repeat(32)), "packs/"] {
            assert_eq!(PackKey::parse(bad), None, "{bad}");
        }
    }
}
