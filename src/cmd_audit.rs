//! `hoptrail audit verify`: checks the hash chain of an audit log.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use hoptrail_query_api::audit_log;

pub fn verify(files: &[PathBuf], after: Option<&str>) -> Result<ExitCode> {
    let outcome = audit_log::verify(files, after).context("reading the audit log")?;
    match outcome {
        Ok(v) => {
            println!(
                "ok: {} lines in {} file(s), chain intact {}; tip {}",
                v.lines,
                files.len(),
                match after {
                    Some(tip) => format!("from tip {tip}"),
                    None => "from its beginning".to_owned(),
                },
                v.tip
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(broken) => {
            println!("broken: {broken}");
            Ok(ExitCode::from(1))
        }
    }
}
