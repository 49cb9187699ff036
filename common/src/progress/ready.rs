//! A WAITING lot's readiness look (`follow`): how many of its restores were done when it last
//! looked, and the later next check of a lot not worth a task yet.

use super::*;

/// How a readiness look saw a lot's restores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookBy {
    /// ListObjectsV2 pages over the lot's waiting keys (a sorted lot): every one of them.
    List,
    /// HeadObject of a sample of the waiting keys (a scattered lot).
    HeadSample,
}

impl LookBy {
    /// The name stored on the lot item and shown by `status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::List => "list",
            Self::HeadSample => "head-sample",
        }
    }

    fn read(name: &str) -> Option<Self> {
        match name {
            "list" => Some(Self::List),
            "head-sample" => Some(Self::HeadSample),
            _ => None,
        }
    }
}

/// What `follow` saw when it last looked at a WAITING lot's restores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadyLook {
    /// Restores found done.
    pub done: u64,
    /// Waiting keys looked at (all of them by listing, a sample by HEAD).
    pub looked: u64,
    /// How.
    pub by: LookBy,
    /// When (epoch seconds, the coordinator's clock).
    pub at: i64,
}

impl ReadyLook {
    fn to_attr(self) -> AttributeValue {
        AttributeValue::M(HashMap::from([
            ("done".to_owned(), n(self.done)),
            ("looked".to_owned(), n(self.looked)),
            ("by".to_owned(), s(self.by.as_str())),
            ("at".to_owned(), n(self.at)),
        ]))
    }

    /// The look stored on an item, if it holds a readable one.
    pub(super) fn read(item: &HashMap<String, AttributeValue>) -> Option<Self> {
        let AttributeValue::M(m) = item.get("ready_look")? else {
            return None;
        };
        Some(Self {
            done: get_n(m, "done")?,
            looked: get_n(m, "looked")?,
            by: LookBy::read(&get_s(m, "by")?)?,
            at: get_n(m, "at")?,
        })
    }
}

impl ProgressTable {
    /// Records a look at WAITING lot `lot` (at `attempt`) whose restores are not ready enough
    /// for a task, and moves its next check to `next_check_at`. Refused as
    /// [`ProgressError::Fenced`] when the lot was relaunched or left WAITING meanwhile.
    pub async fn defer_waiting(
        &self,
        job: &str,
        lot: u32,
        attempt: u64,
        next_check_at: i64,
        look: ReadyLook,
    ) -> Result<()> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(job, i64::from(lot))))
            .update_expression("SET next_check_at = :next, ready_look = :look")
            .condition_expression("attempt = :attempt AND #st = :waiting")
            .expression_attribute_names("#st", "state")
            .expression_attribute_values(":attempt", n(attempt))
            .expression_attribute_values(":waiting", s(LotState::Waiting.as_str()))
            .expression_attribute_values(":next", n(next_check_at))
            .expression_attribute_values(":look", look.to_attr())
            .send()
            .await;
        self.fence_result(res.map(|_| ()), job, lot, attempt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_look_reads_back_as_written() {
        let look = ReadyLook {
            done: 12,
            looked: 40,
            by: LookBy::List,
            at: 1_800_000_000,
        };
        let item = HashMap::from([("ready_look".to_owned(), look.to_attr())]);
        assert_eq!(ReadyLook::read(&item), Some(look));
        let sample = ReadyLook {
            by: LookBy::HeadSample,
            ..look
        };
        let item = HashMap::from([("ready_look".to_owned(), sample.to_attr())]);
        assert_eq!(ReadyLook::read(&item), Some(sample));
        assert_eq!(ReadyLook::read(&HashMap::new()), None);
    }
}
