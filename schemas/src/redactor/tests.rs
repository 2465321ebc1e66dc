//! Every secret kind has a positive case and a near miss here; markers are stable and final.

use super::*;
use proptest::prelude::*;
use serde_json::json;
use std::sync::LazyLock;

static R: LazyLock<Redactor> = LazyLock::new(Redactor::new);

// Secret-shaped fixtures are assembled at run time so the source holds no literal token that a
// secret scanner (or a reader) would take for a real one.
fn jwt() -> String {
    [
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9",
        "eyJzdWIiOiJhZ2VudC0xIiwiaWF0IjoxNTE2MjM5MDIyfQ",
        "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    ]
    .join(".")
}
fn aws_key_id() -> String {
    format!("AKIA{}", "IOSFODNN7EXAMPLE")
}
fn aws_secret() -> String {
    format!("wJalrXUtnFEMI/K7MDENG/{}", "bPxRfiCYEXAMPLEKEY")
}
fn ghp() -> String {
    format!("ghp_{}", "1234567890abcdefghijABCDEFGHIJ123456")
}
fn github_pat() -> String {
    format!("github_pat_{}", "A1b2C3d4E5_".repeat(7) + "abcde")
}
fn slack() -> String {
    format!(
        "xox{}-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
        "b"
    )
}
fn pem() -> String {
    format!(
        "-----BEGIN RSA {k}-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\nKUpRKfFLfRYC9AIKjbJTWit+CqvjWYzvQwECAwEAAQ==\n-----END RSA {k}-----",
        k = "PRIVATE KEY"
    )
}
/// base64("agent:hunter2")
const BASIC_CRED: &str = "YWdlbnQ6aHVudGVyMg==";

fn redact(s: &str) -> (String, RedactionCounts) {
    let mut c = RedactionCounts::default();
    let out = R.redact_str(s, &mut c).into_owned();
    (out, c)
}

fn marker(kind: SecretKind, secret: &str) -> String {
    let mut m = String::new();
    push_marker(&mut m, kind, secret);
    m
}

fn assert_untouched(s: &str) {
    let mut c = RedactionCounts::default();
    let out = R.redact_str(s, &mut c);
    assert!(matches!(out, Cow::Borrowed(_)), "{s:?} became {out:?}");
    assert_eq!(c.total(), 0);
}

#[test]
fn marker_is_kind_and_first_12_hex_of_sha256() {
    // sha256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
    assert_eq!(
        marker(SecretKind::Jwt, "abc"),
        "[REDACTED:jwt:ba7816bf8f01]"
    );
    assert!(is_marker("[REDACTED:jwt:ba7816bf8f01]"));
    assert!(!is_marker("[REDACTED:nope:ba7816bf8f01]"));
    assert!(!is_marker("[REDACTED:jwt:BA7816BF8F01]"));
}

#[test]
fn jwt_is_redacted() {
    let (out, c) = redact(&format!("token={} end", jwt()));
    assert_eq!(
        out,
        format!("token={} end", marker(SecretKind::Jwt, &jwt()))
    );
    assert_eq!(c.get(SecretKind::Jwt), 1);
}

#[test]
fn unsigned_jwt_with_empty_signature_is_redacted() {
    let t = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.";
    assert_eq!(redact(t).0, marker(SecretKind::Jwt, t));
}

#[test]
fn eyj_alone_or_one_segment_is_not_a_jwt() {
    assert_untouched("eyJ");
    assert_untouched("the prefix eyJ starts every JWT");
    assert_untouched("eyJhbGciOiJIUzI1NiJ9");
    assert_untouched("eyJhbGciOiJIUzI1NiJ9.");
}

#[test]
fn aws_access_key_id_is_redacted() {
    for prefix in ["AKIA", "ASIA", "AGPA", "AIDA", "AROA"] {
        let id = format!("{prefix}IOSFODNN7EXAMPLE");
        let (out, c) = redact(&format!("key {id}, please"));
        assert_eq!(
            out,
            format!("key {}, please", marker(SecretKind::AwsAccessKeyId, &id))
        );
        assert_eq!(c.get(SecretKind::AwsAccessKeyId), 1);
    }
}

#[test]
fn aws_access_key_id_near_misses_are_kept() {
    assert_untouched("AKIAIOSFODNN7EXAMPL"); // 15 after the prefix
    assert_untouched("AKIAIOSFODNN7EXAMPLEX"); // 17: part of a longer word
    assert_untouched("akiaiosfodnn7example");
    assert_untouched("XAKIAIOSFODNN7EXAMPLE");
}

#[test]
fn aws_secret_key_is_redacted_by_inline_context() {
    let s = aws_secret();
    for text in [
        format!("aws_secret_access_key={s}"),
        format!("AWS_SECRET_ACCESS_KEY = {s}"),
        format!(r#"{{"SecretAccessKey": "{s}"}}"#),
        format!(r#"{{\"SecretAccessKey\":\"{s}\"}}"#),
        format!("export MY_AWS_SECRET_ACCESS_KEY='{s}'"),
    ] {
        let (out, c) = redact(&text);
        assert!(
            out.contains(&marker(SecretKind::AwsSecretAccessKey, &s)),
            "{text} -> {out}"
        );
        assert!(!out.contains(&s), "{out}");
        assert_eq!(c.get(SecretKind::AwsSecretAccessKey), 1, "{text}");
    }
}

#[test]
fn aws_secret_key_is_redacted_by_key_name() {
    let r = &*R;
    let mut c = RedactionCounts::default();
    let mut v =
        json!({"aws_secret_access_key": aws_secret(), "nested": {"SecretAccessKey": aws_secret()}});
    r.redact_value(&mut v, &mut c);
    let m = marker(SecretKind::AwsSecretAccessKey, &aws_secret());
    assert_eq!(
        v,
        json!({"aws_secret_access_key": m, "nested": {"SecretAccessKey": m}})
    );
    assert_eq!(c.get(SecretKind::AwsSecretAccessKey), 2);
}

#[test]
fn bare_40_char_strings_such_as_git_shas_are_kept() {
    assert_untouched("da39a3ee5e6b4b0d3255bfef95601890afd80709");
    assert_untouched("commit da39a3ee5e6b4b0d3255bfef95601890afd80709 on main");
    assert_untouched(&aws_secret());
    let r = &*R;
    let mut c = RedactionCounts::default();
    let mut v = json!({"commit": "da39a3ee5e6b4b0d3255bfef95601890afd80709", "blob": aws_secret()});
    let before = v.clone();
    r.redact_value(&mut v, &mut c);
    assert_eq!(v, before);
}

#[test]
fn github_tokens_are_redacted() {
    for t in [
        ghp(),
        ghp().replacen("ghp_", "gho_", 1),
        ghp().replacen("ghp_", "ghu_", 1),
        ghp().replacen("ghp_", "ghs_", 1),
        ghp().replacen("ghp_", "ghr_", 1),
        github_pat(),
    ] {
        let (out, c) = redact(&format!("GITHUB_TOKEN={t}"));
        assert_eq!(
            out,
            format!("GITHUB_TOKEN={}", marker(SecretKind::GithubToken, &t))
        );
        assert_eq!(c.get(SecretKind::GithubToken), 1);
    }
}

#[test]
fn github_token_near_misses_are_kept() {
    assert_untouched(&ghp()[..39]); // 35 characters after the prefix
    assert_untouched("ghx_1234567890abcdefghijABCDEFGHIJ123456");
    assert_untouched(&github_pat()[..80]);
}

#[test]
fn slack_tokens_are_redacted() {
    for t in [
        slack(),
        slack().replacen("xoxb", "xoxp", 1),
        slack().replacen("xoxb", "xoxa", 1),
        slack().replacen("xoxb", "xoxr", 1),
        slack().replacen("xoxb", "xoxs", 1),
        slack().replacen("xoxb", "xapp", 1),
    ] {
        let (out, c) = redact(&format!("slack: {t}"));
        assert_eq!(
            out,
            format!("slack: {}", marker(SecretKind::SlackToken, &t))
        );
        assert_eq!(c.get(SecretKind::SlackToken), 1);
    }
}

#[test]
fn slack_near_misses_are_kept() {
    assert_untouched("xoxb-short");
    assert_untouched("xoxz-1234567890-abcdef");
    assert_untouched("the xoxb- prefix marks bot tokens");
}

#[test]
fn pem_private_key_block_is_redacted_whole() {
    let text = format!("key:\n{}\ntrailer", pem());
    let (out, c) = redact(&text);
    assert_eq!(
        out,
        format!("key:\n{}\ntrailer", marker(SecretKind::PrivateKey, &pem()))
    );
    assert_eq!(c.get(SecretKind::PrivateKey), 1);
}

#[test]
fn truncated_pem_private_key_is_redacted_to_the_end() {
    let truncated = &pem()[..60];
    let (out, _) = redact(&format!("x {truncated}"));
    assert_eq!(
        out,
        format!("x {}", marker(SecretKind::PrivateKey, truncated))
    );
}

#[test]
fn other_pem_private_key_labels_are_redacted() {
    for label in ["", "EC ", "OPENSSH ", "ENCRYPTED "] {
        let block = pem().replace("RSA ", label);
        let (out, c) = redact(&block);
        assert_eq!(out, marker(SecretKind::PrivateKey, &block), "{label}");
        assert_eq!(c.total(), 1);
    }
}

#[test]
fn pem_public_key_and_certificate_are_kept() {
    assert_untouched("-----BEGIN PUBLIC KEY-----\nMFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAKj34GkxFhD9\n-----END PUBLIC KEY-----");
    assert_untouched("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----");
}

#[test]
fn bearer_credential_is_redacted_and_scheme_kept() {
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let (out, c) = redact(&format!("Authorization: {scheme} abc123def456ghi789"));
        assert_eq!(
            out,
            format!(
                "Authorization: {scheme} {}",
                marker(SecretKind::BearerAuth, "abc123def456ghi789")
            )
        );
        assert_eq!(c.get(SecretKind::BearerAuth), 1);
    }
}

#[test]
fn bearer_jwt_counts_once_as_jwt_with_the_bare_jwt_marker() {
    let (out, c) = redact(&format!("Bearer {}", jwt()));
    assert_eq!(out, format!("Bearer {}", marker(SecretKind::Jwt, &jwt())));
    assert_eq!(c.total(), 1);
    assert_eq!(c.get(SecretKind::Jwt), 1);
    assert_eq!(redact(&jwt()).0, marker(SecretKind::Jwt, &jwt()));
}

#[test]
fn bearer_word_alone_or_in_prose_is_kept() {
    assert_untouched("Bearer");
    assert_untouched("Bearer ");
    assert_untouched("send a Bearer token");
    assert_untouched(r#"WWW-Authenticate: Bearer realm="api", error="invalid_token""#);
    assert_untouched("the ring-bearer walked");
}

#[test]
fn basic_credential_is_redacted_and_scheme_kept() {
    let (out, c) = redact(&format!("authorization: Basic {BASIC_CRED}"));
    assert_eq!(
        out,
        format!(
            "authorization: Basic {}",
            marker(SecretKind::BasicAuth, BASIC_CRED)
        )
    );
    assert_eq!(c.get(SecretKind::BasicAuth), 1);
    let (out, _) = redact(&format!("basic {BASIC_CRED}"));
    assert!(out.starts_with("basic [REDACTED:basic:"));
}

#[test]
fn basic_in_prose_is_kept() {
    assert_untouched("Basic");
    assert_untouched("covers the basic functionality well");
    assert_untouched("Basic dXNlcm5hbWVvbmx5"); // base64 of "usernameonly": no colon
    assert_untouched("BASIC AUTHENTICATION REQUIRED");
}

#[test]
fn rejected_basic_candidate_does_not_hide_a_secret_after_it() {
    let text = format!("basic functionality then Bearer abcdefgh12345678 {}", ghp());
    let (out, c) = redact(&text);
    assert!(
        out.starts_with("basic functionality then Bearer [REDACTED:bearer:"),
        "{out}"
    );
    assert_eq!(c.get(SecretKind::GithubToken), 1);
    assert_eq!(c.total(), 2);
}

#[test]
fn secret_named_keys_have_their_string_value_redacted() {
    let r = &*R;
    for key in [
        "password",
        "Password",
        "db_password",
        "passwd",
        "secret",
        "client_secret",
        "clientSecret",
        "api_key",
        "apikey",
        "api-key",
        "API_KEY",
        "apiKey",
        "x-api-key",
        "X-Api-Key",
        "access_token",
        "accessToken",
        "refresh_token",
        "id_token",
        "token",
        "authorization",
        "Authorization",
        "Proxy-Authorization",
        "private_key",
        "privateKey",
    ] {
        let mut c = RedactionCounts::default();
        let mut v = json!({ key: "hunter2" });
        r.redact_value(&mut v, &mut c);
        assert_eq!(
            v,
            json!({ key: marker(SecretKind::SecretField, "hunter2") }),
            "{key}"
        );
        assert_eq!(c.get(SecretKind::SecretField), 1, "{key}");
    }
}

#[test]
fn keys_that_only_name_a_secret_are_kept() {
    let r = &*R;
    for key in [
        "token_id",
        "secret_name",
        "password_policy",
        "tokens",
        "PWD",
        "keyboard",
    ] {
        let mut c = RedactionCounts::default();
        let mut v = json!({ key: "visible value" });
        r.redact_value(&mut v, &mut c);
        assert_eq!(v, json!({ key: "visible value" }), "{key}");
        assert_eq!(c.total(), 0);
    }
}

#[test]
fn non_string_values_under_secret_keys_stay() {
    let r = &*R;
    let mut c = RedactionCounts::default();
    let mut v = json!({"password": 1234, "secret": true, "token": null, "api_key": ""});
    let before = v.clone();
    r.redact_value(&mut v, &mut c);
    assert_eq!(v, before);
    assert_eq!(c.total(), 0);
}

#[test]
fn secret_keys_and_patterns_apply_at_any_depth() {
    let r = &*R;
    let mut c = RedactionCounts::default();
    let mut v = json!({"a": [{"b": {"password": "p1"}}, [format!("Bearer {}", ghp())]]});
    r.redact_value(&mut v, &mut c);
    assert_eq!(
        v,
        json!({"a": [
            {"b": {"password": marker(SecretKind::SecretField, "p1")}},
            [format!("Bearer {}", marker(SecretKind::GithubToken, &ghp()))]
        ]})
    );
    assert_eq!(c.total(), 2);
}

#[test]
fn secrets_in_object_keys_are_redacted() {
    let r = &*R;
    let mut c = RedactionCounts::default();
    let mut v = json!({ ghp(): 1, "plain": 2 });
    r.redact_value(&mut v, &mut c);
    assert_eq!(
        v,
        json!({ marker(SecretKind::GithubToken, &ghp()): 1, "plain": 2 })
    );
    assert_eq!(c.total(), 1);
}

#[test]
fn same_secret_gets_the_same_marker_everywhere() {
    let a = redact(&format!("first {}", ghp())).0;
    let b = redact(&format!("{} second", ghp())).0;
    let m = marker(SecretKind::GithubToken, &ghp());
    assert!(a.contains(&m) && b.contains(&m));
    let other = ghp().replacen('1', "9", 1);
    assert_ne!(marker(SecretKind::GithubToken, &other), m);
}

#[test]
fn every_kind_is_counted() {
    let r = &*R;
    let mut c = RedactionCounts::default();
    let mut v = json!({
        "a": jwt(),
        "b": aws_key_id(),
        "c": format!("aws_secret_access_key={}", aws_secret()),
        "d": ghp(),
        "e": slack(),
        "f": pem(),
        "g": "Bearer abcdefghijklmnop",
        "h": format!("Basic {BASIC_CRED}"),
        "password": "x",
        "i": format!("{} and {}", ghp(), github_pat()),
    });
    r.redact_value(&mut v, &mut c);
    for kind in SecretKind::ALL {
        let want = if kind == SecretKind::GithubToken {
            3
        } else {
            1
        };
        assert_eq!(c.get(kind), want, "{kind:?}");
    }
    assert_eq!(c.total(), 11);
    assert_eq!(c.iter().count(), SecretKind::ALL.len());
    let mut sum = RedactionCounts::default();
    sum.add(c);
    sum.add(c);
    assert_eq!(sum.total(), 22);
}

#[test]
fn redacting_twice_changes_nothing() {
    let r = &*R;
    let text = format!(
        "{} {} aws_secret_access_key={} {} {} {} Bearer abcdefghijkl Basic {BASIC_CRED} Bearer {}",
        jwt(),
        aws_key_id(),
        aws_secret(),
        ghp(),
        slack(),
        pem(),
        jwt()
    );
    let mut c1 = RedactionCounts::default();
    let once = r.redact_str(&text, &mut c1).into_owned();
    assert_eq!(c1.total(), 9);
    let mut c2 = RedactionCounts::default();
    let twice = r.redact_str(&once, &mut c2);
    assert!(matches!(twice, Cow::Borrowed(_)));
    assert_eq!(c2.total(), 0);

    let mut v = json!({"password": "x", "authorization": "Bearer abcdefghijkl", "t": text});
    r.redact_value(&mut v, &mut c1);
    let after_once = v.clone();
    let mut c3 = RedactionCounts::default();
    r.redact_value(&mut v, &mut c3);
    assert_eq!(v, after_once);
    assert_eq!(c3.total(), 0);
}

#[test]
fn markers_for_every_kind_are_not_redacted_again() {
    for kind in SecretKind::ALL {
        let m = marker(kind, "s");
        assert_untouched(&m);
        assert_untouched(&format!("Bearer {m}"));
        assert_untouched(&format!("aws_secret_access_key={m}"));
    }
}

#[test]
fn nothing_found_borrows_the_input() {
    assert_untouched("");
    assert_untouched("short");
    assert_untouched("SELECT * FROM issues WHERE project = 'HOP' AND status = 'open'");
    assert_untouched("https://jira.corp/browse/HOP-123?focusedCommentId=99");
}

#[test]
fn non_ascii_text_around_secrets_is_preserved() {
    let (out, _) = redact(&format!("ключ→{}←конец", ghp()));
    assert_eq!(
        out,
        format!("ключ→{}←конец", marker(SecretKind::GithubToken, &ghp()))
    );
}

#[test]
fn kind_names_are_distinct() {
    let names: std::collections::HashSet<_> = SecretKind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(names.len(), SecretKind::ALL.len());
}

#[test]
fn redactor_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Redactor>();
}

#[test]
#[ignore = "timing check, run with --release --ignored"]
fn redact_str_cost_on_benign_and_secret_text() {
    let r = &*R;
    let benign = "SELECT id, summary FROM issues WHERE project = 'HOP' AND updated > now() - 1d";
    let secret = format!(
        "curl -H 'Authorization: Bearer {}' https://api.corp/v1/x",
        jwt()
    );
    for s in [benign, secret.as_str()] {
        let n = 20_000u32;
        let best = (0..10)
            .map(|_| {
                let mut c = RedactionCounts::default();
                let t = std::time::Instant::now();
                for _ in 0..n {
                    std::hint::black_box(r.redact_str(std::hint::black_box(s), &mut c));
                }
                t.elapsed() / n
            })
            .min()
            .unwrap();
        eprintln!("{} bytes: {best:?}/call", s.len());
    }
}

fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,12}",
        Just(jwt()),
        Just(aws_key_id()),
        Just(format!("aws_secret_access_key={}", aws_secret())),
        Just(ghp()),
        Just(slack()),
        Just(pem()),
        Just(pem()[..50].to_owned()),
        Just("Bearer ".to_owned()),
        Just("Basic ".to_owned()),
        Just(BASIC_CRED.to_owned()),
        Just("[REDACTED:jwt:".to_owned()),
        Just("ü\u{200B}".to_owned()),
    ]
}

proptest! {
    #[test]
    fn redaction_is_idempotent_on_mixed_text(parts in prop::collection::vec(fragment(), 0..8)) {
        let r = &*R;
        let s = parts.concat();
        let mut c = RedactionCounts::default();
        let once = r.redact_str(&s, &mut c).into_owned();
        let mut c2 = RedactionCounts::default();
        let twice = r.redact_str(&once, &mut c2).into_owned();
        prop_assert_eq!(&twice, &once);
        prop_assert_eq!(c2.total(), 0);
        prop_assert!(!once.contains(&ghp()));
        prop_assert!(!once.contains(&jwt()));
    }

    #[test]
    fn redact_str_never_panics(s in any::<String>()) {
        let mut c = RedactionCounts::default();
        let _ = R.redact_str(&s, &mut c);
    }
}

/// Strings mixing trigger literals in any case, their fragments, and other bytes.
fn trigger_soup() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        proptest::sample::select(TRIGGERS.to_vec()).prop_map(str::to_owned),
        proptest::sample::select(TRIGGERS.to_vec()).prop_map(|t| t[..t.len() / 2].to_owned()),
        "[a-zA-Z0-9_ -]{0,6}",
        any::<char>().prop_map(String::from),
    ];
    proptest::collection::vec((piece, any::<u8>()), 0..8).prop_map(|parts| {
        parts
            .into_iter()
            .map(|(p, case)| match case % 3 {
                0 => p,
                1 => p.to_ascii_uppercase(),
                _ => p.to_ascii_lowercase(),
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn the_trigger_walk_finds_what_aho_corasick_finds(s in trigger_soup()) {
        let reference = aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(TRIGGERS)
            .unwrap();
        prop_assert_eq!(R.trigger.is_match(&s), reference.is_match(&s), "{:?}", s);
    }
}
