//! The lot's `uploads` map: multipart uploads in flight and source versions to delete, one
//! [`UploadEntry`] each, so a run that dies leaves a trace the next run finishes from.

use super::*;

impl ProgressTable {
    /// Writes one entry of the lot's `uploads` map (an upload being created or open, or a source
    /// version to delete after its copy), so a run that dies leaves a trace the next run
    /// finishes or cleans up from.
    pub async fn put_upload_entry(
        &self,
        job: &str,
        lot: u32,
        attempt: u64,
        entry: &UploadEntry,
    ) -> Result<()> {
        self.set_in_uploads(job, lot, attempt, &entry.name(), &entry.value())
            .await
    }

    /// Removes one entry of the lot's `uploads` map (the upload completed or was aborted, the
    /// source version was deleted, or no copy was made).
    pub async fn remove_upload_entry(
        &self,
        job: &str,
        lot: u32,
        attempt: u64,
        slot: UploadSlot,
    ) -> Result<()> {
        self.remove_from_uploads(job, lot, attempt, &slot.name())
            .await
    }

    async fn set_in_uploads(
        &self,
        job: &str,
        lot: u32,
        attempt: u64,
        name: &str,
        value: &str,
    ) -> Result<()> {
        self.fenced_update_named(
            job,
            lot,
            attempt,
            "SET uploads.#i = :v, updated_at = :now",
            vec![(":v", s(value))],
            &[("#i", name.to_owned())],
        )
        .await
    }

    async fn remove_from_uploads(
        &self,
        job: &str,
        lot: u32,
        attempt: u64,
        name: &str,
    ) -> Result<()> {
        self.fenced_update_named(
            job,
            lot,
            attempt,
            "REMOVE uploads.#i SET updated_at = :now",
            vec![],
            &[("#i", name.to_owned())],
        )
        .await
    }
}
