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
    /// The lot's attempt it looked at: the look is about that WAITING run only.
    pub attempt: u64,
}

/// The S3 requests a readiness look made (added to the lot's request totals).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LookRequests {
    /// ListObjectsV2 pages.
    pub list: u64,
    /// HeadObject requests.
    pub head: u64,
    /// GetObject of the lot's manifest.
    pub get: u64,
}

impl LookRequests {
    /// The sum of two looks' requests.
    pub fn plus(self, o: Self) -> Self {
        Self {
            list: self.list + o.list,
            head: self.head + o.head,
            get: self.get + o.get,
        }
    }

    /// Each count under its name in the lot's `requests` map.
    fn named(self) -> [(&'static str, u64); 3] {
        [
            ("s3_list", self.list),
            ("s3_head", self.head),
            ("s3_get", self.get),
        ]
    }
}

impl ReadyLook {
    fn to_attr(self) -> AttributeValue {
        AttributeValue::M(HashMap::from([
            ("done".to_owned(), n(self.done)),
            ("looked".to_owned(), n(self.looked)),
            ("by".to_owned(), s(self.by.as_str())),
            ("at".to_owned(), n(self.at)),
            ("attempt".to_owned(), n(self.attempt)),
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
            attempt: get_n(m, "attempt")?,
        })
    }
}

impl LotItem {
    /// `follow`'s last look at this lot's restores, while the lot is still the WAITING run that
    /// look was about.
    pub fn current_ready_look(&self) -> Option<&ReadyLook> {
        self.ready_look
            .as_ref()
            .filter(|r| self.state == LotState::Waiting && r.attempt == self.attempt)
    }
}

impl ProgressTable {
    /// Records a look at WAITING lot `lot` (at `attempt`) whose restores are not ready enough
    /// for a task, and moves its next check to `next_check_at`; `requests` (the look's) are added
    /// to the lot's request totals when it has them (a map a worker run wrote). Refused as
    /// [`ProgressError::Fenced`] when the lot was relaunched or left WAITING meanwhile.
    pub async fn defer_waiting(
        &self,
        job: &str,
        lot: u32,
        attempt: u64,
        next_check_at: i64,
        look: ReadyLook,
        requests: Option<LookRequests>,
    ) -> Result<()> {
        let mut expr = "SET next_check_at = :next, ready_look = :look".to_owned();
        let mut req = self.client.update_item();
        for (name, count) in requests.map(LookRequests::named).into_iter().flatten() {
            if count > 0 {
                expr.push_str(&format!(
                    ", requests.{name} = if_not_exists(requests.{name}, :zero) + :{name}"
                ));
                req = req
                    .expression_attribute_values(format!(":{name}"), n(count))
                    .expression_attribute_values(":zero", n(0));
            }
        }
        let res = req
            .table_name(&self.table)
            .set_key(Some(key(job, i64::from(lot))))
            .update_expression(expr)
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
            attempt: 3,
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

    #[test]
    fn a_look_is_shown_only_for_the_waiting_run_it_looked_at() {
        use crate::fixtures::LotItemBuilder;
        let look = ReadyLook {
            done: 1,
            looked: 2,
            by: LookBy::List,
            at: 5,
            attempt: 2,
        };
        let lot = |state, attempt| {
            LotItemBuilder::new(0, 10)
                .state(state)
                .attempt(attempt)
                .ready_look(look)
                .build()
        };
        assert_eq!(lot(LotState::Waiting, 2).current_ready_look(), Some(&look));
        // relaunched, and WAITING again: the old look is not about this run
        assert_eq!(lot(LotState::Waiting, 3).current_ready_look(), None);
        assert_eq!(lot(LotState::Running, 2).current_ready_look(), None);
    }
}
