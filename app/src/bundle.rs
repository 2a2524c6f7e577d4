//! `bundle create` and `bundle unbundle`: history carried between ledgers in a file, without a
//! remote (air-gapped machines, backups). A bundle is an export ([`crate::export`]) after one
//! header line, `{"ledger_bundle": 1, "project", "entries", "refs": {name: id}}`. Taking one in
//! checks every entry as a pull checks an object (its bytes against its id, their decoding, the
//! history of its ref, the manifest's rules and the signing policy) and every ref of the header
//! as a pull checks a remote's ref, all in one write transaction: a refused bundle leaves
//! nothing behind.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use ledger::admission;
use ledger::refs::RefName;
use ledger::store::{Reader, ReceiveError, Writer};
use ledger::{EntryId, Source, StoreError};
use ledger_remote::exchange::is_divergence;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::export::{read_line, write_lines};
use crate::json;
use crate::workspace::Workspace;

/// The bundle format this ledger writes and reads.
pub const FORMAT: u32 = 1;

/// A bundle's first line.
#[derive(Serialize, Deserialize)]
struct Header {
    ledger_bundle: u32,
    /// The `[project] id` of the ledger it was made from.
    project: String,
    /// How many entry lines follow: a bundle cut short is refused.
    entries: u64,
    /// The refs it carries: name → the id of the entry each names.
    refs: BTreeMap<String, String>,
}

/// What `bundle create` wrote.
pub struct Created {
    pub file: PathBuf,
    pub entries: u64,
    pub refs: Vec<(String, EntryId)>,
    /// `{"file", "entries", "refs": {name: id}}`.
    pub json: Value,
}

/// Writes to `file` a bundle of the history `refs` reach (every local ref when none are
/// given: remote-tracking refs are not carried). The file is written beside its final name and
/// renamed into place once complete; an existing file is replaced only when `replace` says so.
pub fn create(workspace: &Workspace, file: &Path, refs: &[String], replace: bool) -> Result<Created> {
    if file.is_dir() {
        return Err(Error::usage(format!("{} is a directory; give the bundle's file name", file.display())));
    }
    if file.exists() && !replace {
        return Err(Error::usage(format!("{} exists already; nothing was written", file.display()))
            .hint("--force replaces it; or choose another name"));
    }
    let store = workspace.open_store_for_reading()?;
    let reader = store.read()?;
    let heads = chosen_refs(&reader, refs)?;
    let seqs = reached(&reader, &heads)?;
    let header = Header {
        ledger_bundle: FORMAT,
        project: workspace.manifest.project.id.clone(),
        entries: seqs.len() as u64,
        refs: heads.iter().map(|(name, id)| (name.to_string(), id.to_hex())).collect(),
    };
    write_atomically(file, |out| {
        let writing = |error: std::io::Error| cannot_write(file, &error);
        let line = serde_json::to_string(&header).map_err(|error| Error::internal(error.to_string()))?;
        writeln!(out, "{line}").map_err(writing)?;
        let emit = |line: &str| out.write_all(line.as_bytes()).map_err(writing);
        let written = write_lines(workspace, &reader, seqs.iter().copied(), |_| true, emit)?;
        match written == header.entries {
            true => Ok(()),
            false => Err(Error::internal(format!("{written} entries written of {}", header.entries))),
        }
    })?;
    let refs: Vec<(String, EntryId)> = heads.into_iter().map(|(name, id)| (name.to_string(), id)).collect();
    let json = json!({"file": file.display().to_string(), "entries": seqs.len(), "refs": header.refs});
    Ok(Created { file: file.to_path_buf(), entries: seqs.len() as u64, refs, json })
}

/// The refs named (every local ref when none is), with their targets.
fn chosen_refs(reader: &Reader, names: &[String]) -> Result<Vec<(RefName, EntryId)>> {
    let local: Vec<(RefName, EntryId)> = reader
        .all_refs()?
        .into_iter()
        .filter_map(|(name, id)| Some((RefName::parse(&name)?, id)))
        .filter(|(name, _)| !name.is_tracking())
        .collect();
    if names.is_empty() {
        return Ok(local);
    }
    let mut chosen = Vec::new();
    for text in names {
        match local.iter().find(|(name, _)| name.as_str() == text) {
            Some(found) if !chosen.contains(found) => chosen.push(found.clone()),
            Some(_) => {}
            None => {
                let known: Vec<&str> = local.iter().map(|(name, _)| name.as_str()).collect();
                return Err(Error::not_found(format!(
                    "this ledger has no ref {text:?}; nothing was written"
                ))
                .hint(format!(
                    "its refs: {}",
                    if known.is_empty() { "none".into() } else { known.join(", ") }
                )));
            }
        }
    }
    Ok(chosen)
}

/// The positions of every entry `heads` reach (through parents and every other entry an entry
/// names), in recording order. One pass back from the newest head: an entry names only entries
/// recorded before it, so when the pass reaches a position, every entry that names it has been
/// seen. Only the positions waiting to be reached are held, besides the result.
fn reached(reader: &Reader, heads: &[(RefName, EntryId)]) -> Result<Vec<u64>> {
    let mut waiting = std::collections::BTreeSet::new();
    for (name, id) in heads {
        waiting.insert(position(reader, id, &|| format!("ref {name}"))?);
    }
    let mut reached = Vec::new();
    while let Some(seq) = waiting.pop_last() {
        let stored = reader.load(seq, None, &|| format!("entry #{seq}"))?;
        for named in stored.entry.references() {
            waiting.insert(position(reader, &named, &|| format!("entry {}", stored.id))?);
        }
        reached.push(seq);
    }
    reached.reverse();
    Ok(reached)
}

/// Where `id`, which `what` names, is stored; its absence is damage.
fn position(reader: &Reader, id: &EntryId, what: &dyn Fn() -> String) -> Result<u64> {
    reader.seq_of(id)?.ok_or_else(|| {
        Error::failed(format!("{} names {id}, which this ledger does not have", what()))
            .hint("`ledger verify` checks the whole ledger")
    })
}

/// Writes `file` through `write`: into a new file beside it, made durable, then renamed to
/// `file`, so that `file` is never seen half-written. On failure the new file is removed.
fn write_atomically(file: &Path, write: impl FnOnce(&mut BufWriter<File>) -> Result<()>) -> Result<()> {
    let name =
        file.file_name().ok_or_else(|| Error::usage(format!("{} is not a file name", file.display())))?;
    let dir = match file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(Error::usage(format!("{} is not a directory; nothing was written", dir.display())));
    }
    let temporary = dir.join(format!(".{}.{}.partial", name.to_string_lossy(), std::process::id()));
    let created = File::create_new(&temporary).map_err(|error| cannot_write(&temporary, &error))?;
    let written = (|| {
        let mut out = BufWriter::new(created);
        write(&mut out)?;
        let created = out.into_inner().map_err(|error| cannot_write(&temporary, error.error()))?;
        created.sync_all().map_err(|error| cannot_write(&temporary, &error))?;
        std::fs::rename(&temporary, file).map_err(|error| cannot_write(file, &error))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

fn cannot_write(file: &Path, error: &std::io::Error) -> Error {
    Error::failed(format!("cannot write {}: {error}", file.display()))
}

/// What `bundle unbundle` took in.
pub struct Unbundled {
    pub file: PathBuf,
    /// Entries taken in.
    pub entries: u64,
    /// Entries of the bundle this ledger had already.
    pub present: u64,
    /// Local refs moved, to their new targets.
    pub moved: Vec<(String, EntryId)>,
    /// `{"file", "entries", "present", "moved": [{"ref", "target"}]}`.
    pub json: Value,
}

/// Takes in the bundle (or bare export) `file`: every entry checked as a pull checks what it
/// downloads, every ref of its header checked as a pull checks a remote's, all in one write
/// transaction. Anything refused, and nothing is taken in.
pub fn unbundle(workspace: &Workspace, file: &Path) -> Result<Unbundled> {
    if file.is_dir() {
        return Err(Error::usage(format!("{} is a directory; give the bundle's file", file.display())));
    }
    let opened = File::open(file).map_err(|error| {
        Error::usage(format!("cannot read {}: {error}", file.display()))
            .hint("give the file `ledger bundle create` or `ledger export` wrote")
    })?;
    let mut lines = BufReader::new(opened).lines().enumerate().map(|(n, line)| (n + 1, line));
    let first = lines.next();
    let damaged = |n: usize, why: &str| damaged(file, n, why);
    let read = |(n, line): (usize, std::io::Result<String>)| {
        line.map(|line| (n, line)).map_err(|error| damaged(n, &format!("cannot be read ({error})")))
    };
    let first = first.map(read).transpose()?;
    let header = match &first {
        Some((n, text)) => read_header(workspace, file, *n, text)?,
        None => None,
    };
    let entry_lines = first.filter(|_| header.is_none()).into_iter().map(Ok).chain(lines.map(read));
    let store = workspace.open_store()?;
    let (entries, present, moved) = store.write(|w| {
        let before = local_refs(w)?;
        let (mut entries, mut present) = (0u64, 0u64);
        for line in entry_lines {
            let (n, text) = line?;
            if text.trim().is_empty() {
                continue;
            }
            match take_in_line(w, workspace, file, n, &text)? {
                true => entries += 1,
                false => present += 1,
            }
        }
        if let Some(carried) = &header {
            let found = entries + present;
            if found != carried.entries {
                let why = format!(
                    "the header says {} entries, the bundle holds {found}: it was cut short or altered",
                    carried.entries
                );
                return Err(damaged(found as usize + 2, &why));
            }
            for (name, target) in &carried.refs {
                admission::check_head(w, name, *target)
                    .map_err(|error| refused(workspace, file, 1, error))?;
            }
        }
        let after = local_refs(w)?;
        let moved: Vec<(String, EntryId)> =
            after.into_iter().filter(|(name, target)| before.get(name) != Some(target)).collect();
        Ok::<_, Error>((entries, present, moved))
    })?;
    let json = json!({
        "file": file.display().to_string(),
        "entries": entries,
        "present": present,
        "moved": json::moved_refs(&moved),
    });
    Ok(Unbundled { file: file.to_path_buf(), entries, present, moved, json })
}

/// Takes in export line `text`, line `n` of `file`: `true` when its entry is new here, `false`
/// when this ledger had it already.
fn take_in_line(
    w: &mut Writer<'_>,
    workspace: &Workspace,
    file: &Path,
    n: usize,
    text: &str,
) -> Result<bool> {
    let (received, kind) = read_line(text).map_err(|why| damaged(file, n, &why))?;
    let new = w.seq_of(&received.id())?.is_none();
    let stored = w.receive_checked(&received).map_err(|error| refused(workspace, file, n, error))?;
    let actual = stored.entry.kind().as_str();
    if actual != kind {
        let why = format!("entry {} is of kind {actual}, but the line says {kind}", stored.id);
        return Err(damaged(file, n, &why));
    }
    Ok(new)
}

/// Line `n` of bundle `file` is not what it should be.
fn damaged(file: &Path, n: usize, why: &str) -> Error {
    Error::failed(format!("{}, line {n}: {why}; nothing was taken in", file.display()))
        .hint("make the bundle again from the ledger it came from (`ledger bundle create`)")
}

/// What a bundle's header says follows it.
struct Carried {
    refs: Vec<(RefName, EntryId)>,
    entries: u64,
}

/// What bundle `file`'s header line `text` (line `n`) says follows it, once the header is
/// checked to be this project's; `None` when the line is an entry's (a bare export).
fn read_header(workspace: &Workspace, file: &Path, n: usize, text: &str) -> Result<Option<Carried>> {
    let value: Value = serde_json::from_str(text)
        .map_err(|error| damaged(file, n, &format!("not a bundle or an export ({error})")))?;
    if value.get("ledger_bundle").is_none() {
        return Ok(None);
    }
    let header: Header = serde_json::from_value(value)
        .map_err(|error| damaged(file, n, &format!("not a bundle header ({error})")))?;
    if header.ledger_bundle != FORMAT {
        return Err(Error::failed(format!(
            "{} is a bundle of format {}, this ledger reads format {FORMAT}",
            file.display(),
            header.ledger_bundle
        ))
        .hint("take it in with the version of ledger that made it, or a newer one"));
    }
    let project = &workspace.manifest.project.id;
    if header.project != *project {
        return Err(Error::usage(format!(
            "{} is a bundle of project {:?}, but {} says [project] id = {project:?}; nothing was taken in",
            file.display(),
            crate::text::inert(&header.project),
            workspace.manifest.path.display()
        ))
        .hint("check the file, and that ledger.toml (--manifest) is the project's you meant"));
    }
    let mut refs = Vec::new();
    for (name, id) in &header.refs {
        let parsed = RefName::parse(name).filter(|name| !name.is_tracking());
        let (Some(name), Some(id)) = (parsed, EntryId::from_hex(id)) else {
            let why = format!("the header's ref {name:?} is not a ref name with an entry id");
            return Err(damaged(file, n, &why));
        };
        refs.push((name, id));
    }
    Ok(Some(Carried { refs, entries: header.entries }))
}

/// Every local ref (not remote-tracking) and its target.
fn local_refs(w: &Writer<'_>) -> Result<BTreeMap<String, EntryId>, StoreError> {
    Ok(w.all_refs()?
        .into_iter()
        .filter(|(name, _)| RefName::parse(name).is_some_and(|n| !n.is_tracking()))
        .collect())
}

/// Why line `n` of bundle `file` was refused, with what to do: as a pull says it of a ref.
fn refused(workspace: &Workspace, file: &Path, n: usize, error: StoreError) -> Error {
    let hint = if is_divergence(&error) {
        let dir = workspace.ledger_dir.display();
        format!(
            "this ledger and the bundle's ledger both recorded there, and such histories never merge. To follow the bundle's history instead, set this ledger aside and take the bundle into a new one: `mv {dir} {dir}.diverged && ledger init && ledger bundle unbundle {}`; `ledger --ledger-dir {dir}.diverged log` still shows what only this ledger recorded",
            file.display()
        )
    } else {
        match &error {
            StoreError::Received(ReceiveError::MissingReference { .. }) => "the bundle lacks an entry it builds on (cut short or altered), or builds on history this ledger does not have (an export --since): take in the earlier history first",
            StoreError::Received(_) => "the bundle is corrupted or forged: make it again from the ledger it came from",
            _ => "the bundle's entries are held to this ledger.toml's rules, as a pull's are",
        }
        .to_string()
    };
    let mut error = Error::from(error).context(&format!("{}, line {n}: ", file.display()));
    error.message.push_str("; nothing was taken in");
    error.hint(hint)
}
