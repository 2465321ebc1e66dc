//! Topics bound to tenants. Invariant: a record read from a bound topic is stored in that tenant
//! or not at all, whatever its `tenant` field says, so a producer allowed to write one tenant's
//! topic cannot plant events in another tenant.
//!
//! A record without a tenant (or with the default one) takes the topic's tenant; a record naming
//! a different tenant is dead-lettered as `invalid_field`: it is evidence of a misrouted or
//! hostile producer, and silently re-labelling it would hide that.

use std::collections::BTreeMap;

use hoptrail_core::event::{Event, DEFAULT_TENANT};
use hoptrail_schemas::{Reason, RecordError};

/// Topic → tenant.
#[derive(Debug, Clone, Default)]
pub struct TenantBinding {
    by_topic: BTreeMap<String, String>,
}

impl TenantBinding {
    /// Binds each topic to its tenant.
    pub fn new(by_topic: BTreeMap<String, String>) -> Self {
        TenantBinding { by_topic }
    }

    /// Applies the binding of `topic` to an event decoded from it.
    pub fn bind(&self, topic: &str, event: &mut Event) -> Result<(), RecordError> {
        let Some(bound) = self.by_topic.get(topic) else {
            return Ok(());
        };
        let tenant = &mut event.tenant;
        if tenant == bound {
            return Ok(());
        }
        if tenant == DEFAULT_TENANT {
            bound.clone_into(tenant);
            return Ok(());
        }
        Err(RecordError {
            reason: Reason::InvalidField,
            message: format!(
                "tenant: topic {topic:?} is bound to tenant {bound:?}, the record names another"
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoptrail_schemas::Decoder;

    fn decoded(tenant: Option<&str>) -> Event {
        let mut v = serde_json::json!({
            "schema": "hoptrail.tool_use.v1", "event_id": "e1", "time": "2026-11-30T10:00:00Z",
            "agent": {"id": "a"}, "session_id": "s", "system": "jira.corp",
            "tool": {"name": "t"}, "outcome": "success",
        });
        if let Some(t) = tenant {
            v["tenant"] = t.into();
        }
        Decoder::new()
            .decode(v.to_string().as_bytes())
            .unwrap()
            .event
    }

    fn binding() -> TenantBinding {
        TenantBinding::new([("acme.tool-use".to_owned(), "acme".to_owned())].into())
    }

    #[test]
    fn a_record_without_a_tenant_takes_its_topics_tenant() {
        let mut e = decoded(None);
        binding().bind("acme.tool-use", &mut e).unwrap();
        assert_eq!(e.tenant, "acme");
    }

    #[test]
    fn a_record_naming_another_tenant_on_a_bound_topic_is_rejected() {
        let e = binding()
            .bind("acme.tool-use", &mut decoded(Some("globex")))
            .unwrap_err();
        assert_eq!(e.reason, Reason::InvalidField);
        assert!(e.message.starts_with("tenant: "), "{}", e.message);
        assert!(
            !e.message.contains("globex"),
            "the message does not echo record content"
        );
    }

    #[test]
    fn unbound_topics_keep_the_records_tenant() {
        let mut e = decoded(Some("globex"));
        binding().bind("shared.tool-use", &mut e).unwrap();
        assert_eq!(e.tenant, "globex");
        let mut e = decoded(Some("acme"));
        binding().bind("acme.tool-use", &mut e).unwrap();
        assert_eq!(e.tenant, "acme");
    }
}
