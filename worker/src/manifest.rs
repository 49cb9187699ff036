//! The lot's inputs: `job.json` and the lot manifest, read from the job's control location.
//! The manifest is spooled to a local file and streamed from there on every pass, so memory does
//! not grow with the lot size.

use std::fs::File;
use std::io::{BufReader, Write};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use thaw_common::aws::AwsError;
use thaw_common::keys::{KeyLine, KeyReader};
use thaw_common::plan::KeyOrder;
use thaw_common::spec::{JobSpec, S3Location, JOB_SPEC_NAME};

use crate::metrics::Metrics;

/// Reads and parses `job.json`.
pub async fn read_spec(
    s3: &aws_sdk_s3::Client,
    control: &S3Location,
    metrics: &Metrics,
) -> Result<JobSpec> {
    Metrics::inc(&metrics.s3_get);
    let key = control.key(JOB_SPEC_NAME);
    let out = s3
        .get_object()
        .bucket(&control.bucket)
        .key(&key)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("GetObject", &e))
        .with_context(|| format!("reading job spec s3://{}/{key}", control.bucket))?;
    let body = out
        .body
        .collect()
        .await
        .with_context(|| format!("reading job spec s3://{}/{key}", control.bucket))?
        .into_bytes();
    serde_json::from_slice(&body)
        .with_context(|| format!("parsing job spec s3://{}/{key}", control.bucket))
}

/// A lot manifest spooled to a local file; removed when dropped.
pub struct Manifest {
    path: PathBuf,
    /// Number of keys in it.
    pub len: usize,
    /// How its keys lie in the bucket's key order (from the lot item).
    pub order: KeyOrder,
}

impl Manifest {
    /// Downloads the manifest at `uri` (`s3://bucket/key`) and checks it holds `expected` keys.
    pub async fn fetch(
        s3: &aws_sdk_s3::Client,
        uri: &str,
        expected: u64,
        metrics: &Metrics,
    ) -> Result<Self> {
        let (bucket, key) = thaw_common::spec::object_uri(uri)
            .with_context(|| format!("bad manifest location '{uri}'"))?;
        Metrics::inc(&metrics.s3_get);
        let mut out = s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetObject", &e))
            .with_context(|| format!("reading lot manifest {uri}"))?;
        let name = {
            use std::hash::{BuildHasher, RandomState};
            format!(
                "thaw-manifest-{}-{:016x}.txt",
                std::process::id(),
                RandomState::new().hash_one(uri)
            )
        };
        let path = std::env::temp_dir().join(name);
        let mut file =
            File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        while let Some(chunk) = out
            .body
            .try_next()
            .await
            .with_context(|| format!("reading lot manifest {uri}"))?
        {
            file.write_all(&chunk)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        file.flush()?;
        let mut manifest = Manifest {
            path,
            len: 0,
            order: KeyOrder::Scattered,
        };
        let mut len = 0usize;
        for line in manifest.keys()? {
            line.with_context(|| format!("lot manifest {uri}"))?;
            len += 1;
        }
        if len as u64 != expected {
            bail!("lot manifest {uri} holds {len} keys, but the lot item says {expected}");
        }
        manifest.len = len;
        Ok(manifest)
    }

    /// Streams the entries (key, pinned version, destination), in manifest order.
    pub fn keys(&self) -> Result<KeyReader<BufReader<File>>> {
        let f =
            File::open(&self.path).with_context(|| format!("opening {}", self.path.display()))?;
        Ok(KeyReader::new(BufReader::new(f)))
    }

    /// The entry at position `index` (used to abort a stale upload of its copy).
    pub fn entry_at(&self, index: usize) -> Result<Option<KeyLine>> {
        Ok(self.keys()?.nth(index).transpose()?)
    }
}

impl Drop for Manifest {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
