//! `follow`'s look at the restores of a WAITING lot that is due, before it starts a task for it:
//! the lot's manifest is read, its waiting keys (restore asked, not done) picked, and their
//! restores looked at with ListObjectsV2 pages where the lot is sorted
//! ([`thaw_common::restore_listing`]), else with HeadObject of a sample of [`SAMPLE`] keys. The
//! verdict is [`crate::readiness`]'s; a lot not worth a task yet gets the look recorded and its
//! next check moved later. A look that fails launches the lot at its scheduled check, as before
//! looks existed; a lot brought forward by events (`follow --events`) keeps its scheduled check
//! instead.

use anyhow::{anyhow, Context};
use aws_sdk_s3::types::RequestPayer;
use futures::StreamExt;
use thaw_common::aws::{Aws, AwsError};
use thaw_common::keys::KeyReader;
use thaw_common::keystate::{parse_restore_header, RestoreStatus};
use thaw_common::plan::KeyOrder;
use thaw_common::progress::{
    now_secs, LookBy, LookRequests, LotItem, ProgressError, ProgressTable, ReadyLook,
};
use thaw_common::restore_listing::{look, page_budget, Archive, Listed};
use thaw_common::spec::JobSpec;
use tracing::{info, warn};

use crate::due::Due;
use crate::readiness::{verdict, Facts, Seen, Verdict};

/// Waiting keys a HEAD look at a scattered lot samples.
pub const SAMPLE: usize = 20;

/// Lots looked at at once.
const LOOKS: usize = 16;

/// A lot due, and why.
type DueLot = (LotItem, Due);

/// A look at one lot: what it saw and how.
#[derive(Debug, Clone, Copy)]
pub struct Looked {
    /// What it saw.
    pub seen: Seen,
    /// How.
    pub by: LookBy,
    /// The S3 requests it made.
    pub requests: LookRequests,
}

/// The lots of `due` worth a task now: every one but the WAITING lots whose look says not yet;
/// those get the look recorded (its requests added to the lot's) and their next check moved
/// later. `brought` are the lots due before their scheduled check (events). The looks'
/// requests are logged in one line.
pub async fn worth_a_task(
    aws: &Aws,
    table: &ProgressTable,
    spec: &JobSpec,
    due: Vec<(LotItem, Due)>,
    brought: &[u32],
    ready_fraction: f64,
) -> Vec<(LotItem, Due)> {
    let s3 = aws.s3();
    let s3 = &s3;
    let looked: Vec<(Option<DueLot>, Option<LookRequests>)> = futures::stream::iter(due)
        .map(|(lot, why)| async move {
            if why != Due::Waiting {
                return (Some((lot, why)), None);
            }
            let early = brought.contains(&lot.lot);
            let (keep, requests) = worth_it(s3, table, spec, &lot, early, ready_fraction).await;
            (keep.then_some((lot, why)), requests)
        })
        .buffered(LOOKS)
        .collect()
        .await;
    let (looks, requests) = looked
        .iter()
        .filter_map(|(_, r)| *r)
        .fold((0, LookRequests::default()), |(n, sum), r| {
            (n + 1, sum.plus(r))
        });
    if looks > 0 {
        info!(
            looks,
            list = requests.list,
            head = requests.head,
            get = requests.get,
            "readiness looks: S3 requests"
        );
    }
    looked.into_iter().filter_map(|(l, _)| l).collect()
}

/// Whether WAITING lot `lot` is worth a task now (when not, its look is recorded), and the
/// requests of the look (none known when it failed). `early`: due before its scheduled check.
async fn worth_it(
    s3: &aws_sdk_s3::Client,
    table: &ProgressTable,
    spec: &JobSpec,
    lot: &LotItem,
    early: bool,
    ready_fraction: f64,
) -> (bool, Option<LookRequests>) {
    let looked = match look_at(s3, spec, lot).await {
        Ok(l) => l,
        Err(e) => {
            let launch = launch_unlooked(early);
            if launch {
                warn!(lot = lot.lot, "{e:#}; launching the lot without a look");
            } else {
                warn!(
                    lot = lot.lot,
                    "{e:#}; brought forward by events: keeping its scheduled check"
                );
            }
            return (launch, None);
        }
    };
    (
        decide(table, spec, lot, &looked, ready_fraction).await,
        Some(looked.requests),
    )
}

/// Whether a lot whose look failed gets a task: at its scheduled check yes (as before looks
/// existed), brought forward by events no (its scheduled check stays; events are a hint).
fn launch_unlooked(early: bool) -> bool {
    !early
}

/// The verdict on a looked-at lot; a lot deferred gets the look recorded.
async fn decide(
    table: &ProgressTable,
    spec: &JobSpec,
    lot: &LotItem,
    looked: &Looked,
    ready_fraction: f64,
) -> bool {
    let now = now_secs();
    let facts = Facts {
        now,
        first_requested_at: lot.checkpoint.restore_requested_at,
        last_requested_at: lot.checkpoint.restore_last_requested_at,
        restore_days: spec.restore_days,
        tier: spec.restore_tier,
        fell_back: lot.counters.tier_fallbacks > 0,
        poll_interval: spec.worker.poll_interval_secs,
        ready_fraction,
    };
    let record = ReadyLook {
        done: looked.seen.ready,
        looked: looked.seen.looked,
        by: looked.by,
        at: now,
        attempt: lot.attempt,
    };
    // the lot's request totals are a map its worker runs write: added to when it exists
    let requests = (!lot.checkpoint.requests.is_empty()).then_some(looked.requests);
    match verdict(&looked.seen, &facts) {
        Verdict::Launch(why) => {
            info!(lot = lot.lot, ready = looked.seen.ready, looked = looked.seen.looked, why = ?why, "restores looked at: worth a task");
            true
        }
        Verdict::Defer(next) => {
            info!(
                lot = lot.lot,
                ready = looked.seen.ready,
                looked = looked.seen.looked,
                in_s = next - now,
                "restores looked at: not worth a task yet"
            );
            match table
                .defer_waiting(&spec.job_id, lot.lot, lot.attempt, next, record, requests)
                .await
            {
                Ok(()) | Err(ProgressError::Fenced { .. }) => false,
                Err(e) => {
                    warn!(lot = lot.lot, "{e:#}; could not record the look");
                    false
                }
            }
        }
    }
}

/// Looks at the restores of the lot's waiting keys.
pub async fn look_at(
    s3: &aws_sdk_s3::Client,
    spec: &JobSpec,
    lot: &LotItem,
) -> anyhow::Result<Looked> {
    let waiting = waiting_keys(s3, lot).await?;
    let payer = spec.request_payer.then_some(RequestPayer::Requester);
    if lot.key_order == KeyOrder::Sorted && waiting.iter().all(|(_, v)| v.is_none()) {
        let names: Vec<&str> = waiting.iter().map(|(k, _)| k.as_str()).collect();
        let budget = page_budget(names.len());
        let l = look(s3, &spec.bucket, payer, &names, budget, || async {})
            .await
            .with_context(|| format!("listing the restores of lot {}", lot.lot))?;
        return Ok(Looked {
            seen: seen_of(l.seen.iter().copied()),
            by: LookBy::List,
            requests: LookRequests {
                list: l.pages,
                get: 1,
                ..LookRequests::default()
            },
        });
    }
    let step = waiting.len().div_ceil(SAMPLE).max(1);
    let sample: Vec<&(String, Option<String>)> = waiting.iter().step_by(step).collect();
    let requests = LookRequests {
        head: sample.len() as u64,
        get: 1,
        ..LookRequests::default()
    };
    let heads = futures::stream::iter(sample)
        .map(|(key, version)| {
            head_restore(s3, &spec.bucket, key, version.as_deref(), payer.clone())
        })
        .buffer_unordered(SAMPLE)
        .collect::<Vec<_>>()
        .await;
    let heads = heads.into_iter().collect::<Result<Vec<_>, _>>()?;
    let mut seen = seen_of(heads.into_iter());
    seen.every_key = step == 1;
    Ok(Looked {
        seen,
        by: LookBy::HeadSample,
        requests,
    })
}

/// What a look saw, from what it saw of each key (the keys not looked at left out).
fn seen_of(listed: impl Iterator<Item = Listed>) -> Seen {
    let mut seen = Seen {
        looked: 0,
        ready: 0,
        every_key: true,
        deep: false,
        first_expiry: None,
    };
    for l in listed {
        if l == Listed::NotLooked {
            seen.every_key = false;
            continue;
        }
        seen.looked += 1;
        match l {
            Listed::InProgress { deep } => seen.deep |= deep,
            Listed::Restored { expires_at } => {
                seen.ready += 1;
                if let Some(e) = expires_at {
                    seen.first_expiry = Some(seen.first_expiry.map_or(e, |f| f.min(e)));
                }
            }
            Listed::NoRestore | Listed::Absent => seen.ready += 1,
            Listed::NotLooked => {}
        }
    }
    seen
}

/// One sampled key's restore, as HeadObject tells it; a missing key is work for a task.
async fn head_restore(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    version: Option<&str>,
    payer: Option<RequestPayer>,
) -> anyhow::Result<Listed> {
    let res = s3
        .head_object()
        .bucket(bucket)
        .key(key)
        .set_version_id(version.map(str::to_owned))
        .set_request_payer(payer)
        .send()
        .await;
    let out = match res {
        Ok(out) => out,
        Err(e) => {
            let err = AwsError::from_sdk("HeadObject", &e);
            if err.status == Some(404) {
                return Ok(Listed::Absent);
            }
            return Err(anyhow!(err).context(format!("looking at s3://{bucket}/{key}")));
        }
    };
    let archive = Archive::of(
        out.storage_class().map(|c| c.as_str()),
        out.archive_status().map(|a| a.as_str()),
    );
    Ok(match parse_restore_header(out.restore()) {
        RestoreStatus::InProgress => Listed::InProgress {
            deep: archive == Archive::Deep,
        },
        RestoreStatus::Restored => Listed::Restored { expires_at: None },
        RestoreStatus::None => Listed::NoRestore,
    })
}

/// The lot's waiting keys (restore asked by the lot, not done), with their pinned versions, in
/// S3's key order.
async fn waiting_keys(
    s3: &aws_sdk_s3::Client,
    lot: &LotItem,
) -> anyhow::Result<Vec<(String, Option<String>)>> {
    let (bucket, key) = thaw_common::spec::object_uri(&lot.manifest)
        .with_context(|| format!("bad manifest location '{}'", lot.manifest))?;
    let body = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("GetObject", &e))
        .with_context(|| format!("reading lot manifest {}", lot.manifest))?
        .body
        .collect()
        .await
        .with_context(|| format!("reading lot manifest {}", lot.manifest))?
        .into_bytes();
    let cp = &lot.checkpoint;
    let mut keys = Vec::new();
    for (i, line) in KeyReader::new(&body[..]).enumerate() {
        if cp.restore_requested.get(i) && !cp.done.get(i) {
            let line = line.with_context(|| format!("lot manifest {}", lot.manifest))?;
            keys.push((line.key, line.version_id));
        }
    }
    keys.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    keys.dedup_by(|a, b| a.0 == b.0);
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_look_launches_only_at_the_scheduled_check() {
        assert!(launch_unlooked(false));
        assert!(!launch_unlooked(true));
    }

    #[test]
    fn what_a_look_saw() {
        let seen = seen_of(
            [
                Listed::InProgress { deep: false },
                Listed::InProgress { deep: true },
                Listed::Restored {
                    expires_at: Some(9),
                },
                Listed::Restored {
                    expires_at: Some(5),
                },
                Listed::Restored { expires_at: None },
                Listed::NoRestore,
                Listed::Absent,
                Listed::NotLooked,
            ]
            .into_iter(),
        );
        assert_eq!(
            seen,
            Seen {
                looked: 7,
                ready: 5,
                every_key: false,
                deep: true,
                first_expiry: Some(5),
            }
        );
    }
}
