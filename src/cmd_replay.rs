//! `hoptrail replay`: a session as a terminal timeline, from a running server's replay endpoint.

use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde_json::Value;

pub struct ReplayArgs {
    pub session: String,
    pub server: String,
    pub key: String,
    pub speed: Option<f64>,
    pub from_event: Option<String>,
    pub ca_cert: Option<PathBuf>,
    pub colour: Option<bool>,
}

pub fn run(args: ReplayArgs) -> Result<ExitCode> {
    let colour = args.colour.unwrap_or_else(|| {
        std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none()
            && std::env::var("TERM").map_or(true, |t| t != "dumb")
    });
    let mut client = reqwest::blocking::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        // A paced replay may run for hours: only the connection has a deadline.
        .timeout(None);
    if let Some(path) = &args.ca_cert {
        let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        client = client.add_root_certificate(
            reqwest::Certificate::from_pem(&pem).context("--ca-cert: not a PEM certificate")?,
        );
    }
    let client = client.build()?;
    let base = args.server.trim_end_matches('/');
    let url = format!(
        "{base}/v1/sessions/{}/replay",
        utf8_percent_encode(&args.session)
    );
    let mut query: Vec<(&str, String)> = Vec::new();
    if let Some(s) = args.speed {
        query.push(("speed", s.to_string()));
    }
    if let Some(f) = &args.from_event {
        query.push(("from_event", f.clone()));
    }
    let response = client
        .get(&url)
        .query(&query)
        .bearer_auth(&args.key)
        .send()
        .with_context(|| format!("connecting to {base}"))?;
    let status = response.status();
    if !status.is_success() {
        let body: Value = response.json().unwrap_or(Value::Null);
        let message = body["error"]["message"].as_str().unwrap_or("no details");
        anyhow::bail!("{url}: {status}: {message}");
    }
    let truncated = response.headers().contains_key("x-hoptrail-truncated");
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{}",
        paint(colour, BOLD, &format!("session {}", args.session))
    )?;
    let mut events = 0u64;
    let mut last_id = String::new();
    for line in BufReader::new(response).lines() {
        let line = line.context("reading the replay")?;
        let json = match args.speed {
            None => line.as_str(),
            Some(_) => match line.strip_prefix("data: ") {
                Some(data) => data,
                None => continue,
            },
        };
        if json.is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(json).context("a replay line is not JSON")?;
        last_id = value["event_id"].as_str().unwrap_or_default().to_owned();
        writeln!(out, "{}", render(&value, colour))?;
        out.flush()?;
        events += 1;
    }
    writeln!(out, "{events} events")?;
    if truncated {
        writeln!(
            out,
            "(more events follow: hoptrail replay {} --from-event {last_id})",
            args.session
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

const BOLD: &str = "1";
const CYAN: &str = "36";
const RED: &str = "31";
const YELLOW: &str = "33";
const DIM: &str = "2";

fn paint(colour: bool, code: &str, text: &str) -> String {
    if colour {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

/// One timeline row (plus a row per alert): time, marker, system, tool or token step, outcome.
fn render(line: &Value, colour: bool) -> String {
    let event = &line["event"];
    let time = line["time"].as_str().unwrap_or("");
    let system = event["system"].as_str().unwrap_or("-");
    let (what, outcome) = if event["schema"] == "hoptrail.token_use.v1" {
        (
            format!("token {}", event["token"]["id"].as_str().unwrap_or("?")),
            event["action"].as_str().unwrap_or("").to_owned(),
        )
    } else {
        (
            event["tool"]["name"].as_str().unwrap_or("?").to_owned(),
            event["outcome"].as_str().unwrap_or("").to_owned(),
        )
    };
    let marker = match line["hop"]["index"].as_u64() {
        None => "       ".to_owned(),
        Some(0) => "▶ start".to_owned(),
        Some(i) => format!("⇢ hop {i}"),
    };
    let zone = line["hop"]["zone"].as_str().unwrap_or("");
    let mut row = format!(
        "{time}  {}  {:<28} {:<28} {}",
        if line["hop"].is_null() {
            paint(colour, DIM, &marker)
        } else {
            paint(colour, CYAN, &format!("{marker:<7}"))
        },
        system,
        what,
        match outcome.as_str() {
            "denied" | "error" | "revoked" => paint(colour, RED, &outcome),
            _ => outcome.clone(),
        }
    );
    if let Some(from) = line["hop"]["from"]
        .as_str()
        .filter(|_| line["hop"]["index"] != 0)
    {
        row.push_str(&paint(colour, DIM, &format!("  from {from}")));
    }
    if zone == "external" {
        row.push_str(&paint(colour, YELLOW, "  [external]"));
    }
    for alert in line["alerts"].as_array().into_iter().flatten() {
        let rule = alert["rule"].as_str().unwrap_or("?");
        let severity = alert["severity"].as_str().unwrap_or("");
        let title = alert["title"].as_str().unwrap_or("");
        row.push('\n');
        row.push_str(&paint(
            colour,
            RED,
            &format!("{:>30}! {rule} [{severity}] {title}", ""),
        ));
    }
    row
}

/// Percent-encodes a path segment (ids may hold `/`, `:` and spaces).
fn utf8_percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn line(hop: Value, alerts: Value) -> Value {
        json!({
            "seq": 3, "event_id": "e3", "time": "2026-11-30T09:00:03.000000Z", "hop": hop,
            "alerts": alerts,
            "event": {"schema": "hoptrail.tool_use.v1", "system": "api.notion.com",
                      "tool": {"name": "notion.export"}, "outcome": "denied"},
        })
    }

    #[test]
    fn a_hop_row_names_the_move_the_zone_and_each_alert() {
        let text = render(
            &line(
                json!({"index": 2, "from": "jira.corp", "to": "api.notion.com", "zone": "external"}),
                json!([{"rule": "boundary.first_external", "severity": "high", "title": "first external hop"}]),
            ),
            false,
        );
        assert!(text.contains("⇢ hop 2"), "{text}");
        assert!(text.contains("api.notion.com") && text.contains("notion.export"));
        assert!(text.contains("from jira.corp") && text.contains("[external]"));
        assert!(text.contains("! boundary.first_external [high] first external hop"));
        assert!(!text.contains('\x1b'), "no colour when asked for none");
    }

    #[test]
    fn colour_marks_hops_and_denials_only_when_enabled() {
        let text = render(
            &line(json!({"index": 1, "from": "a", "to": "b"}), json!([])),
            true,
        );
        assert!(text.contains("\x1b[36m") && text.contains("\x1b[31mdenied"));
    }

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(utf8_percent_encode("sess 1/2"), "sess%201%2F2");
        assert_eq!(utf8_percent_encode("agent:triage-bot"), "agent:triage-bot");
    }
}
