//! The lot's `uploads` map: multipart uploads in flight and source versions to delete, one
//! [`UploadEntry`] each, so a run that dies leaves a trace the next run finishes from.
//!
//! Every write of the map rewrites the whole lot item (DynamoDB bills ceil(item KB) write units
//! whatever changed: about 6 at 5,000 keys), and the item is one partition's worth of writes
//! (1,000 units/s). So the worker sends the changes of all its keys in flight together
//! ([`ProgressTable::put_upload_changes`]), not one UpdateItem per change.

use super::*;
use crate::upload_record::{merge_changes, UploadChange};

impl ProgressTable {
    /// Writes a group of changes to the lot's `uploads` map in one fenced UpdateItem (at most
    /// [`MAX_UPLOAD_CHANGES`](crate::upload_record::MAX_UPLOAD_CHANGES); a later change of the same entry wins). Nothing to change writes
    /// nothing.
    pub async fn put_upload_changes(
        &self,
        job: &str,
        lot: u32,
        attempt: u64,
        changes: &[UploadChange],
    ) -> Result<()> {
        let merged = merge_changes(changes);
        if merged.is_empty() {
            return Ok(());
        }
        let (expr, names, values) = changes_expression(&merged);
        let vals = values.iter().map(|(k, v)| (k.as_str(), s(v))).collect();
        let names: Vec<(&str, String)> =
            names.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        self.fenced_update_named(job, lot, attempt, &expr, vals, &names)
            .await
    }
}

/// Placeholder names and values, in order.
type Placeholders = Vec<(String, String)>;

/// The UpdateExpression of a group of changes (`SET uploads.#u0 = :u0, ..., updated_at = :now
/// REMOVE uploads.#u1, ...`), with its `#` names and `:` values.
fn changes_expression(
    merged: &BTreeMap<String, Option<String>>,
) -> (String, Placeholders, Placeholders) {
    let (mut sets, mut removes) = (Vec::new(), Vec::new());
    let (mut names, mut values) = (Vec::new(), Vec::new());
    for (i, (name, value)) in merged.iter().enumerate() {
        names.push((format!("#u{i}"), name.clone()));
        match value {
            Some(v) => {
                sets.push(format!("uploads.#u{i} = :u{i}"));
                values.push((format!(":u{i}"), v.clone()));
            }
            None => removes.push(format!("uploads.#u{i}")),
        }
    }
    sets.push("updated_at = :now".to_owned());
    let mut expr = format!("SET {}", sets.join(", "));
    if !removes.is_empty() {
        expr.push_str(&format!(" REMOVE {}", removes.join(", ")));
    }
    (expr, names, values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upload_record::{UploadEntry, UploadSlot, MAX_UPLOAD_CHANGES};

    #[test]
    fn one_expression_sets_and_removes_a_group() {
        let merged = merge_changes(&[
            UploadChange::Put(UploadEntry::pending_delete(3, 1_700_000_000, "v3")),
            UploadChange::Remove(UploadSlot::PendingDelete(9)),
        ]);
        let (expr, names, values) = changes_expression(&merged);
        assert_eq!(
            expr,
            "SET uploads.#u0 = :u0, updated_at = :now REMOVE uploads.#u1"
        );
        assert_eq!(
            names,
            [
                ("#u0".to_owned(), "3:delete".to_owned()),
                ("#u1".to_owned(), "9:delete".to_owned())
            ]
        );
        assert_eq!(values, [(":u0".to_owned(), "1700000000 v3".to_owned())]);
    }

    #[test]
    fn the_largest_group_fits_an_update_expression() {
        let changes: Vec<UploadChange> = (0..MAX_UPLOAD_CHANGES)
            .map(|i| {
                UploadChange::Put(UploadEntry::pending_delete(199_999 - i, 1_700_000_000, "v"))
            })
            .collect();
        let (expr, ..) = changes_expression(&merge_changes(&changes));
        assert!(expr.len() <= 4096, "{} bytes", expr.len());
    }
}
