//! The job's own item (lot `-1`): written once by `launch`, read by every command.

use super::*;

impl ProgressTable {
    /// Reads the job item.
    pub async fn get_job(&self, job: &str) -> Result<Option<JobItem>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(job, JOB_ITEM_LOT)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.map_err("GetItem", e))?;
        Ok(out.item().map(|item| JobItem {
            job_id: job.to_owned(),
            spec_json: get_s(item, "spec").unwrap_or_default(),
            launcher: get_s(item, "launcher").unwrap_or_default(),
            launch_json: get_s(item, "launch").unwrap_or_default(),
        }))
    }

    /// Writes the job item unless it exists; returns false when it already did.
    pub async fn put_job_if_absent(
        &self,
        job: &JobItem,
        summary: &[(&str, AttributeValue)],
    ) -> Result<bool> {
        let mut item = key(&job.job_id, JOB_ITEM_LOT);
        item.insert("kind".into(), s("JOB"));
        item.insert("spec".into(), s(&job.spec_json));
        item.insert("launcher".into(), s(&job.launcher));
        item.insert("launch".into(), s(&job.launch_json));
        item.insert("created_at".into(), n(now_secs()));
        for (k, v) in summary {
            item.insert((*k).to_owned(), v.clone());
        }
        self.put_if_absent(item).await
    }

    /// Replaces the job's spec in its item with `new`, only if it is still `old` (both JSON):
    /// returns false when another coordinator changed it first. `job.json` keeps the spec as
    /// launched; the table's copy is the one the commands read.
    pub async fn replace_job_spec(&self, job: &str, old: &str, new: &str) -> Result<bool> {
        match self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(job, JOB_ITEM_LOT)))
            .update_expression("SET spec = :new")
            .condition_expression("spec = :old")
            .expression_attribute_values(":new", s(new))
            .expression_attribute_values(":old", s(old))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_code(&e, "ConditionalCheckFailedException") => Ok(false),
            Err(e) => Err(self.map_err("UpdateItem", e)),
        }
    }

    pub(super) async fn put_if_absent(
        &self,
        item: HashMap<String, AttributeValue>,
    ) -> Result<bool> {
        match self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_code(&e, "ConditionalCheckFailedException") => Ok(false),
            Err(e) => Err(self.map_err("PutItem", e)),
        }
    }

    /// Every job item in the table (a Scan that keeps only `lot = -1` items), newest first.
    pub async fn jobs(&self) -> Result<Vec<JobSummary>> {
        let mut jobs = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("#sk = :job")
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":job", n(JOB_ITEM_LOT))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| self.map_err("Scan", e))?;
            for item in out.items() {
                jobs.push(JobSummary {
                    job_id: get_s(item, PK).unwrap_or_default(),
                    created_at: get_n(item, "created_at"),
                    spec_json: get_s(item, "spec").unwrap_or_default(),
                    launcher: get_s(item, "launcher").unwrap_or_default(),
                });
            }
            start = out.last_evaluated_key().cloned();
            if start.is_none() {
                break;
            }
        }
        jobs.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then(b.job_id.cmp(&a.job_id))
        });
        Ok(jobs)
    }
}
