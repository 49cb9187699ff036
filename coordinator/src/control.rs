//! The job's control location (`s3://<control-bucket>/<prefix><job-id>/`): the lot manifests,
//! one per lot, and `job.json`, uploaded by `launch` before anything is recorded.
//!
//! Pass 2 of the key list ([`upload_manifests`]) re-reads it and uploads one manifest per lot,
//! building one lot body at a time with a bounded number of uploads in flight, so memory does
//! not grow with the key count; the list is fingerprinted again on the way, so a list that
//! changed since pass 1 is noticed. Concatenating the manifests in lot order gives the
//! normalised input (one key and `\n` per key, blank lines and `\r` removed).

use std::io::BufRead;

use anyhow::{anyhow, bail, Context};
use aws_sdk_s3::primitives::ByteStream;
use futures::{StreamExt, TryStreamExt};
use thaw_common::aws::AwsError;
use thaw_common::keys::KeyReader;
use thaw_common::plan::{LotOrder, OrderCheck};
use thaw_common::spec::{lot_manifest_name, JobSpec, S3Location, JOB_SPEC_NAME};

use crate::ids::Fingerprint;
use crate::keylist::KeyList;

/// Lot manifests uploaded at once.
const MANIFEST_UPLOADS: usize = 8;

/// Builds lot bodies one at a time from a second read of the key list, re-fingerprinting as it
/// goes so a list that changed since pass 1 is noticed.
struct LotBodies<R> {
    reader: KeyReader<R>,
    /// The key order (and range) of each lot built so far, in lot order.
    orders: Vec<LotOrder>,
    sizes: Vec<u64>,
    next: usize,
    fp: Fingerprint,
    failed: bool,
    name: String,
}

impl<R: BufRead> Iterator for LotBodies<R> {
    type Item = anyhow::Result<(u32, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.next >= self.sizes.len() {
            return None;
        }
        let lot = self.next;
        self.next += 1;
        let mut body = Vec::new();
        let mut order = OrderCheck::default();
        for _ in 0..self.sizes[lot] {
            match self.reader.next() {
                Some(Ok(line)) => {
                    order.add(&line.key, line.version_id.is_some());
                    let text = line.encode();
                    self.fp.add(&text);
                    body.extend_from_slice(text.as_bytes());
                    body.push(b'\n');
                }
                Some(Err(e)) => {
                    self.failed = true;
                    return Some(Err(anyhow!(e).context(format!(
                        "key list {} changed since it was validated",
                        self.name
                    ))));
                }
                None => {
                    self.failed = true;
                    return Some(Err(anyhow!(
                        "key list {} changed since it was validated: it ended in lot {lot}",
                        self.name
                    )));
                }
            }
        }
        self.orders.push(order.lot_order());
        match u32::try_from(lot) {
            Ok(lot) => Some(Ok((lot, body))),
            Err(_) => {
                self.failed = true;
                Some(Err(anyhow!("too many lots")))
            }
        }
    }
}

impl<R: BufRead> LotBodies<R> {
    /// Reads what is left and checks the list is the one pass 1 saw; the key order of each lot.
    fn finish(mut self, expected: &str) -> anyhow::Result<Vec<LotOrder>> {
        for item in self.reader.by_ref() {
            let line = item.with_context(|| format!("key list {}", self.name))?;
            self.fp.add(&line.encode());
        }
        if self.fp.finish() != expected {
            bail!(
                "key list {} changed since it was validated; nothing was recorded, launch again",
                self.name
            );
        }
        Ok(self.orders)
    }
}

/// The `s3://` URI of lot `lot`'s manifest (recorded on the lot item).
pub fn manifest_uri(control: &S3Location, lot: u32) -> String {
    control.uri(&lot_manifest_name(lot))
}

async fn put_object(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
    content_type: &str,
) -> anyhow::Result<()> {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("PutObject", &e))
        .with_context(|| format!("uploading s3://{bucket}/{key}"))?;
    Ok(())
}

/// Pass 2: uploads one manifest per lot (`sizes[i]` keys for lot `i`, in input order) under
/// `control`, at most [`MANIFEST_UPLOADS`] at once, and checks the list did not change; returns
/// the order of each lot's keys in the bucket's key order.
pub async fn upload_manifests(
    s3: &aws_sdk_s3::Client,
    control: &S3Location,
    keys: &KeyList,
    sizes: &[u64],
) -> anyhow::Result<Vec<LotOrder>> {
    let mut bodies = LotBodies {
        reader: keys.reopen()?,
        orders: Vec::new(),
        sizes: sizes.to_vec(),
        next: 0,
        fp: Fingerprint::default(),
        failed: false,
        name: keys.name().to_owned(),
    };
    futures::stream::iter(&mut bodies)
        .map(|item| async move {
            let (lot, body) = item?;
            let key = control.key(&lot_manifest_name(lot));
            put_object(s3, &control.bucket, &key, body, "text/plain; charset=utf-8").await
        })
        .buffer_unordered(MANIFEST_UPLOADS)
        .try_collect::<()>()
        .await?;
    bodies.finish(&keys.fingerprint)
}

/// Uploads `job.json` (the pretty-printed spec) under the job's control location.
pub async fn put_job_spec(s3: &aws_sdk_s3::Client, spec: &JobSpec) -> anyhow::Result<()> {
    let body = serde_json::to_vec_pretty(spec).context("serialising the job spec")?;
    let key = spec.control.key(JOB_SPEC_NAME);
    put_object(s3, &spec.control.bucket, &key, body, "application/json").await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keylist::fingerprint_of;
    use thaw_common::plan::{KeyOrder, KeyRange};

    fn orders(lots: Vec<LotOrder>) -> Vec<KeyOrder> {
        lots.into_iter().map(|l| l.order).collect()
    }

    fn bodies<'a>(input: &'a [u8], sizes: &[u64]) -> LotBodies<&'a [u8]> {
        LotBodies {
            reader: KeyReader::new(input),
            orders: Vec::new(),
            sizes: sizes.to_vec(),
            next: 0,
            fp: Fingerprint::default(),
            failed: false,
            name: "test".into(),
        }
    }

    fn pass1(input: &[u8]) -> String {
        fingerprint_of(input, "test", false)
            .map(|(fp, _)| fp)
            .expect("valid")
            .finish()
    }

    #[test]
    fn lots_concatenate_to_normalised_input() {
        let input = b"a\r\n\nb c\n+%20\nd";
        let mut it = bodies(input, &[2, 2]);
        let got: Vec<_> = it.by_ref().map(|r| r.expect("lot")).collect();
        assert_eq!(
            got,
            vec![(0, b"a\nb c\n".to_vec()), (1, b"+%20\nd\n".to_vec())]
        );
        // lot 0 is in S3's key order; lot 1's "+ " sorts before "d" too
        let lots = it.finish(&pass1(input)).expect("unchanged");
        let range = |a: &str, b: &str| {
            Some(KeyRange {
                first: a.into(),
                last: b.into(),
            })
        };
        assert_eq!(lots[0].range, range("a", "b c"));
        assert_eq!(lots[1].range, range("+%20", "d"));
        assert_eq!(orders(lots), vec![KeyOrder::Sorted, KeyOrder::Sorted]);
        let mut it = bodies(b"b\na\nc\n", &[2, 1]);
        assert!(it.by_ref().all(|r| r.is_ok()));
        assert_eq!(
            orders(it.finish(&pass1(b"b\na\nc\n")).expect("unchanged")),
            vec![KeyOrder::Scattered, KeyOrder::Sorted]
        );
    }

    #[test]
    fn changed_list_is_noticed() {
        // shorter than planned
        let mut it = bodies(b"a\nb\n", &[2, 2]);
        assert!(it.next().expect("lot 0").is_ok());
        let e = it.next().expect("lot 1").unwrap_err().to_string();
        assert!(e.contains("changed"), "{e}");
        assert!(it.next().is_none());
        // longer than planned
        let mut it = bodies(b"a\nb\nc\n", &[2]);
        assert!(it.next().expect("lot 0").is_ok());
        assert!(it.finish(&pass1(b"a\nb\n")).is_err());
        // same length, other keys
        let mut it = bodies(b"a\nx\n", &[2]);
        assert!(it.next().expect("lot 0").is_ok());
        assert!(it.finish(&pass1(b"a\nb\n")).is_err());
    }

    #[test]
    fn manifest_uris() {
        let control = S3Location::new("ctl", "thaw/").join("job1");
        assert_eq!(
            manifest_uri(&control, 3),
            "s3://ctl/thaw/job1/lots/00003.txt"
        );
    }
}
