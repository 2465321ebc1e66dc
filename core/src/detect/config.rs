//! Detection config: the serde layer an operator writes (`[detect]` in the config file) and the
//! typed [`DetectSettings`] that [`DetectConfig::validate`] turns it into. Invariant: a
//! `DetectSettings` only exists for a config in which every rule id is known, every threshold
//! belongs to its rule, every window is positive and the state TTL outlives every window.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::rule_id::{RuleId, Severity};

/// Default of [`DetectConfig::lateness_ms`]: 10 minutes.
pub const DEFAULT_LATENESS_MS: u64 = 600_000;
/// Default of [`DetectConfig::state_ttl_ms`]: 24 hours.
pub const DEFAULT_STATE_TTL_MS: u64 = 86_400_000;
/// Default `window_ms` of `blast_radius.fanout`, `probe.denied_burst` and
/// `boundary.first_external`: 10 minutes.
pub const DEFAULT_WINDOW_MS: u64 = 600_000;
/// Default `min_systems` of `blast_radius.fanout`.
pub const DEFAULT_FANOUT_MIN_SYSTEMS: u64 = 8;
/// Default `max_depth` of `delegation.depth`.
pub const DEFAULT_MAX_DEPTH: u64 = 3;
/// Default `min_denied` of `probe.denied_burst`.
pub const DEFAULT_MIN_DENIED: u64 = 5;
/// Default `min_agents` of `credential.shared`.
pub const DEFAULT_MIN_AGENTS: u64 = 2;
/// Default `grace_ms` of the `scope.*` rules: 1 minute.
pub const DEFAULT_SCOPE_GRACE_MS: u64 = 60_000;
/// Default `grace_ms` of `credential.after_expiry` and `credential.after_revocation`.
pub const DEFAULT_CREDENTIAL_GRACE_MS: u64 = 0;

/// Longest duration any knob accepts (one year): keeps every microsecond sum far from overflow.
const MAX_DURATION_MS: u64 = 365 * 86_400_000;

fn default_lateness_ms() -> u64 {
    DEFAULT_LATENESS_MS
}

fn default_state_ttl_ms() -> u64 {
    DEFAULT_STATE_TTL_MS
}

/// The `[detect]` section of the config file.
///
/// ```toml
/// [detect]
/// lateness_ms = 600000
/// state_ttl_ms = 86400000
///
/// [detect.rules."blast_radius.fanout"]
/// enabled = true
/// severity = "high"
/// min_systems = 8
/// window_ms = 600000
/// ```
///
/// Every rule is on with its defaults unless its `[detect.rules."<id>"]` table says otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectConfig {
    /// How late (in event time, behind the newest event of the same tenant) an event may arrive
    /// and still be judged exactly as if it had arrived in order. Later events are still used
    /// for the long-lived facts (revocations, subjects, shared credentials) but not for the
    /// windowed rules. Raising it delays the scope rules' verdicts by as much and keeps that much
    /// more windowed state in memory.
    #[serde(default = "default_lateness_ms")]
    pub lateness_ms: u64,
    /// How long a long-lived fact is remembered after the last event that touched it: token
    /// subjects, expiries, revocations and parent links, which agents used a credential, which
    /// agents already went external, sessions' declared scopes, delegation links, and the ids
    /// of alerts already raised. A use of a token revoked longer ago than this goes unnoticed,
    /// and an alert condition that recurs after this long raises its alert (same id) again.
    /// Memory grows with the number of distinct credentials, agents and sessions seen within it.
    /// Must be at least `lateness_ms` plus the longest rule window.
    #[serde(default = "default_state_ttl_ms")]
    pub state_ttl_ms: u64,
    /// Per-rule settings, keyed by rule id (`credential.foreign_presenter`,
    /// `credential.after_expiry`, `credential.after_revocation`, `credential.shared`,
    /// `scope.undeclared_tool`, `scope.undeclared_system`, `boundary.first_external`,
    /// `blast_radius.fanout`, `delegation.depth`, `delegation.cycle`, `probe.denied_burst`).
    #[serde(default)]
    pub rules: BTreeMap<String, RuleConfig>,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            lateness_ms: DEFAULT_LATENESS_MS,
            state_ttl_ms: DEFAULT_STATE_TTL_MS,
            rules: BTreeMap::new(),
        }
    }
}

/// One `[detect.rules."<id>"]` table. Only the thresholds a rule has may be set for it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// `false` switches the rule off: it keeps no state and raises nothing. Default `true`.
    pub enabled: Option<bool>,
    /// Severity of the rule's alerts: `informational`, `low`, `medium`, `high` or `critical`.
    /// Defaults: high for `credential.foreign_presenter`, `credential.after_revocation` and
    /// `probe.denied_burst`; low for `delegation.depth`; medium for the others.
    pub severity: Option<Severity>,
    /// `boundary.first_external` only: severity when the external hop follows a successful call
    /// on an `internal` system within `window_ms` (data read inside, then taken outside).
    /// Default `high`.
    pub escalated_severity: Option<Severity>,
    /// Window in milliseconds. `blast_radius.fanout`: the systems must be reached within it
    /// (default 600000). `probe.denied_burst`: the denied calls must precede the success by at
    /// most this much (default 600000). `boundary.first_external`: how far back an internal
    /// call escalates the external hop (default 600000).
    pub window_ms: Option<u64>,
    /// `blast_radius.fanout` only: distinct systems that raise the alert (default 8, at least 2).
    pub min_systems: Option<u64>,
    /// `credential.shared` only: distinct agents using one credential that raise the alert
    /// (default 2, at least 2).
    pub min_agents: Option<u64>,
    /// `delegation.depth` only: the deepest allowed delegation; a delegate handed work through
    /// more hand-offs than this raises the alert (default 3, at least 1).
    pub max_depth: Option<u64>,
    /// `probe.denied_burst` only: denied calls (on any systems) before a success that raise the
    /// alert (default 5, at least 1).
    pub min_denied: Option<u64>,
    /// Tolerance in milliseconds. `credential.after_expiry` / `credential.after_revocation`: a
    /// use at most this long after the expiry or revocation is ignored, to absorb clock skew
    /// between issuer and resource servers (default 0). `scope.undeclared_*`: a declaration
    /// reported at most this long after the first use of a tool or system still covers it,
    /// because runtimes often report the task on a later event of the session (default 60000).
    pub grace_ms: Option<u64>,
}

/// The thresholds of every rule, typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// `credential.after_expiry` `grace_ms`.
    pub expiry_grace: Duration,
    /// `credential.after_revocation` `grace_ms`.
    pub revocation_grace: Duration,
    /// `credential.shared` `min_agents`.
    pub shared_min_agents: usize,
    /// `scope.undeclared_tool` `grace_ms`.
    pub tool_scope_grace: Duration,
    /// `scope.undeclared_system` `grace_ms`.
    pub system_scope_grace: Duration,
    /// `boundary.first_external` `window_ms`.
    pub external_window: Duration,
    /// `boundary.first_external` `escalated_severity`.
    pub external_escalated_severity: Severity,
    /// `blast_radius.fanout` `min_systems`.
    pub fanout_min_systems: usize,
    /// `blast_radius.fanout` `window_ms`.
    pub fanout_window: Duration,
    /// `delegation.depth` `max_depth`.
    pub max_delegation_depth: u32,
    /// `probe.denied_burst` `min_denied`.
    pub burst_min_denied: usize,
    /// `probe.denied_burst` `window_ms`.
    pub burst_window: Duration,
}

/// Whether a rule runs and at which severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleSettings {
    /// The rule runs.
    pub enabled: bool,
    /// Severity of its alerts.
    pub severity: Severity,
}

/// A validated [`DetectConfig`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectSettings {
    /// See [`DetectConfig::lateness_ms`].
    pub lateness: Duration,
    /// See [`DetectConfig::state_ttl_ms`].
    pub state_ttl: Duration,
    /// Thresholds of every rule (also of those switched off).
    pub thresholds: Thresholds,
    rules: [RuleSettings; RuleId::COUNT],
}

impl Default for DetectSettings {
    fn default() -> Self {
        DetectConfig::default()
            .validate()
            .expect("the default config is valid")
    }
}

impl DetectSettings {
    /// Whether and how `rule` runs.
    pub fn rule(&self, rule: RuleId) -> RuleSettings {
        self.rules[rule.index()]
    }

    /// Switches a rule on or off (for callers that build settings in code).
    pub fn set_enabled(&mut self, rule: RuleId, enabled: bool) {
        self.rules[rule.index()].enabled = enabled;
    }

    /// The longest window of any enabled rule (scope graces included: they delay a verdict the
    /// same way).
    pub fn longest_window(&self) -> Duration {
        let t = &self.thresholds;
        [
            (RuleId::FirstExternal, t.external_window),
            (RuleId::Fanout, t.fanout_window),
            (RuleId::DeniedBurst, t.burst_window),
            (RuleId::UndeclaredTool, t.tool_scope_grace),
            (RuleId::UndeclaredSystem, t.system_scope_grace),
            (RuleId::AfterExpiry, t.expiry_grace),
            (RuleId::AfterRevocation, t.revocation_grace),
        ]
        .into_iter()
        .filter(|(r, _)| self.rule(*r).enabled)
        .map(|(_, d)| d)
        .max()
        .unwrap_or(Duration::ZERO)
    }

    /// How much event time to re-feed into a fresh [`super::Detector`] after a restart, counted
    /// back from the newest stored event: the state TTL, since that is how far back a fact (a
    /// revocation, a token's subject) can still change a verdict. Re-feeding less only loses
    /// facts older than that; it never produces a different id for the same alert.
    pub fn replay_horizon(&self) -> Duration {
        self.state_ttl
    }
}

/// Why a [`DetectConfig`] was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// `[detect.rules."<id>"]` names no known rule.
    UnknownRule {
        /// The id as written.
        id: String,
    },
    /// A threshold was set on a rule that has no such threshold.
    NotApplicable {
        /// The rule.
        rule: RuleId,
        /// The key, e.g. `min_systems`.
        key: &'static str,
    },
    /// A duration that must be positive is zero.
    ZeroDuration {
        /// Dotted key, e.g. `rules."blast_radius.fanout".window_ms`.
        key: String,
    },
    /// A value outside its allowed range.
    OutOfRange {
        /// Dotted key.
        key: String,
        /// The value as written.
        value: u64,
        /// Least allowed.
        min: u64,
        /// Greatest allowed.
        max: u64,
    },
    /// `state_ttl_ms` shorter than `lateness_ms` plus the longest window.
    TtlTooShort {
        /// As written.
        state_ttl_ms: u64,
        /// The least it may be.
        needed_ms: u64,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::UnknownRule { id } => {
                let known: Vec<&str> = RuleId::ALL.iter().map(|r| r.as_str()).collect();
                write!(
                    f,
                    "detect: unknown rule id `{id}` (known: {})",
                    known.join(", ")
                )
            }
            ConfigError::NotApplicable { rule, key } => {
                write!(f, "detect: rule `{rule}` has no setting `{key}`")
            }
            ConfigError::ZeroDuration { key } => {
                write!(f, "detect: `{key}` must be greater than zero")
            }
            ConfigError::OutOfRange {
                key,
                value,
                min,
                max,
            } => write!(
                f,
                "detect: `{key}` is {value}, must be between {min} and {max}"
            ),
            ConfigError::TtlTooShort {
                state_ttl_ms,
                needed_ms,
            } => write!(
                f,
                "detect: `state_ttl_ms` is {state_ttl_ms}, must be at least {needed_ms} \
                 (lateness_ms plus the longest rule window)"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Which optional keys a rule accepts.
fn accepts(rule: RuleId, key: &str) -> bool {
    use RuleId::*;
    match key {
        "window_ms" => matches!(rule, Fanout | DeniedBurst | FirstExternal),
        "min_systems" => rule == Fanout,
        "min_agents" => rule == SharedCredential,
        "max_depth" => rule == DelegationDepth,
        "min_denied" => rule == DeniedBurst,
        "escalated_severity" => rule == FirstExternal,
        "grace_ms" => matches!(
            rule,
            AfterExpiry | AfterRevocation | UndeclaredTool | UndeclaredSystem
        ),
        _ => false,
    }
}

impl DetectConfig {
    /// Checks the config and types it.
    pub fn validate(&self) -> Result<DetectSettings, ConfigError> {
        let lateness_ms = positive_ms("lateness_ms", self.lateness_ms)?;
        let state_ttl_ms = positive_ms("state_ttl_ms", self.state_ttl_ms)?;
        let mut by_rule: [Option<&RuleConfig>; RuleId::COUNT] = [None; RuleId::COUNT];
        for (id, rc) in &self.rules {
            let rule =
                RuleId::parse(id).ok_or_else(|| ConfigError::UnknownRule { id: id.clone() })?;
            for (key, set) in [
                ("window_ms", rc.window_ms.is_some()),
                ("min_systems", rc.min_systems.is_some()),
                ("min_agents", rc.min_agents.is_some()),
                ("max_depth", rc.max_depth.is_some()),
                ("min_denied", rc.min_denied.is_some()),
                ("escalated_severity", rc.escalated_severity.is_some()),
                ("grace_ms", rc.grace_ms.is_some()),
            ] {
                if set && !accepts(rule, key) {
                    return Err(ConfigError::NotApplicable { rule, key });
                }
            }
            by_rule[rule.index()] = Some(rc);
        }
        let rc = |r: RuleId| by_rule[r.index()].cloned().unwrap_or_default();
        let key = |r: RuleId, k: &str| format!("rules.\"{}\".{k}", r.as_str());
        let window = |r: RuleId| -> Result<Duration, ConfigError> {
            let ms = rc(r).window_ms.unwrap_or(DEFAULT_WINDOW_MS);
            Ok(Duration::from_millis(positive_ms(
                &key(r, "window_ms"),
                ms,
            )?))
        };
        let grace = |r: RuleId, default: u64| -> Result<Duration, ConfigError> {
            let ms = rc(r).grace_ms.unwrap_or(default);
            range(&key(r, "grace_ms"), ms, 0, MAX_DURATION_MS)?;
            Ok(Duration::from_millis(ms))
        };
        let count = |r: RuleId, k: &str, v: Option<u64>, default: u64, min: u64| {
            let v = v.unwrap_or(default);
            range(&key(r, k), v, min, 1_000_000).map(|v| v as usize)
        };
        let thresholds = Thresholds {
            expiry_grace: grace(RuleId::AfterExpiry, DEFAULT_CREDENTIAL_GRACE_MS)?,
            revocation_grace: grace(RuleId::AfterRevocation, DEFAULT_CREDENTIAL_GRACE_MS)?,
            shared_min_agents: count(
                RuleId::SharedCredential,
                "min_agents",
                rc(RuleId::SharedCredential).min_agents,
                DEFAULT_MIN_AGENTS,
                2,
            )?,
            tool_scope_grace: grace(RuleId::UndeclaredTool, DEFAULT_SCOPE_GRACE_MS)?,
            system_scope_grace: grace(RuleId::UndeclaredSystem, DEFAULT_SCOPE_GRACE_MS)?,
            external_window: window(RuleId::FirstExternal)?,
            external_escalated_severity: rc(RuleId::FirstExternal)
                .escalated_severity
                .unwrap_or(Severity::High),
            fanout_min_systems: count(
                RuleId::Fanout,
                "min_systems",
                rc(RuleId::Fanout).min_systems,
                DEFAULT_FANOUT_MIN_SYSTEMS,
                2,
            )?,
            fanout_window: window(RuleId::Fanout)?,
            max_delegation_depth: range(
                &key(RuleId::DelegationDepth, "max_depth"),
                rc(RuleId::DelegationDepth)
                    .max_depth
                    .unwrap_or(DEFAULT_MAX_DEPTH),
                1,
                64,
            )? as u32,
            burst_min_denied: count(
                RuleId::DeniedBurst,
                "min_denied",
                rc(RuleId::DeniedBurst).min_denied,
                DEFAULT_MIN_DENIED,
                1,
            )?,
            burst_window: window(RuleId::DeniedBurst)?,
        };
        let rules = RuleId::ALL.map(|r| {
            let c = rc(r);
            RuleSettings {
                enabled: c.enabled.unwrap_or(true),
                severity: c.severity.unwrap_or(r.default_severity()),
            }
        });
        let settings = DetectSettings {
            lateness: Duration::from_millis(lateness_ms),
            state_ttl: Duration::from_millis(state_ttl_ms),
            thresholds,
            rules,
        };
        let needed_ms = lateness_ms + settings.longest_window().as_millis() as u64;
        if state_ttl_ms < needed_ms {
            return Err(ConfigError::TtlTooShort {
                state_ttl_ms,
                needed_ms,
            });
        }
        Ok(settings)
    }
}

fn positive_ms(key: &str, ms: u64) -> Result<u64, ConfigError> {
    if ms == 0 {
        return Err(ConfigError::ZeroDuration {
            key: key.to_owned(),
        });
    }
    range(key, ms, 1, MAX_DURATION_MS)
}

fn range(key: &str, value: u64, min: u64, max: u64) -> Result<u64, ConfigError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::OutOfRange {
            key: key.to_owned(),
            value,
            min,
            max,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_rule(id: &str, rc: RuleConfig) -> DetectConfig {
        DetectConfig {
            rules: BTreeMap::from([(id.to_owned(), rc)]),
            ..DetectConfig::default()
        }
    }

    #[test]
    fn the_default_config_enables_every_rule_with_the_documented_thresholds() {
        let s = DetectConfig::default().validate().unwrap();
        assert!(RuleId::ALL.iter().all(|r| s.rule(*r).enabled));
        assert_eq!(s.lateness, Duration::from_secs(600));
        assert_eq!(s.state_ttl, Duration::from_secs(86_400));
        assert_eq!(s.thresholds.fanout_min_systems, 8);
        assert_eq!(s.thresholds.fanout_window, Duration::from_secs(600));
        assert_eq!(s.thresholds.max_delegation_depth, 3);
        assert_eq!(s.thresholds.shared_min_agents, 2);
        assert_eq!(
            s.rule(RuleId::ForeignPresenter).severity,
            RuleId::ForeignPresenter.default_severity()
        );
    }

    #[test]
    fn a_rule_table_sets_its_own_thresholds_and_severity() {
        let s = with_rule(
            "blast_radius.fanout",
            RuleConfig {
                enabled: Some(true),
                severity: Some(Severity::High),
                min_systems: Some(4),
                window_ms: Some(60_000),
                ..Default::default()
            },
        )
        .validate()
        .unwrap();
        assert_eq!(s.rule(RuleId::Fanout).severity, Severity::High);
        assert_eq!(s.thresholds.fanout_min_systems, 4);
        assert_eq!(s.thresholds.fanout_window, Duration::from_secs(60));
    }

    #[test]
    fn an_unknown_rule_id_is_refused_with_the_known_ids_listed() {
        let e = with_rule("credential.nope", RuleConfig::default())
            .validate()
            .unwrap_err();
        assert_eq!(
            e,
            ConfigError::UnknownRule {
                id: "credential.nope".into()
            }
        );
        assert!(e.to_string().contains("credential.shared"), "{e}");
    }

    #[test]
    fn a_threshold_on_a_rule_without_it_is_refused() {
        let e = with_rule(
            "credential.shared",
            RuleConfig {
                window_ms: Some(1),
                ..Default::default()
            },
        )
        .validate()
        .unwrap_err();
        assert_eq!(
            e,
            ConfigError::NotApplicable {
                rule: RuleId::SharedCredential,
                key: "window_ms"
            }
        );
    }

    #[test]
    fn zero_windows_and_zero_lateness_are_refused() {
        let e = with_rule(
            "probe.denied_burst",
            RuleConfig {
                window_ms: Some(0),
                ..Default::default()
            },
        )
        .validate()
        .unwrap_err();
        assert_eq!(
            e,
            ConfigError::ZeroDuration {
                key: "rules.\"probe.denied_burst\".window_ms".into()
            }
        );
        let e = DetectConfig {
            lateness_ms: 0,
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        assert!(matches!(e, ConfigError::ZeroDuration { .. }));
    }

    #[test]
    fn a_state_ttl_shorter_than_lateness_plus_windows_is_refused() {
        let e = DetectConfig {
            state_ttl_ms: 60_000,
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(
            e,
            ConfigError::TtlTooShort {
                state_ttl_ms: 60_000,
                needed_ms: 1_200_000
            }
        );
    }

    #[test]
    fn a_count_below_its_minimum_is_refused() {
        let e = with_rule(
            "blast_radius.fanout",
            RuleConfig {
                min_systems: Some(1),
                ..Default::default()
            },
        )
        .validate()
        .unwrap_err();
        assert!(matches!(e, ConfigError::OutOfRange { min: 2, .. }), "{e}");
    }

    #[derive(Deserialize)]
    struct File {
        detect: DetectConfig,
    }

    #[test]
    fn the_documented_toml_parses_into_the_documented_settings() {
        let f: File = toml::from_str(
            r#"
            [detect]
            lateness_ms = 600000
            state_ttl_ms = 86400000

            [detect.rules."blast_radius.fanout"]
            enabled = true
            severity = "high"
            min_systems = 8
            window_ms = 600000

            [detect.rules."delegation.cycle"]
            enabled = false
            "#,
        )
        .unwrap();
        let s = f.detect.validate().unwrap();
        assert_eq!(s.rule(RuleId::Fanout).severity, Severity::High);
        assert!(!s.rule(RuleId::DelegationCycle).enabled);
        assert_eq!(s.thresholds.fanout_min_systems, 8);
    }

    #[test]
    fn unknown_keys_are_refused_by_serde() {
        let json = r#"{"lateness_ms": 1, "rules": {"credential.shared": {"typo": 1}}}"#;
        assert!(serde_json::from_str::<DetectConfig>(json).is_err());
        let json = r#"{"rules": {"credential.shared": {"enabled": false, "severity": "low"}}}"#;
        let c: DetectConfig = serde_json::from_str(json).unwrap();
        let s = c.validate().unwrap();
        assert!(!s.rule(RuleId::SharedCredential).enabled);
        assert_eq!(s.rule(RuleId::SharedCredential).severity, Severity::Low);
    }
}
