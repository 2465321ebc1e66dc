//! `hoptrail audit verify`: checks the hash chain of an audit log.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use hoptrail_query_api::audit_log;

pub fn verify(file: &Path) -> Result<ExitCode> {
    let outcome = audit_log::verify(file).with_context(|| format!("reading {}", file.display()))?;
    match outcome {
        Ok(v) => {
            println!("ok: {} lines, chain intact; tip {}", v.lines, v.tip);
            Ok(ExitCode::SUCCESS)
        }
        Err(broken) => {
            println!("broken: {}: {broken}", file.display());
            Ok(ExitCode::from(1))
        }
    }
}
