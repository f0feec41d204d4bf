//! speedlead's topic catalogue: the contract between speedlead and the systems around it.
//!
//! Each topic has a name, a key rule, a default partition count and retention, and one value type
//! wrapped in the common [`Envelope`]. JSON Schemas for every value are generated into
//! `topics/schemas/` and a test fails when they drift from the Rust types, so the published contract
//! can never silently disagree with the code.

pub mod envelope;
pub mod lead;

pub use envelope::{derived_id, Envelope, Hops, SCHEMA_VERSION};
pub use lead::{
    event_type, lead_id, lead_key, AccountMatch, Ack, AckRefused, Assignment, CandidateVerdict, Contact,
    DeadLetter, Enrichment, Escalation, FetchRef, FieldChange, InboundLead, LeadEvent, LeadMerged,
    LeadQueued, LeadScored, LeadSummary, Merge, Outcome, QualifiedLead, RoutingAudit, Score,
};

/// What a topic's messages are keyed by. The key decides the partition, and so which actor sees the
/// message and in what order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRule {
    /// Lowercased email, else E.164 phone, else `source:event_id` (see [`lead_key`]).
    LeadKey,
    /// The routing domain (team) that owns the lead: one router actor owns a domain.
    RoutingDomain,
    /// The lead id (journey id), so one lead's lifecycle stays in order.
    LeadId,
    /// The key of the message that failed, unchanged.
    OriginalKey,
}

impl KeyRule {
    pub fn describe(self) -> &'static str {
        match self {
            KeyRule::LeadKey => "lead key: lowercased email, else E.164 phone, else source:event_id",
            KeyRule::RoutingDomain => "routing domain (the team that owns the lead)",
            KeyRule::LeadId => "lead id (UUID)",
            KeyRule::OriginalKey => "key of the failed message, unchanged",
        }
    }
}

/// The topics speedlead reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    Inbound,
    Qualified,
    Assignments,
    Acks,
    Events,
    Outcomes,
    Dlq,
}

/// Static description of one topic.
#[derive(Debug, Clone, Copy)]
pub struct TopicSpec {
    pub name: &'static str,
    pub key: KeyRule,
    pub partitions: i32,
    pub retention_ms: i64,
    /// Rust name of the payload type inside the envelope.
    pub value_type: &'static str,
    pub description: &'static str,
}

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

impl Topic {
    pub const ALL: [Topic; 7] = [
        Topic::Inbound,
        Topic::Qualified,
        Topic::Assignments,
        Topic::Acks,
        Topic::Events,
        Topic::Outcomes,
        Topic::Dlq,
    ];

    pub fn spec(self) -> TopicSpec {
        let (name, key, partitions, days, value_type, description) = match self {
            Topic::Inbound => (
                "leads.inbound",
                KeyRule::LeadKey,
                12,
                7,
                "InboundLead",
                "Leads as captured by the gateway or published by marketing systems",
            ),
            Topic::Qualified => (
                "leads.qualified",
                KeyRule::RoutingDomain,
                6,
                7,
                "QualifiedLead",
                "Validated, normalized leads with their routing domain",
            ),
            Topic::Assignments => (
                "leads.assignments",
                KeyRule::RoutingDomain,
                6,
                30,
                "Assignment",
                "Routing decisions: which rep owns which lead, per attempt",
            ),
            Topic::Acks => (
                "leads.acks",
                KeyRule::RoutingDomain,
                6,
                30,
                "Ack",
                "Reps accepting leads through their ack links",
            ),
            Topic::Events => (
                "leads.events",
                KeyRule::LeadId,
                12,
                30,
                "LeadEvent",
                "Lead lifecycle events for CRM writers, outbound webhooks and audit",
            ),
            Topic::Outcomes => (
                "leads.outcomes",
                KeyRule::LeadId,
                3,
                365,
                "Outcome",
                "Conversion outcomes the scoring model learns from",
            ),
            Topic::Dlq => (
                "leads.dlq",
                KeyRule::OriginalKey,
                3,
                30,
                "DeadLetter",
                "Messages a stage gave up on, with reason and original bytes, for replay",
            ),
        };
        TopicSpec { name, key, partitions, retention_ms: days * DAY_MS, value_type, description }
    }

    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// JSON Schema of this topic's message value (envelope included), titled with the topic name.
    pub fn schema(self) -> schemars::Schema {
        let mut schema = match self {
            Topic::Inbound => schemars::schema_for!(Envelope<InboundLead>),
            Topic::Qualified => schemars::schema_for!(Envelope<QualifiedLead>),
            Topic::Assignments => schemars::schema_for!(Envelope<Assignment>),
            Topic::Acks => schemars::schema_for!(Envelope<Ack>),
            Topic::Events => schemars::schema_for!(Envelope<LeadEvent>),
            Topic::Outcomes => schemars::schema_for!(Envelope<Outcome>),
            Topic::Dlq => schemars::schema_for!(Envelope<DeadLetter>),
        };
        let spec = self.spec();
        schema.insert("title".into(), format!("{} message value", spec.name).into());
        schema.insert(
            "description".into(),
            format!("{}. Key: {}. Payload type: {}.", spec.description, spec.key.describe(), spec.value_type)
                .into(),
        );
        schema
    }

    /// File name of the generated schema under `topics/schemas/`.
    pub fn schema_file(self) -> String {
        format!("{}.schema.json", self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// The committed schemas are the published contract. Regenerate them with
    /// `SPEEDLEAD_UPDATE_SCHEMAS=1 cargo test -p speedlead-topics` after a deliberate change.
    #[test]
    fn committed_schemas_match_the_types() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas");
        let update = std::env::var_os("SPEEDLEAD_UPDATE_SCHEMAS").is_some();
        let mut drifted = Vec::new();
        for topic in Topic::ALL {
            let generated = serde_json::to_string_pretty(&topic.schema()).unwrap() + "\n";
            let path = dir.join(topic.schema_file());
            if update {
                std::fs::write(&path, &generated).unwrap();
                continue;
            }
            let committed = std::fs::read_to_string(&path).unwrap_or_default();
            if committed != generated {
                drifted.push(path.display().to_string());
            }
        }
        assert!(
            drifted.is_empty(),
            "schemas drifted from the Rust types (regenerate with SPEEDLEAD_UPDATE_SCHEMAS=1): {drifted:?}"
        );
    }

    #[test]
    fn every_topic_has_a_distinct_name_and_sane_defaults() {
        let mut names: Vec<_> = Topic::ALL.iter().map(|t| t.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Topic::ALL.len());
        for t in Topic::ALL {
            let s = t.spec();
            assert!(s.name.starts_with("leads."));
            assert!(s.partitions > 0 && s.retention_ms > 0);
        }
    }

    /// The README's "publish straight to Kafka" example must stay a valid `leads.inbound` value.
    #[test]
    fn readme_kcat_example_is_a_valid_inbound_message() {
        let readme =
            std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap();
        let line = readme.lines().find(|l| l.starts_with("echo '")).expect("README has the kcat example");
        let (key, value) = line
            .trim_start_matches("echo '")
            .trim_end_matches(" \\")
            .trim_end_matches('\'')
            .split_once('|')
            .unwrap();
        let envelope: Envelope<InboundLead> = serde_json::from_str(value).unwrap();
        assert_eq!(key, "ana@acme.io");
        assert_eq!(lead_key(envelope.payload.contact.email.as_deref(), None, "", ""), key);
    }

    #[test]
    fn schemas_name_the_envelope_fields() {
        let schema = serde_json::to_value(Topic::Inbound.schema()).unwrap();
        let required: Vec<_> =
            schema["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        for field in ["id", "type", "occurred_at", "schema_version", "correlation_id", "payload"] {
            assert!(required.contains(&field), "{field} missing from {required:?}");
        }
    }
}
