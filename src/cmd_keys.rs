//! `hoptrail keys`: API keys in the data directory `serve` uses.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};
use hoptrail_query_api::auth::{KeyFile, Role};

/// Creates a key and prints it once, alone on stdout's only line.
pub fn create(
    data_dir: &Path,
    tenant: &str,
    role: Role,
    name: Option<&str>,
    expires: Option<&str>,
) -> Result<ExitCode> {
    let now = Utc::now();
    let expires_at = expires.map(|e| parse_expiry(e, now)).transpose()?;
    let mut file = KeyFile::load_for_update(data_dir)?;
    let name = name
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{role}@{tenant}"));
    let (record, text) = file.create(tenant, role, &name, expires_at, now)?;
    file.save()?;
    eprintln!(
        "created key {} ({}) for tenant {:?}, role {}, expires {}; it is shown only this once:",
        record.id,
        record.name,
        record.tenant,
        record.role,
        record
            .expires_at
            .map_or_else(|| "never".to_owned(), |e| e.to_rfc3339()),
    );
    println!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// Lists keys without their secrets (which hoptrail does not have).
pub fn list(data_dir: &Path, json: bool) -> Result<ExitCode> {
    let file = KeyFile::load(data_dir)?;
    let now = Utc::now();
    if json {
        let rows: Vec<_> = file
            .keys()
            .iter()
            .map(|k| {
                serde_json::json!({
                    "id": k.id, "name": k.name, "tenant": k.tenant, "role": k.role,
                    "created_at": k.created_at, "expires_at": k.expires_at,
                    "revoked_at": k.revoked_at, "status": k.status(now),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<12}  {:<8}  {:<8}  {:<16}  {:<20}  {:<20}  NAME",
        "ID", "STATUS", "ROLE", "TENANT", "CREATED", "EXPIRES"
    );
    let short = |t: &DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    for k in file.keys() {
        println!(
            "{:<12}  {:<8}  {:<8}  {:<16}  {:<20}  {:<20}  {}",
            k.id,
            k.status(now),
            k.role,
            k.tenant,
            short(&k.created_at),
            k.expires_at.as_ref().map_or_else(|| "never".into(), short),
            k.name
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Revokes a key; a running `serve` refuses it from its next request.
pub fn revoke(data_dir: &Path, id: &str) -> Result<ExitCode> {
    let mut file = KeyFile::load_for_update(data_dir)?;
    let record = file.revoke(id, Utc::now())?.clone();
    file.save()?;
    eprintln!(
        "revoked key {} ({}, tenant {:?}, role {})",
        record.id, record.name, record.tenant, record.role
    );
    Ok(ExitCode::SUCCESS)
}

/// `90d`, `12h`, `30m`, or an RFC 3339 time.
fn parse_expiry(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let (n, unit) = text.split_at(text.len().saturating_sub(1));
    let n: i64 = n.parse().ok().filter(|n| *n > 0).with_context(|| {
        format!("--expires {text:?}: expected 90d, 12h, 30m or an RFC 3339 time")
    })?;
    let d = match unit {
        "d" => Duration::try_days(n),
        "h" => Duration::try_hours(n),
        "m" => Duration::try_minutes(n),
        _ => None,
    }
    .with_context(|| format!("--expires {text:?}: expected 90d, 12h, 30m or an RFC 3339 time"))?;
    now.checked_add_signed(d)
        .with_context(|| format!("--expires {text:?}: too far in the future"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_accepts_days_hours_minutes_and_timestamps() {
        let now = Utc::now();
        assert_eq!(parse_expiry("90d", now).unwrap(), now + Duration::days(90));
        assert_eq!(parse_expiry("12h", now).unwrap(), now + Duration::hours(12));
        assert_eq!(
            parse_expiry("30m", now).unwrap(),
            now + Duration::minutes(30)
        );
        assert_eq!(
            parse_expiry("2030-01-01T00:00:00Z", now)
                .unwrap()
                .to_rfc3339(),
            "2030-01-01T00:00:00+00:00"
        );
        for bad in ["", "d", "0d", "-1d", "3w", "soon", "99999999999999d"] {
            assert!(parse_expiry(bad, now).is_err(), "{bad}");
        }
    }
}
