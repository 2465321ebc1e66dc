//! Properties over generated input: `decode` never panics, whatever the bytes, and the stored form
//! written by `encode_event` decodes back into the event it came from.

use std::sync::LazyLock;

use hoptrail_core::event::{
    Agent, Credential, Event, EventBody, Outcome, SessionRef, Task, Token, TokenAction, TokenUse,
    Tool, ToolUse, Trace,
};
use hoptrail_schemas::{encode_event, Decoder, TIME_MAX_US};
use proptest::prelude::*;
use serde_json::{Map, Value};

static D: LazyLock<Decoder> = LazyLock::new(Decoder::new);

/// JSON values without floats: serde_json's default float parsing is not guaranteed to read back
/// the exact f64 it wrote, which is a property of serde_json, not of this crate.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        "[a-z0-9 ]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Arbitrary JSON, floats and odd strings included, for the no-panic properties.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        prop::sample::select(vec![
            "hoptrail.tool_use.v1",
            "hoptrail.token_use.v1",
            "2026-12-03T21:53:17Z",
            "success",
            "revoked",
            "spiffe://a/b",
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "schema",
                    "event_id",
                    "time",
                    "tenant",
                    "agent",
                    "id",
                    "session_id",
                    "task",
                    "trace",
                    "trace_id",
                    "attributes",
                    "extra",
                    "system",
                    "tool",
                    "name",
                    "outcome",
                    "action",
                    "token",
                    "audience",
                    "actor",
                    "agent_id",
                    "password",
                    "x",
                ])
                .prop_map(str::to_owned),
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9._:@/-]{0,15}"
}

fn opt_id() -> impl Strategy<Value = Option<String>> {
    prop::option::of(id())
}

fn hex(len: usize) -> impl Strategy<Value = String> {
    prop::string::string_regex(&format!("[0-9a-f]{{{len}}}"))
        .expect("valid regex")
        .prop_map(|s| {
            if s.bytes().all(|b| b == b'0') {
                format!("1{}", &s[1..])
            } else {
                s
            }
        })
}

fn session_ref() -> impl Strategy<Value = SessionRef> {
    (id(), id()).prop_map(|(agent_id, session_id)| SessionRef {
        agent_id,
        session_id,
    })
}

/// Any instant a token time may hold: the same range as an event's `time`.
fn token_time_us() -> impl Strategy<Value = i64> {
    0..TIME_MAX_US
}

fn tool_use() -> impl Strategy<Value = EventBody> {
    (
        id(),
        opt_id(),
        (id(), opt_id(), prop::option::of(".{0,20}")),
        prop::option::of("[a-z]{1,5}://[a-z0-9/._-]{0,20}"),
        prop::option::of((id(), opt_id())),
        prop::sample::select(vec![Outcome::Success, Outcome::Denied, Outcome::Error]),
        prop::option::of(session_ref()),
    )
        .prop_map(
            |(
                system,
                zone,
                (name, server, operation),
                resource,
                credential,
                outcome,
                delegated_by,
            )| {
                EventBody::ToolUse(ToolUse {
                    system,
                    zone,
                    tool: Tool {
                        name,
                        server,
                        operation,
                    },
                    resource,
                    credential: credential.map(|(id, kind)| Credential { id, kind }),
                    outcome,
                    delegated_by,
                })
            },
        )
}

fn token_use() -> impl Strategy<Value = EventBody> {
    (
        prop::sample::select(TokenAction::ALL.to_vec()),
        (
            id(),
            opt_id(),
            opt_id(),
            prop::collection::vec(id(), 0..3),
            prop::collection::vec(id(), 0..3),
            prop::option::of(token_time_us()),
            prop::option::of(token_time_us()),
            opt_id(),
        ),
        opt_id(),
        opt_id(),
        opt_id(),
        prop::option::of(session_ref()),
    )
        .prop_map(|(action, t, system, zone, presenter, actor)| {
            let system = match (action, system) {
                (TokenAction::Revoked, s) => s,
                (_, s) => Some(s.unwrap_or_else(|| "sys".to_owned())),
            };
            EventBody::TokenUse(TokenUse {
                action,
                token: Token {
                    id: t.0,
                    issuer: t.1,
                    subject: t.2,
                    audience: t.3,
                    scopes: t.4,
                    issued_at_us: t.5,
                    expires_at_us: t.6,
                    parent_id: t.7,
                },
                system,
                zone,
                presenter,
                actor,
            })
        })
}

fn event() -> impl Strategy<Value = Event> {
    (
        (id(), 0..TIME_MAX_US, "[A-Za-z0-9._-]{1,64}", id()),
        (
            id(),
            prop::option::of("spiffe://[a-z0-9.-]{1,10}(/[A-Za-z0-9_-]{1,8}){0,3}"),
            opt_id(),
            opt_id(),
        ),
        prop::option::of((
            opt_id(),
            prop::collection::vec(id(), 0..3),
            prop::collection::vec(id(), 0..3),
        )),
        prop::option::of((
            prop::option::of(hex(32)),
            prop::option::of(hex(16)),
            prop::option::of(hex(16)),
        )),
        prop::collection::btree_map("[a-z_]{1,8}", json_value(), 0..5),
        prop::collection::btree_map("[a-z]{1,6}(\\.[a-z]{1,6})?", json_value(), 0..3),
        prop_oneof![tool_use(), token_use()],
    )
        .prop_map(
            |(
                (event_id, time_us, tenant, session_id),
                agent,
                task,
                trace,
                attributes,
                extra,
                body,
            )| Event {
                event_id,
                time_us,
                tenant,
                agent: Agent {
                    id: agent.0,
                    workload: agent.1,
                    on_behalf_of: agent.2,
                    name: agent.3,
                },
                session_id,
                task: task.map(|(id, declared_tools, declared_systems)| Task {
                    id,
                    declared_tools,
                    declared_systems,
                }),
                trace: trace.map(|(trace_id, span_id, parent_span_id)| Trace {
                    trace_id,
                    span_id,
                    parent_span_id,
                }),
                attributes: attributes.into_iter().collect::<Map<_, _>>(),
                extra: extra.into_iter().collect::<Map<_, _>>(),
                body,
            },
        )
}

fn encode(e: &Event) -> Vec<u8> {
    let mut out = String::new();
    encode_event(e, &mut out);
    out.into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decode_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = D.decode(&bytes);
    }

    #[test]
    fn decode_never_panics_on_arbitrary_json(v in any_json()) {
        let _ = D.decode(&serde_json::to_vec(&v).unwrap());
    }

    #[test]
    fn decode_never_panics_when_one_field_of_a_valid_record_is_replaced(
        e in event(),
        path in prop::sample::select(vec![
            "schema", "event_id", "time", "tenant", "agent", "agent.id", "agent.workload",
            "session_id", "task", "task.declared_tools", "trace", "trace.span_id", "attributes",
            "extra", "system", "tool", "tool.name", "outcome", "action", "token", "token.id",
            "token.audience", "token.issued_at", "actor", "delegated_by",
        ]),
        replacement in any_json(),
    ) {
        let mut v: Value = serde_json::from_slice(&encode(&e)).unwrap();
        let (parent, key) = match path.split_once('.') {
            Some((p, k)) => (Some(p), k),
            None => (None, path),
        };
        let target = match parent {
            Some(p) => v.get_mut(p),
            None => Some(&mut v),
        };
        if let Some(Value::Object(m)) = target {
            m.insert(key.to_owned(), replacement);
        }
        let _ = D.decode(&serde_json::to_vec(&v).unwrap());
    }

    #[test]
    fn encode_then_decode_round_trips(e in event()) {
        let stored = encode(&e);
        let d = match D.decode(&stored) {
            Ok(d) => d,
            Err(err) => return Err(TestCaseError::fail(format!("{err}: {}", String::from_utf8_lossy(&stored)))),
        };
        // Generated text can, rarely, look like a secret; then the stored event is the redacted one.
        if d.redactions.total() == 0 {
            prop_assert_eq!(&d.event, &e);
        }
        let again = D.decode(&encode(&d.event)).map_err(|err| TestCaseError::fail(err.to_string()))?;
        prop_assert_eq!(&again.event, &d.event);
        prop_assert_eq!(encode(&again.event), encode(&d.event));
    }
}
