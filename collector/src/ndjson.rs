//! NDJSON files into the index, without Kafka, through the same decoder and writer as the Kafka
//! source. Invariant: one bad line never stops the file; a line over the record size limit is
//! never held in memory whole.

use std::io::BufRead;

use hoptrail_indexer::{AddOutcome, EventWriter};
use hoptrail_schemas::{Decoder, RedactionCounts};

use crate::{Detection, Result};

/// Longest line read into memory; longer ones are rejected as too large while being skipped.
const MAX_LINE_BYTES: usize = 1 << 20;

/// How many line errors a report keeps verbatim.
const KEPT_ERRORS: usize = 20;

/// One rejected line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// The input's name (`-` for standard input).
    pub source: String,
    /// 1-based line number.
    pub line: u64,
    /// Why it was rejected.
    pub message: String,
}

/// Totals of an ingest run.
#[derive(Debug, Clone, Default)]
pub struct IngestReport {
    /// Non-blank lines read.
    pub lines: u64,
    /// Events added to the index.
    pub accepted: u64,
    /// Events already in the index.
    pub duplicates: u64,
    /// Lines rejected.
    pub rejected: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Secrets redacted.
    pub redactions: RedactionCounts,
    /// The first rejected lines.
    pub first_errors: Vec<LineError>,
}

/// Reads NDJSON from `input` into the writer, committing as the writer's policy says (with
/// `detection`, its alerts right after each event commit). The caller makes the final commits,
/// events first. `progress` is told the bytes read so far, now and then.
pub fn ingest_ndjson(
    source: &str,
    mut input: impl BufRead,
    writer: &mut EventWriter,
    mut detection: Option<&mut Detection>,
    decoder: &Decoder,
    report: &mut IngestReport,
    progress: &mut dyn FnMut(u64),
) -> Result<()> {
    let io_err = |e| crate::CollectorError::Io {
        path: source.to_owned(),
        source: e,
    };
    let mut line = Vec::with_capacity(4096);
    let mut line_no = 0u64;
    loop {
        line.clear();
        let (read, overflow) = read_line_capped(&mut input, &mut line).map_err(io_err)?;
        if read == 0 {
            break;
        }
        line_no += 1;
        report.bytes += read as u64;
        if line_no.is_multiple_of(4096) {
            progress(report.bytes);
            if writer.should_commit(std::time::Instant::now()) {
                writer.commit()?;
                if let Some(d) = detection.as_deref_mut() {
                    d.commit()?;
                }
            }
        }
        let record = trim_line(&line);
        if record.is_empty() && !overflow {
            continue;
        }
        report.lines += 1;
        let outcome = if overflow {
            Err(format!("record: larger than 1 MiB ({read} bytes)"))
        } else {
            match decoder.decode(record) {
                Ok(decoded) => {
                    report.redactions.add(decoded.redactions);
                    if let Some(d) = detection.as_deref_mut() {
                        d.observe(&decoded.event)?;
                    }
                    Ok(writer.add(&decoded.event)?)
                }
                Err(e) => Err(e.message),
            }
        };
        match outcome {
            Ok(AddOutcome::Added) => report.accepted += 1,
            Ok(AddOutcome::Duplicate) => report.duplicates += 1,
            Err(message) => {
                report.rejected += 1;
                if report.first_errors.len() < KEPT_ERRORS {
                    report.first_errors.push(LineError {
                        source: source.to_owned(),
                        line: line_no,
                        message,
                    });
                }
            }
        }
    }
    progress(report.bytes);
    Ok(())
}

fn trim_line(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    while end > 0 && matches!(line[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    let start = line[..end]
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(end);
    &line[start..end]
}

/// Reads one line (with its newline) into `buf`, keeping at most [`MAX_LINE_BYTES`] + 1 bytes.
/// Returns the bytes consumed and whether the line was longer than the cap.
fn read_line_capped(input: &mut impl BufRead, buf: &mut Vec<u8>) -> std::io::Result<(usize, bool)> {
    let mut consumed = 0;
    let mut line_len = 0usize;
    let mut overflow = false;
    loop {
        let chunk = match input.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok((consumed, overflow));
        }
        let (take, done) = match memchr_newline(chunk) {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        // Count the line's content (not its newline) against the cap, and keep nothing of a
        // line once it is over.
        line_len += if done { take - 1 } else { take };
        if line_len > MAX_LINE_BYTES {
            overflow = true;
            buf.clear();
        } else {
            buf.extend_from_slice(&chunk[..take]);
        }
        input.consume(take);
        consumed += take;
        if done {
            return Ok((consumed, overflow));
        }
    }
}

fn memchr_newline(chunk: &[u8]) -> Option<usize> {
    chunk.iter().position(|&b| b == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn a_line_longer_than_the_cap_is_flagged_and_the_next_line_still_reads() {
        let mut data = vec![b'x'; MAX_LINE_BYTES + 10];
        data.push(b'\n');
        data.extend_from_slice(b"{\"next\":1}\n");
        let mut input = Cursor::new(data);
        let mut buf = Vec::new();
        let (n, overflow) = read_line_capped(&mut input, &mut buf).unwrap();
        assert_eq!(n, MAX_LINE_BYTES + 11);
        assert!(overflow);
        buf.clear();
        let (_, overflow) = read_line_capped(&mut input, &mut buf).unwrap();
        assert!(!overflow);
        assert_eq!(trim_line(&buf), b"{\"next\":1}");
    }

    #[test]
    fn a_line_of_exactly_the_cap_is_not_flagged() {
        let mut data = vec![b'x'; MAX_LINE_BYTES];
        data.push(b'\n');
        let mut buf = Vec::new();
        let (_, overflow) = read_line_capped(&mut Cursor::new(data), &mut buf).unwrap();
        assert!(!overflow);
        assert_eq!(trim_line(&buf).len(), MAX_LINE_BYTES);
    }

    #[test]
    fn crlf_and_surrounding_blanks_are_trimmed() {
        assert_eq!(trim_line(b"  {}\r\n"), b"{}");
        assert_eq!(trim_line(b"\n"), b"");
    }
}
