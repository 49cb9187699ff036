//! Restore-completed events `follow --events` counted for a WAITING lot's run: recorded on the
//! lot item (a few times per wait, not per event) so that `status` shows them.

use super::*;

/// Events counted for one run of a lot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventsCounted {
    /// Events counted (after a look, what the look saw done, and events since).
    pub counted: u64,
    /// The run (attempt) they are about.
    pub attempt: u64,
}

impl EventsCounted {
    fn to_attr(self) -> AttributeValue {
        AttributeValue::M(HashMap::from([
            ("counted".to_owned(), n(self.counted)),
            ("attempt".to_owned(), n(self.attempt)),
        ]))
    }

    /// The events stored on an item, if it holds readable ones.
    pub(super) fn read(item: &HashMap<String, AttributeValue>) -> Option<Self> {
        let AttributeValue::M(m) = item.get("events")? else {
            return None;
        };
        Some(Self {
            counted: get_n(m, "counted")?,
            attempt: get_n(m, "attempt")?,
        })
    }
}

impl LotItem {
    /// The events counted for this lot while it is the WAITING run they are about.
    pub fn current_events(&self) -> Option<u64> {
        self.events
            .filter(|e| self.state == LotState::Waiting && e.attempt == self.attempt)
            .map(|e| e.counted)
    }
}

impl ProgressTable {
    /// Records the events counted for WAITING lot `lot` at `attempt`; refused as
    /// [`ProgressError::Fenced`] when the lot was relaunched or left WAITING meanwhile.
    pub async fn record_events(
        &self,
        job: &str,
        lot: u32,
        attempt: u64,
        counted: u64,
    ) -> Result<()> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(job, i64::from(lot))))
            .update_expression("SET events = :events")
            .condition_expression("attempt = :attempt AND #st = :waiting")
            .expression_attribute_names("#st", "state")
            .expression_attribute_values(":attempt", n(attempt))
            .expression_attribute_values(":waiting", s(LotState::Waiting.as_str()))
            .expression_attribute_values(":events", EventsCounted { counted, attempt }.to_attr())
            .send()
            .await;
        self.fence_result(res.map(|_| ()), job, lot, attempt)
    }
}
