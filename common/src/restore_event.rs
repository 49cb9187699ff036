//! S3's "Object Restore Completed" event as EventBridge delivers it to an SQS queue (the message
//! body is the EventBridge envelope, `source` `aws.s3`), read into a [`RestoreEvent`].
//!
//! The key: the S3 user guide's EventBridge message structure shows `detail.object.key` as a
//! plain JSON string and, unlike classic S3 event notifications (whose keys are URL-encoded,
//! `+` for a space), does not say it is encoded. It is read as is; [`RestoreEvent::decoded_keys`]
//! gives the URL-decoded forms, which `follow --events` tries only when the key as is maps to no
//! lot. Either way a wrongly attributed event only brings a lot's look forward: the look
//! reconciles, and nothing is ever copied on the word of an event.

use serde::Deserialize;

/// The `source` of S3's events.
pub const SOURCE: &str = "aws.s3";
/// The `detail-type` of a completed restore.
pub const DETAIL_TYPE: &str = "Object Restore Completed";

/// A completed restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreEvent {
    /// The bucket.
    pub bucket: String,
    /// The object key, as the event carries it.
    pub key: String,
    /// The object version, when the bucket is versioned.
    pub version_id: Option<String>,
    /// When the restored copy expires (RFC 3339, as sent).
    pub expiry: Option<String>,
    /// The archive class the object is in (`GLACIER`, `DEEP_ARCHIVE`, ...).
    pub source_class: Option<String>,
}

impl RestoreEvent {
    /// The key URL-decoded, when that differs from the key as sent and is valid UTF-8, most
    /// likely first: `%XX` as bytes with `+` kept (a `+` in a key is sent as `%2B` by an encoder,
    /// but a key with a literal `+` and a `%XX` is more likely than a form-encoded one), then the
    /// form decode (`+` as a space as well).
    pub fn decoded_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = Vec::new();
        for text in [self.key.clone(), self.key.replace('+', " ")] {
            let Ok(decoded) = percent_encoding::percent_decode_str(&text).decode_utf8() else {
                continue;
            };
            if decoded != self.key && !keys.iter().any(|k| *k == decoded) {
                keys.push(decoded.into_owned());
            }
        }
        keys
    }

    /// Whether the restored copy had already expired at `now` (Unix seconds): an event up to
    /// 14 days old in the queue whose copy is gone says nothing about the object now. An expiry
    /// that is missing or not RFC 3339 is not stale.
    pub fn is_stale(&self, now: i64) -> bool {
        self.expiry
            .as_deref()
            .and_then(|t| {
                aws_smithy_types::DateTime::from_str(
                    t,
                    aws_smithy_types::date_time::Format::DateTime,
                )
                .ok()
            })
            .is_some_and(|t| t.secs() < now)
    }
}

/// What an SQS message body holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A completed restore.
    Restored(RestoreEvent),
    /// Another event (another source or detail-type): nothing to do with restores.
    Ignored {
        /// Its `source`.
        source: String,
        /// Its `detail-type`.
        detail_type: String,
    },
}

/// A message body that is not an EventBridge event, or a restore event without its bucket or key.
#[derive(Debug, thiserror::Error)]
#[error("not an S3 restore event: {0}")]
pub struct Malformed(String);

#[derive(Deserialize)]
struct Envelope {
    source: String,
    #[serde(rename = "detail-type")]
    detail_type: String,
    #[serde(default)]
    detail: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Detail {
    bucket: Bucket,
    object: Object,
    #[serde(rename = "restore-expiry-time", default)]
    expiry: Option<String>,
    #[serde(rename = "source-storage-class", default)]
    source_class: Option<String>,
}

#[derive(Deserialize)]
struct Bucket {
    name: String,
}

#[derive(Deserialize)]
struct Object {
    key: String,
    #[serde(rename = "version-id", default)]
    version_id: Option<String>,
}

/// Reads one SQS message body.
pub fn parse(body: &str) -> Result<Message, Malformed> {
    let env: Envelope = serde_json::from_str(body).map_err(|e| Malformed(e.to_string()))?;
    if env.source != SOURCE || env.detail_type != DETAIL_TYPE {
        return Ok(Message::Ignored {
            source: env.source,
            detail_type: env.detail_type,
        });
    }
    let detail = env
        .detail
        .ok_or_else(|| Malformed("no detail".to_owned()))?;
    let d: Detail = serde_json::from_value(detail).map_err(|e| Malformed(e.to_string()))?;
    if d.bucket.name.is_empty() || d.object.key.is_empty() {
        return Err(Malformed("empty bucket or key".to_owned()));
    }
    Ok(Message::Restored(RestoreEvent {
        bucket: d.bucket.name,
        key: d.object.key,
        version_id: d.object.version_id.filter(|v| !v.is_empty()),
        expiry: d.expiry,
        source_class: d.source_class,
    }))
}

/// The message body S3 sends through EventBridge for a completed restore of `key` in `bucket`
/// (what the tests put into a queue).
#[cfg(any(test, feature = "fixtures"))]
pub fn envelope(bucket: &str, key: &str, version_id: Option<&str>, expiry: &str) -> String {
    let mut object = serde_json::json!({ "key": key, "size": 5, "etag": "b1946ac92492d2347c6235b4d2611184", "sequencer": "617f08299329d189" });
    if let Some(v) = version_id {
        object["version-id"] = serde_json::Value::from(v);
    }
    serde_json::json!({
        "version": "0",
        "id": "6924de0d-13e2-6bbf-c0c1-b903b753565d",
        "detail-type": DETAIL_TYPE,
        "source": SOURCE,
        "account": "111122223333",
        "time": "2021-11-12T00:00:00Z",
        "region": "us-east-1",
        "resources": [format!("arn:aws:s3:::{bucket}")],
        "detail": {
            "version": "0",
            "bucket": { "name": bucket },
            "object": object,
            "request-id": "189F19CB7FB1B6A4",
            "requester": "s3.amazonaws.com",
            "restore-expiry-time": expiry,
            "source-storage-class": "GLACIER"
        }
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn restored(body: &str) -> RestoreEvent {
        match parse(body).expect("parses") {
            Message::Restored(e) => e,
            other => panic!("not a restore: {other:?}"),
        }
    }

    #[test]
    fn a_restore_completed_event_is_read() {
        let e = restored(&envelope(
            "b",
            "a/k1",
            Some("v1"),
            "2021-11-13T00:00:00.000Z",
        ));
        assert_eq!(
            e,
            RestoreEvent {
                bucket: "b".into(),
                key: "a/k1".into(),
                version_id: Some("v1".into()),
                expiry: Some("2021-11-13T00:00:00.000Z".into()),
                source_class: Some("GLACIER".into()),
            }
        );
        assert_eq!(restored(&envelope("b", "k", None, "x")).version_id, None);
    }

    #[test]
    fn keys_are_taken_as_sent_and_decoded_only_on_demand() {
        for key in ["a b", "a+b", "100%", "日本/ключ", "a%20b"] {
            let e = restored(&envelope("b", key, None, "x"));
            assert_eq!(e.key, key);
        }
        let dec = |k: &str| restored(&envelope("b", k, None, "x")).decoded_keys();
        assert_eq!(dec("a+b"), vec!["a b"]);
        assert_eq!(dec("a%20b%2Bc"), vec!["a b+c"]);
        // percent-only first: a literal '+' next to an escape is kept, then the form decode
        assert_eq!(dec("a+b%21"), vec!["a+b!", "a b!"]);
        assert_eq!(dec("%E6%97%A5%E6%9C%AC"), vec!["日本"], "encoded UTF-8");
        assert!(dec("plain/key").is_empty());
        assert!(dec("日本/ключ").is_empty(), "already decoded");
        assert!(dec("%FF").is_empty(), "not UTF-8 once decoded");
    }

    #[test]
    fn an_event_whose_copy_expired_is_stale() {
        let at = |expiry: &str| restored(&envelope("b", "k", None, expiry));
        // 2021-11-13T00:00:00Z is 1636761600
        let e = at("2021-11-13T00:00:00.000Z");
        assert!(!e.is_stale(1_636_761_599));
        assert!(e.is_stale(1_636_761_601));
        assert!(at("2021-11-13T00:00:00Z").is_stale(1_636_761_601));
        assert!(!at("not a time").is_stale(i64::MAX), "unreadable: kept");
        let mut none = at("x");
        none.expiry = None;
        assert!(!none.is_stale(i64::MAX));
    }

    #[test]
    fn other_events_are_ignored() {
        let created = envelope("b", "k", None, "x").replace(DETAIL_TYPE, "Object Created");
        assert_eq!(
            parse(&created).expect("parses"),
            Message::Ignored {
                source: "aws.s3".into(),
                detail_type: "Object Created".into()
            }
        );
        let other = r#"{"source":"aws.ec2","detail-type":"EC2 Instance State-change Notification","detail":{}}"#;
        assert!(matches!(parse(other), Ok(Message::Ignored { .. })));
    }

    #[test]
    fn malformed_bodies_are_errors() {
        for body in [
            "",
            "not json",
            r#"{"Records":[]}"#,
            r#"{"source":"aws.s3","detail-type":"Object Restore Completed"}"#,
            r#"{"source":"aws.s3","detail-type":"Object Restore Completed","detail":{"bucket":{"name":"b"}}}"#,
            r#"{"source":"aws.s3","detail-type":"Object Restore Completed","detail":{"bucket":{"name":"b"},"object":{"key":""}}}"#,
        ] {
            assert!(parse(body).is_err(), "{body}");
        }
    }
}
