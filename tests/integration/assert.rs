//! What the tests check about objects on the emulator, in one place: an object's storage class,
//! bytes, content headers (Expires included), user metadata, tags, encryption (KMS key and
//! bucket-key setting), website redirect, object lock settings and checksum algorithm after a
//! copy, and that a bucket holds no multipart upload. Each failure names the object and the
//! attribute.
//!
//! ```ignore
//! assert_object(&c, &bucket, key)
//!     .class("STANDARD_IA")
//!     .content_type("application/x-thaw")
//!     .metadata("owner", "ops team")
//!     .tags(&[("project", "thaw")])
//!     .body(&bytes)
//!     .check()
//!     .await;
//! ```

#![allow(dead_code)]

use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::primitives::DateTime;
use aws_sdk_s3::types::{ChecksumMode, ServerSideEncryption};

use crate::rig::{get_body, Clients};

/// The checks of one object, made by [`ObjectCheck::check`]; start with [`assert_object`].
#[must_use = "nothing is checked until .check().await"]
pub struct ObjectCheck<'a> {
    c: &'a Clients,
    bucket: &'a str,
    key: &'a str,
    class: Option<String>,
    headers: Vec<(Header, String)>,
    metadata: Vec<(String, String)>,
    sse: Option<ServerSideEncryption>,
    kms_key: Option<String>,
    bucket_key: Option<bool>,
    lock: Vec<Lock>,
    checksum: Option<String>,
    tags: Option<Vec<(String, String)>>,
    body: Option<Vec<u8>>,
}

/// An object lock setting.
#[derive(Debug, Clone)]
enum Lock {
    Mode(String),
    RetainUntil(DateTime),
    LegalHold(String),
}

/// The content headers a copy must keep.
#[derive(Debug, Clone, Copy)]
enum Header {
    ContentType,
    ContentEncoding,
    ContentDisposition,
    ContentLanguage,
    CacheControl,
    /// As S3 sends it (an HTTP date).
    Expires,
    WebsiteRedirect,
}

/// Starts the checks of `bucket`/`key`.
pub fn assert_object<'a>(c: &'a Clients, bucket: &'a str, key: &'a str) -> ObjectCheck<'a> {
    ObjectCheck {
        c,
        bucket,
        key,
        class: None,
        headers: Vec::new(),
        metadata: Vec::new(),
        sse: None,
        kms_key: None,
        bucket_key: None,
        lock: Vec::new(),
        checksum: None,
        tags: None,
        body: None,
    }
}

impl ObjectCheck<'_> {
    /// Its storage class, as S3 names it (an object without one is STANDARD).
    pub fn class(mut self, class: &str) -> Self {
        self.class = Some(class.to_owned());
        self
    }

    /// Its Content-Type.
    pub fn content_type(self, value: &str) -> Self {
        self.header(Header::ContentType, value)
    }

    /// Its Content-Encoding.
    pub fn content_encoding(self, value: &str) -> Self {
        self.header(Header::ContentEncoding, value)
    }

    /// Its Content-Disposition.
    pub fn content_disposition(self, value: &str) -> Self {
        self.header(Header::ContentDisposition, value)
    }

    /// Its Content-Language.
    pub fn content_language(self, value: &str) -> Self {
        self.header(Header::ContentLanguage, value)
    }

    /// Its Cache-Control.
    pub fn cache_control(self, value: &str) -> Self {
        self.header(Header::CacheControl, value)
    }

    /// Its Expires header, as S3 sends it (`Wed, 02 Jan 2030 03:04:05 GMT`).
    pub fn expires(self, value: &str) -> Self {
        self.header(Header::Expires, value)
    }

    /// Its website redirect location.
    pub fn website_redirect(self, value: &str) -> Self {
        self.header(Header::WebsiteRedirect, value)
    }

    fn header(mut self, header: Header, value: &str) -> Self {
        self.headers.push((header, value.to_owned()));
        self
    }

    /// One entry of its user metadata (other entries may exist).
    pub fn metadata(mut self, name: &str, value: &str) -> Self {
        self.metadata.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Its server-side encryption.
    pub fn sse(mut self, sse: ServerSideEncryption) -> Self {
        self.sse = Some(sse);
        self
    }

    /// Its SSE-KMS key id.
    pub fn kms_key(mut self, key_id: &str) -> Self {
        self.kms_key = Some(key_id.to_owned());
        self
    }

    /// Whether it uses an S3 Bucket Key (SSE-KMS).
    pub fn bucket_key(mut self, enabled: bool) -> Self {
        self.bucket_key = Some(enabled);
        self
    }

    /// Its object lock retention mode (`GOVERNANCE`, `COMPLIANCE`).
    pub fn lock_mode(mut self, mode: &str) -> Self {
        self.lock.push(Lock::Mode(mode.to_owned()));
        self
    }

    /// Its object lock retain-until date (to the second).
    pub fn retain_until(mut self, until: DateTime) -> Self {
        self.lock.push(Lock::RetainUntil(until));
        self
    }

    /// Its object lock legal hold (`ON`, `OFF`).
    pub fn legal_hold(mut self, status: &str) -> Self {
        self.lock.push(Lock::LegalHold(status.to_owned()));
        self
    }

    /// The algorithm of the checksum S3 keeps for it (`CRC32`, `CRC32C`, `CRC64NVME`, `SHA1`,
    /// `SHA256`), as HeadObject with checksum mode reports it.
    pub fn checksum_algorithm(mut self, algorithm: &str) -> Self {
        self.checksum = Some(algorithm.to_owned());
        self
    }

    /// Exactly these tags, in any order.
    pub fn tags(mut self, tags: &[(&str, &str)]) -> Self {
        let mut tags: Vec<(String, String)> = tags
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        tags.sort();
        self.tags = Some(tags);
        self
    }

    /// Exactly these bytes.
    pub fn body(mut self, body: impl AsRef<[u8]>) -> Self {
        self.body = Some(body.as_ref().to_vec());
        self
    }

    /// Makes every check (HeadObject, GetObjectTagging and GetObject only as needed).
    pub async fn check(self) {
        let (bucket, key) = (self.bucket, self.key);
        let needs_head = self.class.is_some()
            || !self.headers.is_empty()
            || !self.metadata.is_empty()
            || self.sse.is_some()
            || self.kms_key.is_some()
            || self.bucket_key.is_some()
            || !self.lock.is_empty()
            || self.checksum.is_some();
        if needs_head {
            self.check_head().await;
        }
        if let Some(expected) = &self.tags {
            assert_eq!(
                &tags_of(self.c, bucket, key).await,
                expected,
                "tags of {bucket}/{key}"
            );
        }
        if let Some(expected) = &self.body {
            let got = get_body(self.c, bucket, key).await;
            // not assert_eq!: a multi-MiB diff says less than the lengths
            assert!(
                &got == expected,
                "bytes of {bucket}/{key} changed ({} bytes, {} expected)",
                got.len(),
                expected.len()
            );
        }
    }

    async fn check_head(&self) {
        let (bucket, key) = (self.bucket, self.key);
        let h = self
            .c
            .s3
            .head_object()
            .bucket(bucket)
            .key(key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap_or_else(|e| panic!("head {bucket}/{key}: {e:?}"));
        if let Some(class) = &self.class {
            let got = h.storage_class().map_or("STANDARD", |s| s.as_str());
            assert_eq!(got, class, "storage class of {bucket}/{key}");
        }
        for (header, value) in &self.headers {
            let got = match header {
                Header::ContentType => h.content_type(),
                Header::ContentEncoding => h.content_encoding(),
                Header::ContentDisposition => h.content_disposition(),
                Header::ContentLanguage => h.content_language(),
                Header::CacheControl => h.cache_control(),
                Header::Expires => h.expires_string(),
                Header::WebsiteRedirect => h.website_redirect_location(),
            };
            assert_eq!(got, Some(value.as_str()), "{header:?} of {bucket}/{key}");
        }
        for (name, value) in &self.metadata {
            let got = h.metadata().and_then(|m| m.get(name)).map(String::as_str);
            assert_eq!(
                got,
                Some(value.as_str()),
                "metadata {name} of {bucket}/{key}"
            );
        }
        if let Some(sse) = &self.sse {
            assert_eq!(
                h.server_side_encryption(),
                Some(sse),
                "encryption of {bucket}/{key}"
            );
        }
        if let Some(kms_key) = &self.kms_key {
            assert_eq!(
                h.ssekms_key_id(),
                Some(kms_key.as_str()),
                "KMS key of {bucket}/{key}"
            );
        }
        if let Some(enabled) = self.bucket_key {
            assert_eq!(
                h.bucket_key_enabled(),
                Some(enabled),
                "bucket key of {bucket}/{key}"
            );
        }
        self.check_lock(&h);
        if let Some(algorithm) = &self.checksum {
            assert_eq!(
                checksum_algorithm_of(&h),
                Some(algorithm.as_str()),
                "checksum algorithm of {bucket}/{key}"
            );
        }
    }

    fn check_lock(&self, h: &HeadObjectOutput) {
        let (bucket, key) = (self.bucket, self.key);
        for lock in &self.lock {
            match lock {
                Lock::Mode(mode) => assert_eq!(
                    h.object_lock_mode().map(|m| m.as_str()),
                    Some(mode.as_str()),
                    "object lock mode of {bucket}/{key}"
                ),
                Lock::RetainUntil(until) => assert_eq!(
                    h.object_lock_retain_until_date().map(DateTime::secs),
                    Some(until.secs()),
                    "object lock retain-until date of {bucket}/{key}"
                ),
                Lock::LegalHold(status) => assert_eq!(
                    h.object_lock_legal_hold_status().map(|s| s.as_str()),
                    Some(status.as_str()),
                    "legal hold of {bucket}/{key}"
                ),
            }
        }
    }
}

/// The algorithm of the checksum a HeadObject (with checksum mode) reports.
fn checksum_algorithm_of(h: &HeadObjectOutput) -> Option<&'static str> {
    [
        ("CRC32", h.checksum_crc32()),
        ("CRC32C", h.checksum_crc32_c()),
        ("CRC64NVME", h.checksum_crc64_nvme()),
        ("SHA1", h.checksum_sha1()),
        ("SHA256", h.checksum_sha256()),
    ]
    .into_iter()
    .find_map(|(name, value)| value.map(|_| name))
}

/// The tags of an object as `(key, value)`, sorted.
pub async fn tags_of(c: &Clients, bucket: &str, key: &str) -> Vec<(String, String)> {
    let out =
        c.s3.get_object_tagging()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("tags of {bucket}/{key}: {e:?}"));
    let mut tags: Vec<(String, String)> = out
        .tag_set()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect();
    tags.sort();
    tags
}

/// Every key of `keys` is in `class`.
pub async fn assert_all_in_class(c: &Clients, bucket: &str, keys: &[impl AsRef<str>], class: &str) {
    for key in keys {
        assert_object(c, bucket, key.as_ref())
            .class(class)
            .check()
            .await;
    }
}

/// `bucket` holds no multipart upload (`why` says whose upload it would be).
pub async fn assert_no_uploads(c: &Clients, bucket: &str, why: &str) {
    let out =
        c.s3.list_multipart_uploads()
            .bucket(bucket)
            .send()
            .await
            .unwrap_or_else(|e| panic!("list uploads of {bucket}: {e:?}"));
    let keys: Vec<&str> = out.uploads().iter().filter_map(|u| u.key()).collect();
    assert!(
        keys.is_empty(),
        "{why}: uploads of {keys:?} left in {bucket}"
    );
}

/// Expectations added to an [`ObjectCheck`].
type Expect = for<'a> fn(ObjectCheck<'a>) -> ObjectCheck<'a>;

/// Whether the check that `edit` makes of `bucket`/`key` fails (panics).
async fn fails(c: &Clients, bucket: &str, key: &str, edit: Expect) -> bool {
    let (c, bucket, key) = (c.clone(), bucket.to_owned(), key.to_owned());
    // a task of its own, so its panic is an answer here (and its message shows on stderr)
    tokio::spawn(async move { edit(assert_object(&c, &bucket, &key)).check().await })
        .await
        .is_err()
}

/// The checks pass on what an object holds and fail on any difference, so a test using them
/// cannot pass without looking.
#[tokio::test(flavor = "multi_thread")]
async fn object_checks_fail_on_any_difference() {
    use crate::rig::{create_bucket, unique, Moto};
    use aws_sdk_s3::types::StorageClass;
    let moto = Moto::shared();
    let c = moto.clients().await;
    let bucket = unique("checks");
    create_bucket(&c, &bucket).await;
    c.s3.put_object()
        .bucket(&bucket)
        .key("k")
        .storage_class(StorageClass::StandardIa)
        .content_type("text/plain")
        .cache_control("max-age=60")
        .metadata("owner", "ops")
        .tagging("a=1&b=2")
        .body(b"x".to_vec().into())
        .send()
        .await
        .expect("put");
    assert_object(&c, &bucket, "k")
        .class("STANDARD_IA")
        .content_type("text/plain")
        .cache_control("max-age=60")
        .metadata("owner", "ops")
        .tags(&[("b", "2"), ("a", "1")])
        .body(b"x")
        .check()
        .await;
    assert_all_in_class(&c, &bucket, &["k"], "STANDARD_IA").await;
    assert_no_uploads(&c, &bucket, "none started").await;

    let mismatches: [(&str, Expect); 10] = [
        ("class", |o| o.class("GLACIER")),
        ("content type", |o| o.content_type("text/html")),
        ("content encoding", |o| o.content_encoding("gzip")),
        ("cache control", |o| o.cache_control("no-cache")),
        ("metadata value", |o| o.metadata("owner", "someone else")),
        ("metadata entry", |o| o.metadata("batch", "42")),
        ("a tag too few", |o| o.tags(&[("a", "1")])),
        ("body", |o| o.body(b"y")),
        ("encryption", |o| o.sse(ServerSideEncryption::AwsKms)),
        ("KMS key", |o| o.kms_key("arn:aws:kms:us-east-1:1:key/k")),
    ];
    for (what, edit) in mismatches {
        assert!(fails(&c, &bucket, "k", edit).await, "{what}: not caught");
    }
    assert!(
        fails(&c, &bucket, "missing", |o| o.class("STANDARD")).await,
        "a missing object"
    );
    c.s3.create_multipart_upload()
        .bucket(&bucket)
        .key("open")
        .send()
        .await
        .expect("create upload");
    let (c2, b2) = (c.clone(), bucket.clone());
    let open = tokio::spawn(async move { assert_no_uploads(&c2, &b2, "one open").await });
    assert!(open.await.is_err(), "an open upload: not caught");
}

/// The checks of expiry, website redirect, encryption with a bucket key, object lock and checksum
/// algorithm pass on what an object holds and fail on any difference.
#[tokio::test(flavor = "multi_thread")]
async fn attribute_checks_fail_on_any_difference() {
    use crate::rig::{create_lock_bucket, unique, Moto};
    use aws_sdk_s3::types::{ChecksumAlgorithm, ObjectLockLegalHoldStatus, ObjectLockMode};
    let moto = Moto::shared();
    let c = moto.clients().await;
    let bucket = unique("checks");
    create_lock_bucket(&c, &bucket).await;
    let until = DateTime::from_secs(DateTime::from(std::time::SystemTime::now()).secs() + 86_400);
    c.s3.put_object()
        .bucket(&bucket)
        .key("k")
        .expires(DateTime::from_secs(1_893_553_445))
        .website_redirect_location("/moved")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id("arn:aws:kms:us-east-1:123456789012:key/k")
        .bucket_key_enabled(true)
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(until)
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .body(b"x".to_vec().into())
        .send()
        .await
        .expect("put");
    assert_object(&c, &bucket, "k")
        .expires("Wed, 02 Jan 2030 03:04:05 GMT")
        .website_redirect("/moved")
        .bucket_key(true)
        .lock_mode("GOVERNANCE")
        .retain_until(until)
        .legal_hold("ON")
        .checksum_algorithm("SHA256")
        .check()
        .await;
    let mismatches: [(&str, Expect); 7] = [
        ("expires", |o| o.expires("Thu, 03 Jan 2030 03:04:05 GMT")),
        ("website redirect", |o| o.website_redirect("/elsewhere")),
        ("bucket key", |o| o.bucket_key(false)),
        ("lock mode", |o| o.lock_mode("COMPLIANCE")),
        ("retain until", |o| o.retain_until(DateTime::from_secs(1))),
        ("legal hold", |o| o.legal_hold("OFF")),
        ("checksum algorithm", |o| o.checksum_algorithm("CRC32")),
    ];
    for (what, edit) in mismatches {
        assert!(fails(&c, &bucket, "k", edit).await, "{what}: not caught");
    }
}
