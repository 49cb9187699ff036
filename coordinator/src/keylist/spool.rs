//! Private temp files ("spools") that hold a key list, or an object streamed from S3, so it can be
//! read again without holding it in memory; each is removed when its [`Spool`] is dropped.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::path::PathBuf;

use anyhow::Context;
use thaw_common::aws::AwsError;

/// A temp file that is removed when dropped.
#[derive(Debug)]
pub struct Spool(PathBuf);

impl Spool {
    /// Where the temp file is.
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Copies everything read from `inner` into `copy`.
pub struct Tee<R, W> {
    /// What is read.
    pub inner: R,
    /// Where a copy of it goes.
    pub copy: W,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// A new private temp file, removed when the returned [`Spool`] is dropped.
pub fn create_spool() -> anyhow::Result<(File, Spool)> {
    let dir = std::env::temp_dir();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let path = dir.join(format!("thaw-keys-{}-{nanos}.txt", std::process::id()));
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let file = opts
        .open(&path)
        .with_context(|| format!("creating a temp file for the key list in {}", dir.display()))?;
    Ok((file, Spool(path)))
}

/// Streams the object `key` of `bucket` into a new spool (`what` names it in errors): memory
/// does not grow with its size.
pub async fn download(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    what: &str,
) -> anyhow::Result<Spool> {
    let mut body = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("GetObject", &e))
        .with_context(|| format!("reading {what}"))?
        .body;
    let (file, spool) = create_spool()?;
    let mut writer = BufWriter::new(file);
    while let Some(chunk) = body
        .try_next()
        .await
        .with_context(|| format!("reading {what}"))?
    {
        writer
            .write_all(&chunk)
            .with_context(|| format!("writing {}", spool.path().display()))?;
    }
    writer
        .flush()
        .with_context(|| format!("writing {}", spool.path().display()))?;
    Ok(spool)
}
