//! Lot items: written PENDING by `launch` (never reset by a re-launch), read back whole.

use super::*;
use crate::plan::{KeyRange, LotOrder};

impl ProgressTable {
    /// Writes a PENDING lot item unless it exists (a re-launch never resets progress); its keys'
    /// order is not known (scattered).
    pub async fn put_lot_if_absent(
        &self,
        job: &str,
        lot: u32,
        keys_total: u64,
        manifest: &str,
    ) -> Result<bool> {
        self.put_lot_in_order_if_absent(job, lot, keys_total, manifest, &LotOrder::default())
            .await
    }

    /// Writes a PENDING lot item unless it exists, with the order of its keys (and, for a sorted
    /// lot, its first and last key).
    pub async fn put_lot_in_order_if_absent(
        &self,
        job: &str,
        lot: u32,
        keys_total: u64,
        manifest: &str,
        order: &LotOrder,
    ) -> Result<bool> {
        let mut item = key(job, i64::from(lot));
        item.insert("kind".into(), s("LOT"));
        item.insert("state".into(), s(LotState::Pending.as_str()));
        item.insert("attempt".into(), n(0));
        item.insert("keys_total".into(), n(keys_total));
        for c in [
            "restore_requested",
            "restored",
            "copied",
            "skipped",
            "failed",
            "bytes_copied",
        ] {
            item.insert(c.into(), n(0));
        }
        item.insert("manifest".into(), s(manifest));
        item.insert("key_order".into(), s(order.order.as_str()));
        if let Some(KeyRange { first, last }) = &order.range {
            item.insert("first_key".into(), s(first));
            item.insert("last_key".into(), s(last));
        }
        item.insert("uploads".into(), AttributeValue::M(HashMap::new()));
        item.insert("updated_at".into(), n(now_secs()));
        self.put_if_absent(item).await
    }

    /// Reads one lot.
    pub async fn get_lot(&self, job: &str, lot: u32) -> Result<Option<LotItem>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(job, i64::from(lot))))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.map_err("GetItem", e))?;
        out.item().map(|i| LotItem::parse(job, i)).transpose()
    }

    /// Reads every lot of a job, in lot order.
    pub async fn lots(&self, job: &str) -> Result<Vec<LotItem>> {
        let mut lots = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :j AND #sk >= :zero")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":j", s(job))
                .expression_attribute_values(":zero", n(0))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| self.map_err("Query", e))?;
            for item in out.items() {
                lots.push(LotItem::parse(job, item)?);
            }
            start = out.last_evaluated_key().cloned();
            if start.is_none() {
                break;
            }
        }
        lots.sort_by_key(|l| l.lot);
        Ok(lots)
    }
}
