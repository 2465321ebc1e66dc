//! The audit log of the API itself. Invariant: every line carries the SHA-256 of the line before
//! it and of itself, so removing, inserting or editing a line breaks the chain at that line.
//!
//! A line is a JSON object whose last member is `"sha256"`: the SHA-256 of the same object
//! without that member (the text up to the `,"sha256"` and a closing brace). Its `prev` member is
//! the `sha256` of the line before, or 64 zeros on the first line. Lines are written with one
//! `write` each to a file opened for appending, so a `kill -9` loses none that were answered.
//! The chain proves integrity against anyone who cannot also rewrite every later line; anchor the
//! tip (`hoptrail audit verify` prints it) somewhere else to close that gap.
//!
//! Past a size bound the file is rotated: renamed to `<name>.<UTC time>` (names that sort in
//! time order) and a new one begun whose first line continues the chain, so the rotated files
//! and the current one verify as one chain, oldest first. Rotated files are never deleted here:
//! they are evidence, to be shipped or archived by the operator.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;
use sha2::{Digest, Sha256};

/// File name of the audit log inside the data directory.
pub const AUDIT_FILE: &str = "audit.jsonl";

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// `,"sha256":"` + 64 hex digits + `"}`.
const SUFFIX_LEN: usize = 11 + 64 + 2;

/// One API call.
#[derive(Debug, Serialize)]
pub struct AuditEntry<'a> {
    /// When the answer was sent, RFC 3339 UTC.
    pub time: &'a str,
    /// Id of the key used, if a valid one was presented.
    pub key_id: Option<&'a str>,
    /// Tenant of that key.
    pub tenant: Option<&'a str>,
    /// Client address, when known.
    pub client: Option<String>,
    /// HTTP method.
    pub method: &'a str,
    /// Route template (`/v1/agents/{agent_id}/path`), or `null` when no route matched.
    pub route: Option<&'a str>,
    /// Path as requested (carries the path parameters), percent-decoded, secrets redacted.
    pub path: &'a str,
    /// Query parameters, decoded, secrets redacted (an analyst may paste a token into `q`).
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Status answered.
    pub status: u16,
    /// How many results the answer held (events, hops, alerts), when it held any.
    pub result_count: Option<u64>,
    /// Time to answer.
    pub duration_ms: f64,
}

#[derive(Serialize)]
struct Chained<'a> {
    #[serde(flatten)]
    entry: &'a AuditEntry<'a>,
    prev: &'a str,
}

/// Errors of the audit log.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The file could not be opened, read or written.
    #[error("audit log {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The existing file does not end in a valid line, so the chain cannot be continued.
    #[error("audit log {path}: its last line is not a valid audit line ({message}); run `hoptrail audit verify` on it and move it aside")]
    BrokenTail {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

struct Tail {
    file: File,
    prev: String,
    line: Vec<u8>,
    /// Bytes in the current file.
    size: u64,
}

/// The append-only writer `serve` records into.
pub struct AuditLog {
    path: PathBuf,
    /// Rotate before a line would take the file past this; `None` never rotates.
    max_bytes: Option<u64>,
    tail: Mutex<Tail>,
}

fn open_for_append(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true).read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// The tip of the chain in `file`'s last line, or `None` for an empty file.
fn tip_of(path: &Path, file: &mut File) -> Result<Option<String>, AuditError> {
    let line = last_line(file).map_err(|source| AuditError::Io {
        path: path.to_owned(),
        source,
    })?;
    line.map(|line| {
        check_line(&line)
            .map(|(_, own)| own.to_owned())
            .map_err(|message| AuditError::BrokenTail {
                path: path.to_owned(),
                message,
            })
    })
    .transpose()
}

/// The files `path` was rotated into, oldest first.
pub fn rotated_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return Ok(Vec::new());
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!("{name}.");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if let Some(n) = entry.file_name().to_str() {
            if n.strip_prefix(&prefix).is_some_and(is_rotation_stamp) {
                found.push(entry.path());
            }
        }
    }
    found.sort();
    Ok(found)
}

/// `20261204T170900.123456Z`, optionally `-N` after it.
fn is_rotation_stamp(s: &str) -> bool {
    let stamp = s.split_once('-').map_or(s, |(stamp, n)| {
        if n.bytes().all(|b| b.is_ascii_digit()) {
            stamp
        } else {
            ""
        }
    });
    stamp.len() == 23
        && stamp.bytes().enumerate().all(|(i, b)| match i {
            8 => b == b'T',
            15 => b == b'.',
            22 => b == b'Z',
            _ => b.is_ascii_digit(),
        })
}

impl AuditLog {
    /// Opens (or creates) the log and continues the chain from its last line, or, when the file
    /// is empty, from the newest file it was rotated into (a crash may fall between the rename
    /// and the first line of the new file).
    pub fn open(path: &Path, max_bytes: Option<u64>) -> Result<AuditLog, AuditError> {
        let io = |source| AuditError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = open_for_append(path).map_err(io)?;
        let prev = match tip_of(path, &mut file)? {
            Some(tip) => tip,
            None => match rotated_files(path).map_err(io)?.pop() {
                Some(older) => {
                    let mut f = File::open(&older).map_err(|source| AuditError::Io {
                        path: older.clone(),
                        source,
                    })?;
                    tip_of(&older, &mut f)?.unwrap_or_else(|| GENESIS.to_owned())
                }
                None => GENESIS.to_owned(),
            },
        };
        let size = file.metadata().map_err(io)?.len();
        Ok(AuditLog {
            path: path.to_owned(),
            max_bytes: max_bytes.filter(|m| *m > 0),
            tail: Mutex::new(Tail {
                file,
                prev,
                line: Vec::with_capacity(512),
                size,
            }),
        })
    }

    /// Renames the current file aside and starts a new one; the chain goes on unchanged.
    fn rotate(&self, tail: &mut Tail) -> std::io::Result<PathBuf> {
        let name = self
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(AUDIT_FILE);
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ").to_string();
        let mut rotated = self.path.with_file_name(format!("{name}.{stamp}"));
        let mut n = 1;
        while rotated.exists() {
            rotated = self.path.with_file_name(format!("{name}.{stamp}-{n}"));
            n += 1;
        }
        std::fs::rename(&self.path, &rotated)?;
        tail.file = open_for_append(&self.path)?;
        tail.size = 0;
        Ok(rotated)
    }

    /// The file written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one entry to the chain.
    pub fn record(&self, entry: &AuditEntry<'_>) -> Result<(), AuditError> {
        let mut guard = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        let tail = &mut *guard;
        tail.line.clear();
        serde_json::to_writer(
            &mut tail.line,
            &Chained {
                entry,
                prev: tail.prev.as_str(),
            },
        )
        .map_err(|e| AuditError::Io {
            path: self.path.clone(),
            source: e.into(),
        })?;
        let own = hex::encode(Sha256::digest(&tail.line[..]));
        tail.line.pop(); // the closing brace, re-added after the digest
        tail.line.extend_from_slice(b",\"sha256\":\"");
        tail.line.extend_from_slice(own.as_bytes());
        tail.line.extend_from_slice(b"\"}\n");
        let len = tail.line.len() as u64;
        if self
            .max_bytes
            .is_some_and(|max| tail.size > 0 && tail.size + len > max)
        {
            match self.rotate(tail) {
                Ok(rotated) => {
                    tracing::info!(rotated = %rotated.display(), "audit log rotated; the chain continues in the new file")
                }
                // Lines keep going to the file that is open: losing none matters more than
                // the size bound. Try again after another bound's worth.
                Err(e) => {
                    tracing::error!(path = %self.path.display(), error = %e, "audit log rotation failed; still appending to the current file");
                    tail.size = 0;
                }
            }
        }
        tail.file
            .write_all(&tail.line)
            .map_err(|source| AuditError::Io {
                path: self.path.clone(),
                source,
            })?;
        tail.size += len;
        tail.prev = own;
        Ok(())
    }
}

/// Reads the last complete line of a file, if any.
fn last_line(file: &mut File) -> std::io::Result<Option<String>> {
    let len = file.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok(None);
    }
    // Audit lines are short (the query string is capped), so the last 64 KiB hold the last one.
    let start = len.saturating_sub(64 * 1024);
    file.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::new();
    file.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    let text = text.strip_suffix('\n').unwrap_or(&text);
    Ok(Some(text.rsplit('\n').next().unwrap_or(text).to_owned()))
}

/// Checks one line's own digest; returns its `prev` and its `sha256`.
fn check_line(line: &str) -> Result<(String, &str), String> {
    if line.len() < SUFFIX_LEN + 2 || !line.ends_with("\"}") {
        return Err("not an audit line".into());
    }
    let (head, suffix) = line.split_at(line.len() - SUFFIX_LEN);
    let own = suffix
        .strip_prefix(",\"sha256\":\"")
        .and_then(|s| s.strip_suffix("\"}"))
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or("no sha256 member at the end")?;
    let mut body = String::with_capacity(head.len() + 1);
    body.push_str(head);
    body.push('}');
    if hex::encode(Sha256::digest(body.as_bytes())) != own {
        return Err("its content does not match its sha256 (the line was altered)".into());
    }
    let value: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| format!("not JSON: {e}"))?;
    let prev = value
        .get("prev")
        .and_then(|p| p.as_str())
        .ok_or("no prev member")?
        .to_owned();
    Ok((prev, own))
}

/// A verified chain.
#[derive(Debug, PartialEq, Eq)]
pub struct Verified {
    /// Lines checked, in all files.
    pub lines: u64,
    /// `sha256` of the last line (anchor it elsewhere).
    pub tip: String,
}

/// Where and why a chain breaks.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: line {line}: {message}", file.display())]
pub struct ChainBreak {
    /// The file of the first line that fails.
    pub file: PathBuf,
    /// 1-based line number of that line in its file.
    pub line: u64,
    /// Why.
    pub message: String,
}

/// Checks every line of an audit log, and of the files it was rotated into, naming the first
/// broken line. `files` come oldest first, each continuing the one before. The first line of the
/// first file must follow `after` (the tip of an earlier file, anchored elsewhere) or, without
/// it, start the chain.
pub fn verify(
    files: &[PathBuf],
    after: Option<&str>,
) -> Result<Result<Verified, ChainBreak>, std::io::Error> {
    let mut prev = after.unwrap_or(GENESIS).to_ascii_lowercase();
    let mut total = 0u64;
    for (i, path) in files.iter().enumerate() {
        // The caller is handed several files: an error must say which one.
        let named =
            |e: std::io::Error| std::io::Error::new(e.kind(), format!("{}: {e}", path.display()));
        let reader = BufReader::new(File::open(path).map_err(named)?);
        let mut n = 0u64;
        let broken = |line: u64, message: String| {
            Ok(Err(ChainBreak {
                file: path.clone(),
                line,
                message,
            }))
        };
        for line in reader.split(b'\n') {
            let line = line.map_err(named)?;
            n += 1;
            let Ok(text) = std::str::from_utf8(&line) else {
                return broken(n, "not UTF-8".into());
            };
            let (stated_prev, own) = match check_line(text) {
                Ok(x) => x,
                Err(message) => return broken(n, message),
            };
            if stated_prev != prev {
                let message = match (n, i, after) {
                    (1, 0, None) => {
                        "prev is not the genesis value (lines were removed from the start, or this file was rotated out of an older one: give the older files first, or --after the older file's tip)".into()
                    }
                    (1, 0, Some(_)) => {
                        "prev is not the given tip (the file does not follow it)".into()
                    }
                    (1, _, _) => format!(
                        "prev does not match the last line of {} (a file or lines are missing between them)",
                        files[i - 1].display()
                    ),
                    _ => format!(
                        "prev does not match line {}'s sha256 (a line was removed or inserted before it)",
                        n - 1
                    ),
                };
                return broken(n, message);
            }
            prev = own.to_owned();
        }
        total += n;
    }
    Ok(Ok(Verified {
        lines: total,
        tip: prev,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(status: u16) -> AuditEntry<'static> {
        AuditEntry {
            time: "2026-12-04T01:00:00.000000Z",
            key_id: Some("0123456789ab"),
            tenant: Some("acme"),
            client: None,
            method: "GET",
            route: Some("/v1/events"),
            path: "/v1/events",
            params: serde_json::json!({"q": "agent.id:\"a\"", "limit": "5"})
                .as_object()
                .unwrap()
                .clone(),
            status,
            result_count: Some(5),
            duration_ms: 1.5,
        }
    }

    fn write_log(n: u16) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(AUDIT_FILE);
        let log = AuditLog::open(&path, None).unwrap();
        for i in 0..n {
            log.record(&entry(200 + i)).unwrap();
        }
        (dir, path)
    }

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn rewrite(path: &Path, lines: &[String]) {
        std::fs::write(path, lines.join("\n") + "\n").unwrap();
    }

    #[test]
    fn an_untouched_log_verifies_and_names_its_tip() {
        let (_d, path) = write_log(5);
        let v = verify(std::slice::from_ref(&path), None).unwrap().unwrap();
        assert_eq!(v.lines, 5);
        let last: serde_json::Value = serde_json::from_str(&lines(&path)[4]).unwrap();
        assert_eq!(last["sha256"], v.tip.as_str());
    }

    #[test]
    fn reopening_continues_the_same_chain() {
        let (_d, path) = write_log(3);
        let log = AuditLog::open(&path, None).unwrap();
        log.record(&entry(404)).unwrap();
        assert_eq!(
            verify(std::slice::from_ref(&path), None)
                .unwrap()
                .unwrap()
                .lines,
            4
        );
    }

    #[test]
    fn an_edited_line_is_named() {
        let (_d, path) = write_log(5);
        let mut l = lines(&path);
        l[2] = l[2].replace("\"status\":202", "\"status\":200");
        rewrite(&path, &l);
        let e = verify(std::slice::from_ref(&path), None)
            .unwrap()
            .unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        assert!(e.message.contains("altered"));
    }

    #[test]
    fn a_removed_line_breaks_the_chain_at_the_line_after_it() {
        let (_d, path) = write_log(5);
        let mut l = lines(&path);
        l.remove(1);
        rewrite(&path, &l);
        let e = verify(std::slice::from_ref(&path), None)
            .unwrap()
            .unwrap_err();
        assert_eq!(e.line, 2, "{e}");
    }

    #[test]
    fn a_line_rehashed_after_editing_still_breaks_the_next_line() {
        let (_d, path) = write_log(4);
        let mut l = lines(&path);
        // A forger recomputes line 2's own digest; line 3 still names the original.
        let head = &l[1][..l[1].len() - SUFFIX_LEN];
        let body = format!("{}}}", head.replace("\"status\":201", "\"status\":500"));
        let own = hex::encode(Sha256::digest(body.as_bytes()));
        l[1] = format!("{},\"sha256\":\"{own}\"}}", &body[..body.len() - 1]);
        rewrite(&path, &l);
        assert_eq!(
            verify(std::slice::from_ref(&path), None)
                .unwrap()
                .unwrap_err()
                .line,
            3
        );
    }

    #[test]
    fn a_truncated_last_line_refuses_to_continue_the_chain() {
        let (_d, path) = write_log(2);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, &text[..text.len() - 10]).unwrap();
        assert!(matches!(
            AuditLog::open(&path, None),
            Err(AuditError::BrokenTail { .. })
        ));
    }

    /// A log rotated past `max` bytes after `n` lines: every file, oldest first.
    fn rotated_log(n: u16, max: u64) -> (tempfile::TempDir, Vec<PathBuf>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(AUDIT_FILE);
        let log = AuditLog::open(&path, Some(max)).unwrap();
        for i in 0..n {
            log.record(&entry(200 + i)).unwrap();
        }
        let mut files = rotated_files(&path).unwrap();
        files.push(path);
        (dir, files)
    }

    #[test]
    fn a_rotated_log_is_one_chain_across_its_files_oldest_first() {
        let (_d, files) = rotated_log(12, 1200);
        assert!(files.len() >= 4, "{files:?}");
        for f in &files {
            let len = std::fs::metadata(f).unwrap().len();
            assert!(len <= 1200 && len > 0, "{} has {len} bytes", f.display());
        }
        let v = verify(&files, None).unwrap().unwrap();
        assert_eq!(v.lines, 12);
        let last: serde_json::Value =
            serde_json::from_str(&lines(files.last().unwrap()).pop().unwrap()).unwrap();
        assert_eq!(last["sha256"], v.tip.as_str());
    }

    #[test]
    fn a_rotated_file_alone_verifies_only_after_the_tip_of_the_one_before() {
        let (_d, files) = rotated_log(12, 1200);
        let current = files.last().unwrap().clone();
        let e = verify(std::slice::from_ref(&current), None)
            .unwrap()
            .unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.contains("genesis"), "{e}");
        let earlier = verify(&files[..files.len() - 1], None).unwrap().unwrap();
        let alone = verify(std::slice::from_ref(&current), Some(&earlier.tip))
            .unwrap()
            .unwrap();
        let whole = verify(&files, None).unwrap().unwrap();
        assert_eq!(alone.tip, whole.tip);
        assert_eq!(earlier.lines + alone.lines, whole.lines);
        let wrong = "ab".repeat(32);
        assert!(verify(std::slice::from_ref(&current), Some(&wrong))
            .unwrap()
            .is_err());
    }

    #[test]
    fn a_missing_rotated_file_breaks_the_chain_at_the_file_after_it() {
        let (_d, mut files) = rotated_log(12, 1200);
        let gone = files.remove(1);
        let e = verify(&files, None).unwrap().unwrap_err();
        assert_eq!((e.file.clone(), e.line), (files[1].clone(), 1), "{e}");
        assert!(
            e.message.contains("missing"),
            "{e} (removed {})",
            gone.display()
        );
    }

    #[test]
    fn reopening_after_a_crash_between_rotation_and_the_next_line_continues_the_chain() {
        let (_d, mut files) = rotated_log(12, 1200);
        let current = files.pop().unwrap();
        // As if the process died right after the rename: no current file yet.
        let renamed = current.with_file_name(format!("{AUDIT_FILE}.29991231T235959.000000Z"));
        std::fs::rename(&current, &renamed).unwrap();
        files.push(renamed);
        let log = AuditLog::open(&current, Some(1200)).unwrap();
        log.record(&entry(500)).unwrap();
        files.push(current);
        assert_eq!(verify(&files, None).unwrap().unwrap().lines, 13);
    }

    #[test]
    fn only_names_rotation_makes_are_taken_for_rotated_files() {
        assert!(is_rotation_stamp("20261204T170900.123456Z"));
        assert!(is_rotation_stamp("20261204T170900.123456Z-2"));
        for other in ["bak", "20261204T170900Z", "20261204T170900.123456Z-x", ""] {
            assert!(!is_rotation_stamp(other), "{other}");
        }
    }

    #[test]
    fn a_file_that_cannot_be_read_is_named() {
        let (dir, mut files) = rotated_log(3, 1200);
        files.insert(0, dir.path().join("audit.jsonl.missing"));
        let e = verify(&files, None).unwrap_err();
        assert!(e.to_string().contains("audit.jsonl.missing"), "{e}");
    }
}
