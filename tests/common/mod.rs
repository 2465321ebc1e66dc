//! The end-to-end sandbox: a real Kafka-protocol broker (started by `scripts/test`), a real
//! `hoptrail` process on an ephemeral port, a real index directory, a real HTTP client.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message, OwnedMessage};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::{json, Value};

pub const TOOL: usize = 0;
pub const TOKEN: usize = 1;
pub const PARTITIONS: i32 = 3;

/// The broker `scripts/test` started. The suite refuses to pretend without one.
pub fn brokers() -> String {
    std::env::var("HOPTRAIL_TEST_BROKERS").unwrap_or_else(|_| {
        panic!("HOPTRAIL_TEST_BROKERS is not set: run the suite with scripts/test, which starts a Tansu broker")
    })
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// One test's private world: its own topics, consumer group and data directory.
pub struct Sandbox {
    pub brokers: String,
    pub prefix: String,
    pub topics: [String; 2],
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new(name: &str) -> Self {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let prefix = format!("{name}-{}-{n}", std::process::id());
        Sandbox {
            brokers: brokers(),
            topics: [format!("{prefix}.tool-use"), format!("{prefix}.token-use")],
            prefix,
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn dead_letter_topic(&self, i: usize) -> String {
        format!("{}.dlq", self.topics[i])
    }

    /// Writes the config file `serve` reads. Consumer timeouts are low because Tansu admits a
    /// group member only after `max.poll.interval.ms`.
    pub fn write_config(&self, commit_max_docs: usize) -> PathBuf {
        let path = self.dir.path().join("hoptrail.toml");
        let text = format!(
            r#"
[kafka]
group_id = "{prefix}"
topics = ["{t0}", "{t1}"]
create_topics = true
create_partitions = {PARTITIONS}
[kafka.consumer_properties]
"session.timeout.ms" = "6000"
"max.poll.interval.ms" = "6000"
"heartbeat.interval.ms" = "1000"
[index]
commit_interval_ms = 300
commit_max_docs = {commit_max_docs}
writer_threads = 2
writer_memory_mib = 64
"#,
            prefix = self.prefix,
            t0 = self.topics[0],
            t1 = self.topics[1],
        );
        std::fs::write(&path, text).expect("write config");
        path
    }

    pub fn start_hoptrail(&self, config: &Path) -> Server {
        // A property from the command line, as an operator would pass one.
        let client_id = format!("client.id={}", self.prefix);
        Server::start(&[
            "serve",
            "--brokers",
            &self.brokers,
            "--config",
            config.to_str().unwrap(),
            "--data-dir",
            self.data_dir().to_str().unwrap(),
            "--kafka-property",
            &client_id,
        ])
    }

    /// Produces NDJSON text with the real `hoptrail send`, configured by `config`.
    pub fn send_with_hoptrail(&self, config: &Path, ndjson: &str) {
        let file = self.dir.path().join("events.ndjson");
        std::fs::write(&file, ndjson).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_hoptrail"))
            .args(["send", file.to_str().unwrap(), "--brokers", &self.brokers])
            .args(["--config", config.to_str().unwrap()])
            .output()
            .expect("run hoptrail send");
        assert!(
            out.status.success(),
            "hoptrail send: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Produces records (topic index, key, payload) and waits for the broker's acknowledgement.
    pub fn produce(&self, records: &[Record]) {
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .set("linger.ms", "10")
            .create()
            .expect("producer");
        for r in records {
            let mut rec = BaseRecord::<str, [u8]>::to(&self.topics[r.topic]).payload(&r.payload);
            if let Some(k) = &r.key {
                rec = rec.key(k.as_str());
            }
            let mut rec = Some(rec);
            while let Some(x) = rec.take() {
                if let Err((_, back)) = producer.send(x) {
                    producer.poll(Duration::from_millis(10));
                    rec = Some(back);
                }
            }
            producer.poll(Duration::ZERO);
        }
        producer.flush(Duration::from_secs(60)).expect("flush");
    }

    /// Produces payloads, in order, to one partition of topic `topic`, waiting for the broker's
    /// acknowledgement; allows records up to 4 MiB so oversized ones reach the collector.
    pub fn produce_to_partition(&self, topic: usize, partition: i32, payloads: &[Vec<u8>]) {
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .set("linger.ms", "10")
            .set("message.max.bytes", (4 << 20).to_string())
            // One in flight keeps the partition's order exactly the order given.
            .set("max.in.flight.requests.per.connection", "1")
            .create()
            .expect("producer");
        for p in payloads {
            let mut rec = Some(
                BaseRecord::<str, [u8]>::to(&self.topics[topic])
                    .partition(partition)
                    .payload(p),
            );
            while let Some(x) = rec.take() {
                if let Err((_, back)) = producer.send(x) {
                    producer.poll(Duration::from_millis(10));
                    rec = Some(back);
                }
            }
            producer.poll(Duration::ZERO);
        }
        producer.flush(Duration::from_secs(60)).expect("flush");
    }

    /// Reads every record of a topic from the beginning until `expected` arrived or time ran out.
    pub fn read_all(&self, topic: &str, expected: usize, timeout: Duration) -> Vec<OwnedMessage> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .set("group.id", format!("{}-reader", self.prefix))
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let mut tpl = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .unwrap();
        }
        consumer.assign(&tpl).expect("assign");
        let mut out = Vec::new();
        let deadline = Instant::now() + timeout;
        while out.len() < expected && Instant::now() < deadline {
            match consumer.poll(Duration::from_millis(200)) {
                Some(Ok(m)) => out.push(m.detach()),
                Some(Err(e)) => eprintln!("dlq read: {e}"),
                None => {}
            }
        }
        // Anything beyond `expected` would be a duplicate dead letter: look a little longer.
        let linger = Instant::now() + Duration::from_millis(500);
        while Instant::now() < linger {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                out.push(m.detach());
            }
        }
        out
    }
}

#[derive(Clone)]
pub struct Record {
    pub topic: usize,
    pub key: Option<String>,
    pub payload: Vec<u8>,
}

/// A running `hoptrail` process, killed when dropped.
pub struct Server {
    child: Child,
    pub base: String,
    client: reqwest::blocking::Client,
    /// An admin key of tenant `default`, sent with every request of `get` and `get_text`.
    pub key: String,
    /// The server's stderr: kept when the test fails, removed when it passes.
    log: PathBuf,
}

/// Indexes NDJSON text with the real `hoptrail ingest` into `<dir>/data` and returns that
/// directory. Rejected lines are allowed (exit code 2): some tests feed them on purpose.
pub fn ingest(dir: &Path, ndjson: &str) -> PathBuf {
    let data = dir.join("data");
    let file = dir.join("events.ndjson");
    std::fs::write(&file, ndjson).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hoptrail"))
        .args([
            "ingest",
            "--data-dir",
            data.to_str().unwrap(),
            file.to_str().unwrap(),
        ])
        .output()
        .expect("run hoptrail ingest");
    assert!(
        out.status.code().is_some_and(|c| c == 0 || c == 2),
        "{out:?}"
    );
    data
}

/// Creates an API key with the real `hoptrail keys create` and returns the line it printed.
pub fn create_key(data_dir: &Path, tenant: &str, role: &str) -> String {
    create_key_with(data_dir, tenant, role, &[])
}

/// [`create_key`] with more `keys create` flags (e.g. `--expires`).
pub fn create_key_with(data_dir: &Path, tenant: &str, role: &str, extra: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_hoptrail"))
        .args(["keys", "--data-dir", data_dir.to_str().unwrap(), "create"])
        .args(["--tenant", tenant, "--role", role, "--name", "e2e"])
        .args(extra)
        .output()
        .expect("run hoptrail keys create");
    assert!(
        out.status.success(),
        "keys create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "keys create prints the key alone: {stdout:?}"
    );
    lines[0].to_owned()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    pub fn start(args: &[&str]) -> Server {
        Self::start_with(args, None)
    }

    /// Starts `hoptrail` with HTTPS: `tls_root` is the PEM certificate clients must trust.
    pub fn start_with(args: &[&str], tls_root: Option<&[u8]>) -> Server {
        let data_dir = args
            .iter()
            .position(|a| *a == "--data-dir")
            .map(|i| PathBuf::from(args[i + 1]))
            .expect("the sandbox always names a data directory");
        let key = create_key(&data_dir, "default", "admin");
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let log = std::env::temp_dir().join(format!("hoptrail-e2e-{port}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_hoptrail"))
            .args(args)
            .args(["--listen", &listen])
            .env("RUST_LOG", "info,rdkafka=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("spawn hoptrail");
        let mut client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(30));
        let base = match tls_root {
            None => format!("http://{listen}"),
            Some(pem) => {
                client = client
                    .use_rustls_tls()
                    .add_root_certificate(reqwest::Certificate::from_pem(pem).unwrap());
                format!("https://localhost:{port}")
            }
        };
        let server = Server {
            child,
            base,
            client: client.build().unwrap(),
            key,
            log,
        };
        server.wait_ready(Duration::from_secs(60));
        server
    }

    pub fn wait_ready(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(r) = self.client.get(format!("{}/readyz", self.base)).send() {
                if r.status().is_success() {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "hoptrail did not become ready");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        self.get_as(Some(&self.key), path)
    }

    /// A GET with the given key (or none), as JSON when the body is JSON.
    pub fn get_as(&self, key: Option<&str>, path: &str) -> (u16, Value) {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(k) = key {
            request = request.bearer_auth(k);
        }
        let r = request.send().expect("request");
        let status = r.status().as_u16();
        let text = r.text().expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// A GET with the given key and extra headers; returns status, headers and body.
    pub fn get_raw(
        &self,
        key: Option<&str>,
        path: &str,
    ) -> (u16, reqwest::header::HeaderMap, String) {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(k) = key {
            request = request.bearer_auth(k);
        }
        let r = request.send().expect("request");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        (status, headers, r.text().expect("body"))
    }

    pub fn get_text(&self, path: &str) -> (u16, String) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .send()
            .expect("request");
        (r.status().as_u16(), r.text().expect("body"))
    }

    pub fn total(&self) -> u64 {
        self.get("/v1/events?limit=1").1["total"]
            .as_u64()
            .unwrap_or(0)
    }

    /// Waits until the index holds `n` events; returns the last total seen.
    pub fn wait_total(&self, n: u64, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        loop {
            let t = self.total();
            if t >= n || Instant::now() >= deadline {
                return t;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Pages through every event (newest first) and returns their ids, in order.
    pub fn all_event_ids(&self) -> Vec<String> {
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/v1/events?limit=1000&cursor={c}"),
                None => "/v1/events?limit=1000".to_string(),
            };
            let (status, body) = self.get(&path);
            assert_eq!(status, 200, "{body}");
            for e in body["events"].as_array().unwrap() {
                ids.push(e["event_id"].as_str().unwrap().to_owned());
            }
            match body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return ids,
            }
        }
    }

    pub fn metric(&self, name_and_labels: &str) -> f64 {
        let (_, text) = self.get_text("/metrics");
        text.lines()
            .find_map(|l| {
                l.strip_prefix(name_and_labels)
                    .and_then(|v| v.trim().parse().ok())
            })
            .unwrap_or(0.0)
    }

    /// The exit status if the process has ended (crashed, or was stopped), else `None`.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill(); // SIGKILL on Unix
        let _ = self.child.wait();
    }

    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        self.child.wait().expect("wait")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("hoptrail's log: {}", self.log.display());
        } else {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// A deterministic mix of valid events of both kinds.
pub fn valid_events(prefix: &str, n: usize) -> Vec<(String, Record)> {
    (0..n)
        .map(|i| {
            let id = format!("{prefix}-ev-{i:06}");
            let agent = format!("agent-{}", i % 37);
            let systems = ["jira.corp", "github.com/acme", "aws:prod-123", "slack.com/acme", "api.notion.com"];
            let system = systems[i % systems.len()];
            let time = format!("2026-11-30T{:02}:{:02}:{:02}.{:06}Z", 8 + (i / 3600) % 12, (i / 60) % 60, i % 60, i * 7 % 1_000_000);
            let (topic, v) = if i % 7 == 3 {
                (TOKEN, json!({
                    "schema": "hoptrail.token_use.v1", "event_id": id, "time": time,
                    "agent": {"id": agent, "workload": format!("spiffe://acme.corp/agents/{}", i % 37)},
                    "session_id": format!("sess-{}", i % 101), "action": "presented",
                    "token": {"id": format!("tok-{}", i % 53), "scopes": ["read"]},
                    "system": system, "zone": if system == "api.notion.com" { "external" } else { "internal" },
                }))
            } else {
                (TOOL, json!({
                    "schema": "hoptrail.tool_use.v1", "event_id": id, "time": time,
                    "agent": {"id": agent, "on_behalf_of": "alice@acme.corp"},
                    "session_id": format!("sess-{}", i % 101), "system": system,
                    "tool": {"name": format!("tool.{}", i % 11), "server": "mcp"},
                    "outcome": if i % 13 == 0 { "denied" } else { "success" },
                    "credential": {"id": format!("tok-{}", i % 53)},
                    "attributes": {"n": i, "note": "routine call"},
                }))
            };
            (id, Record { topic, key: Some(agent), payload: serde_json::to_vec(&v).unwrap() })
        })
        .collect()
}

/// Records the collector must dead-letter, one per rejection reason, cycled to `n`.
pub fn invalid_records(prefix: &str, n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| {
            let id = format!("{prefix}-bad-{i:05}");
            let payload = match i % 8 {
                0 => br#"{"schema":"hoptrail.tool_use.v1","#.to_vec(),
                1 => format!(r#"{{"schema":"hoptrail.tool_use.v1","event_id":"{id}","time":"2026-11-30T10:00:00Z","agent":{{}},"session_id":"s","system":"x","tool":{{"name":"t"}},"outcome":"success"}}"#).into_bytes(),
                2 => format!(r#"{{"schema":"hoptrail.tool_use.v1","event_id":"{id}","time":"yesterday","agent":{{"id":"a"}},"session_id":"s","system":"x","tool":{{"name":"t"}},"outcome":"success"}}"#).into_bytes(),
                3 => format!(r#"{{"schema":"hoptrail.nope.v9","event_id":"{id}"}}"#).into_bytes(),
                4 => format!(r#"{{"schema":"hoptrail.tool_use.v1","event_id":"{id}","time":"2026-11-30T10:00:00Z","agent":{{"id":"a"}},"session_id":"s","system":"x","tool":{{"name":"t"}},"outcome":"maybe"}}"#).into_bytes(),
                5 => {
                    let mut v = format!(r#"{{"schema":"hoptrail.tool_use.v1","event_id":"{id}","attributes":"#).into_bytes();
                    v.extend(std::iter::repeat_n(b'[', 100));
                    v.extend(std::iter::repeat_n(b']', 100));
                    v.push(b'}');
                    v
                }
                6 => {
                    let mut v = format!(r#"{{"schema":"hoptrail.tool_use.v1","event_id":"{id}","x":""#).into_bytes();
                    v.extend_from_slice(&[0xff, 0xfe]);
                    v.extend_from_slice(b"\"}");
                    v
                }
                _ => b"[1,2,3]".to_vec(),
            };
            Record { topic: TOOL, key: None, payload }
        })
        .collect()
}

/// A header of a dead letter, as text; panics naming the header when it is missing.
pub fn header(m: &OwnedMessage, key: &str) -> String {
    m.headers()
        .and_then(|h| h.iter().find(|h| h.key == key))
        .and_then(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_else(|| panic!("missing header {key}"))
}

pub fn id_set(ids: &[String]) -> BTreeSet<String> {
    ids.iter().cloned().collect()
}
