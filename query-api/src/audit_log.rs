//! The audit log of the API itself. Invariant: every line carries the SHA-256 of the line before
//! it and of itself, so removing, inserting or editing a line breaks the chain at that line.
//!
//! A line is a JSON object whose last member is `"sha256"`: the SHA-256 of the same object
//! without that member (the text up to the `,"sha256"` and a closing brace). Its `prev` member is
//! the `sha256` of the line before, or 64 zeros on the first line. Lines are written with one
//! `write` each to a file opened for appending, so a `kill -9` loses none that were answered.
//! The chain proves integrity against anyone who cannot also rewrite every later line; anchor the
//! tip (`hoptrail audit verify` prints it) somewhere else to close that gap.

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
}

/// The append-only writer `serve` records into.
pub struct AuditLog {
    path: PathBuf,
    tail: Mutex<Tail>,
}

impl AuditLog {
    /// Opens (or creates) the log and continues the chain from its last line.
    pub fn open(path: &Path) -> Result<AuditLog, AuditError> {
        let io = |source| AuditError::Io {
            path: path.to_owned(),
            source,
        };
        let mut options = OpenOptions::new();
        options.create(true).append(true).read(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(io)?;
        let prev = match last_line(&mut file).map_err(io)? {
            None => GENESIS.to_owned(),
            Some(line) => check_line(&line)
                .map(|(_, own)| own.to_owned())
                .map_err(|message| AuditError::BrokenTail {
                    path: path.to_owned(),
                    message,
                })?,
        };
        Ok(AuditLog {
            path: path.to_owned(),
            tail: Mutex::new(Tail {
                file,
                prev,
                line: Vec::with_capacity(512),
            }),
        })
    }

    /// The file written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one entry to the chain.
    pub fn record(&self, entry: &AuditEntry<'_>) -> Result<(), AuditError> {
        let mut tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        let Tail { file, prev, line } = &mut *tail;
        line.clear();
        serde_json::to_writer(
            &mut *line,
            &Chained {
                entry,
                prev: prev.as_str(),
            },
        )
        .map_err(|e| AuditError::Io {
            path: self.path.clone(),
            source: e.into(),
        })?;
        let own = hex::encode(Sha256::digest(&line[..]));
        line.pop(); // the closing brace, re-added after the digest
        line.extend_from_slice(b",\"sha256\":\"");
        line.extend_from_slice(own.as_bytes());
        line.extend_from_slice(b"\"}\n");
        file.write_all(line).map_err(|source| AuditError::Io {
            path: self.path.clone(),
            source,
        })?;
        *prev = own;
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
    /// Lines checked.
    pub lines: u64,
    /// `sha256` of the last line (anchor it elsewhere).
    pub tip: String,
}

/// Where and why a chain breaks.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ChainBreak {
    /// 1-based line number of the first line that fails.
    pub line: u64,
    /// Why.
    pub message: String,
}

/// Checks every line of an audit log, naming the first broken one.
pub fn verify(path: &Path) -> Result<Result<Verified, ChainBreak>, std::io::Error> {
    let reader = BufReader::new(File::open(path)?);
    let mut prev = GENESIS.to_owned();
    let mut n = 0u64;
    for line in reader.split(b'\n') {
        let line = line?;
        n += 1;
        let Ok(text) = std::str::from_utf8(&line) else {
            return Ok(Err(ChainBreak {
                line: n,
                message: "not UTF-8".into(),
            }));
        };
        let (stated_prev, own) = match check_line(text) {
            Ok(x) => x,
            Err(message) => return Ok(Err(ChainBreak { line: n, message })),
        };
        if stated_prev != prev {
            return Ok(Err(ChainBreak {
                line: n,
                message: if n == 1 {
                    "prev is not the genesis value (lines were removed from the start)".into()
                } else {
                    format!("prev does not match line {}'s sha256 (a line was removed or inserted before it)", n - 1)
                },
            }));
        }
        prev = own.to_owned();
    }
    Ok(Ok(Verified {
        lines: n,
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
        let log = AuditLog::open(&path).unwrap();
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
        let v = verify(&path).unwrap().unwrap();
        assert_eq!(v.lines, 5);
        let last: serde_json::Value = serde_json::from_str(&lines(&path)[4]).unwrap();
        assert_eq!(last["sha256"], v.tip.as_str());
    }

    #[test]
    fn reopening_continues_the_same_chain() {
        let (_d, path) = write_log(3);
        let log = AuditLog::open(&path).unwrap();
        log.record(&entry(404)).unwrap();
        assert_eq!(verify(&path).unwrap().unwrap().lines, 4);
    }

    #[test]
    fn an_edited_line_is_named() {
        let (_d, path) = write_log(5);
        let mut l = lines(&path);
        l[2] = l[2].replace("\"status\":202", "\"status\":200");
        rewrite(&path, &l);
        let e = verify(&path).unwrap().unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        assert!(e.message.contains("altered"));
    }

    #[test]
    fn a_removed_line_breaks_the_chain_at_the_line_after_it() {
        let (_d, path) = write_log(5);
        let mut l = lines(&path);
        l.remove(1);
        rewrite(&path, &l);
        let e = verify(&path).unwrap().unwrap_err();
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
        assert_eq!(verify(&path).unwrap().unwrap_err().line, 3);
    }

    #[test]
    fn a_truncated_last_line_refuses_to_continue_the_chain() {
        let (_d, path) = write_log(2);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, &text[..text.len() - 10]).unwrap();
        assert!(matches!(
            AuditLog::open(&path),
            Err(AuditError::BrokenTail { .. })
        ));
    }
}
