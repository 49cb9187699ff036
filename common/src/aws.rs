//! AWS client setup shared by both binaries, and the one place that turns SDK errors into the
//! code + message pairs that reports and logs carry.
//!
//! Credentials and Region come from the standard chain (env, profile, SSO, ECS task role, IMDS);
//! `--region`, `--profile` and `--endpoint-url` override it. With a custom endpoint (`--endpoint-url`
//! or `AWS_ENDPOINT_URL`, e.g. the moto emulator) S3 uses path-style addressing.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

/// AWS connection flags, accepted by every command of both binaries.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AwsArgs {
    /// AWS Region (default: the standard chain, e.g. AWS_REGION or the profile's region).
    #[arg(long, env = "THAW_REGION", global = true)]
    pub region: Option<String>,
    /// Named profile from ~/.aws/config.
    #[arg(long, env = "THAW_PROFILE", global = true)]
    pub profile: Option<String>,
    /// Custom endpoint for every AWS service (e.g. a local emulator); AWS_ENDPOINT_URL also works.
    #[arg(long, env = "THAW_ENDPOINT_URL", global = true)]
    pub endpoint_url: Option<String>,
    /// Attempts per AWS request before giving up (the SDK retries throttling and 5xx with backoff).
    #[arg(
        long = "aws-max-attempts",
        env = "THAW_AWS_MAX_ATTEMPTS",
        default_value_t = 8,
        global = true
    )]
    pub max_attempts: u32,
    /// Seconds one attempt of an AWS request may take before it is abandoned (and retried):
    /// a connection that never answers must not hold a request for ever. Copies of large
    /// objects get longer, from their size (see the worker's `--min-copy-rate`). 0: the default.
    #[arg(
        long = "aws-attempt-timeout",
        env = "THAW_AWS_ATTEMPT_TIMEOUT",
        default_value_t = DEFAULT_ATTEMPT_TIMEOUT_SECS,
        global = true
    )]
    pub attempt_timeout: u64,
}

/// Default of `--aws-attempt-timeout`: a HeadObject, RestoreObject or DynamoDB write answers in
/// well under a second; a minute is for a slow network and a manifest upload.
pub const DEFAULT_ATTEMPT_TIMEOUT_SECS: u64 = 60;
/// Time to set up a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A loaded AWS configuration and what it was built from.
#[derive(Debug, Clone)]
pub struct Aws {
    /// The shared SDK configuration.
    pub config: SdkConfig,
}

/// Why the AWS configuration could not be loaded.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SetupError {
    /// No Region anywhere in the chain.
    #[error("no AWS Region: pass --region or set AWS_REGION")]
    NoRegion,
    /// Not loaded: the command runs without AWS.
    #[error("this command runs without the AWS configuration")]
    NotLoaded,
}

impl Aws {
    /// Loads the configuration from the standard chain plus the flags.
    pub async fn load(args: &AwsArgs) -> Result<Self, SetupError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(args.max_attempts.max(1))
                    .with_initial_backoff(Duration::from_millis(200))
                    .with_max_backoff(Duration::from_secs(20)),
            )
            .timeout_config(timeouts(args));
        if let Some(r) = &args.region {
            loader = loader.region(Region::new(r.clone()));
        }
        if let Some(p) = &args.profile {
            loader = loader.profile_name(p);
        }
        if let Some(e) = &args.endpoint_url {
            loader = loader.endpoint_url(e);
        }
        let config = loader.load().await;
        if config.region().is_none() {
            return Err(SetupError::NoRegion);
        }
        Ok(Self { config })
    }

    /// The Region in use.
    pub fn region(&self) -> String {
        self.config
            .region()
            .map(|r| r.to_string())
            .unwrap_or_default()
    }

    /// The custom endpoint, when one is set.
    pub fn endpoint_url(&self) -> Option<String> {
        self.config.endpoint_url().map(str::to_owned)
    }

    /// An S3 client; path-style addressing when a custom endpoint is set; its own retry budget
    /// ([`retry_budget`]).
    pub fn s3(&self) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::config::Builder::from(&self.config)
            .force_path_style(self.config.endpoint_url().is_some())
            .retry_partition(s3_retry_partition())
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// An S3 client for buckets in `region` (copies into a bucket of another Region must be
    /// sent there).
    pub fn s3_in(&self, region: &str) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::config::Builder::from(&self.config)
            .region(Region::new(region.to_owned()))
            .force_path_style(self.config.endpoint_url().is_some())
            .retry_partition(s3_retry_partition())
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// A DynamoDB client, with its own retry budget ([`retry_budget`]).
    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        use aws_sdk_dynamodb::config::retry::RetryPartition;
        let conf = aws_sdk_dynamodb::config::Builder::from(&self.config)
            .retry_partition(
                RetryPartition::custom("thaw-dynamodb")
                    .token_bucket(retry_budget())
                    .build(),
            )
            .build();
        aws_sdk_dynamodb::Client::from_conf(conf)
    }

    /// An ECS client.
    #[cfg(feature = "ecs")]
    pub fn ecs(&self) -> aws_sdk_ecs::Client {
        aws_sdk_ecs::Client::new(&self.config)
    }
}

/// The attempt timeout `args` ask for (`0`, as in `AwsArgs::default()`: the default).
pub fn attempt_timeout(args: &AwsArgs) -> Duration {
    match args.attempt_timeout {
        0 => Duration::from_secs(DEFAULT_ATTEMPT_TIMEOUT_SECS),
        s => Duration::from_secs(s),
    }
}

/// The timeouts of every request: connect, and one attempt (the SDK retries an attempt that
/// timed out like any transient error). Without an attempt timeout the SDK waits for ever on a
/// connection that never answers.
fn timeouts(args: &AwsArgs) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(attempt_timeout(args))
        .build()
}

/// A per-request override for an S3 request that may legitimately take long without sending a
/// byte (CopyObject, UploadPartCopy, CompleteMultipartUpload: S3 answers when the copy is done):
/// one attempt may take `attempt`, and the SDK's stalled-stream protection, which fails an
/// answer that moves no byte for 20 s (smithy-lang/smithy-rs#4439: it applies to UploadPartCopy
/// and CompleteMultipartUpload), is off: the attempt timeout bounds the request instead.
/// Use with `.customize().config_override(...)`.
pub fn long_request(attempt: Duration) -> aws_sdk_s3::config::Builder {
    aws_sdk_s3::config::Builder::default()
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(attempt)
                .build(),
        )
        .stalled_stream_protection(aws_sdk_s3::config::StalledStreamProtectionConfig::disabled())
}

/// Retry tokens of one client: the SDK's standard mode spends 5 per retry of a throttled
/// request (10 or 14 for a timeout or another transient error) and gives one back per success.
pub const RETRY_BUDGET_TOKENS: usize = 5_000;
/// Tokens a client's budget regains per second, even without successes.
pub const RETRY_BUDGET_REFILL_PER_SEC: f32 = 50.0;

/// A retry budget sized for a worker. The SDK's default (500 tokens shared by every client of a
/// service in the process, no refill but by successes) empties after 100 throttled retries:
/// under sustained SlowDown every later error then comes back at once, without a retry, and
/// keys failed by the hundred. This one holds 1,000 throttled retries and regains 10 a second
/// while throttling lasts; what it cannot absorb, the worker does (keys sent back for a later
/// pass, adaptive pacing: see `thaw_common::weather`).
pub fn retry_budget() -> aws_sdk_s3::config::retry::TokenBucket {
    aws_sdk_s3::config::retry::TokenBucket::builder()
        .capacity(RETRY_BUDGET_TOKENS)
        .refill_rate(RETRY_BUDGET_REFILL_PER_SEC)
        .build()
}

fn s3_retry_partition() -> aws_sdk_s3::config::retry::RetryPartition {
    aws_sdk_s3::config::retry::RetryPartition::custom("thaw-s3")
        .token_bucket(retry_budget())
        .build()
}

/// An AWS call that failed, reduced to what a person or a report needs.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{operation}: {code}: {message}")]
pub struct AwsError {
    /// The API operation, e.g. `CopyObject`.
    pub operation: &'static str,
    /// The service's error code (`NoSuchKey`, `SlowDown`, ...) or a transport class
    /// (`DispatchFailure`, `Timeout`).
    pub code: String,
    /// The service's message.
    pub message: String,
    /// HTTP status, when a response arrived.
    pub status: Option<u16>,
}

impl AwsError {
    /// Builds one from any SDK error.
    pub fn from_sdk<E, R>(operation: &'static str, err: &SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + 'static,
    {
        let status = raw_status(err);
        let (code, message) = match err {
            SdkError::ServiceError(se) => {
                let e = se.err();
                let code = e.code().map(str::to_owned).unwrap_or_else(|| match status {
                    Some(404) => "NotFound".to_owned(),
                    Some(403) => "AccessDenied".to_owned(),
                    Some(s) => format!("HTTP{s}"),
                    None => "Unknown".to_owned(),
                });
                let message = e
                    .message()
                    .map(str::to_owned)
                    .unwrap_or_else(|| error_chain(e));
                (code, message)
            }
            SdkError::TimeoutError(_) => ("Timeout".to_owned(), error_chain(err)),
            SdkError::DispatchFailure(_) => {
                let chain = error_chain(err);
                if chain.contains("no credentials found") {
                    (
                        "NoCredentials".to_owned(),
                        "no AWS credentials found (environment, profile, SSO, web identity, ECS task role, IMDS): set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run where a role is attached".to_owned(),
                    )
                } else {
                    ("DispatchFailure".to_owned(), chain)
                }
            }
            SdkError::ResponseError(_) => ("ResponseError".to_owned(), error_chain(err)),
            SdkError::ConstructionFailure(_) => {
                ("ConstructionFailure".to_owned(), error_chain(err))
            }
            _ => ("Unknown".to_owned(), error_chain(err)),
        };
        Self {
            operation,
            code,
            message,
            status,
        }
    }

    /// True for errors that mean "no credentials" or "not allowed", worth a clear hint.
    pub fn is_access(&self) -> bool {
        matches!(
            self.code.as_str(),
            "AccessDenied"
                | "AccessDeniedException"
                | "UnrecognizedClientException"
                | "InvalidAccessKeyId"
                | "ExpiredToken"
                | "ExpiredTokenException"
        )
    }
}

fn raw_status<E, R: std::fmt::Debug>(err: &SdkError<E, R>) -> Option<u16> {
    // The raw response type differs per SDK version; its Debug output always holds the status.
    let raw = match err {
        SdkError::ServiceError(se) => format!("{:?}", se.raw()),
        SdkError::ResponseError(re) => format!("{:?}", re.raw()),
        _ => return None,
    };
    let i = raw.find("status: StatusCode(")?;
    raw[i + "status: StatusCode(".len()..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Joins an error and its sources into one line (SDK errors hide the cause in `source()`).
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_client_has_a_retry_budget_of_its_own() {
        let aws = Aws::load(&AwsArgs {
            region: Some("us-east-1".into()),
            endpoint_url: Some("http://127.0.0.1:9".into()),
            max_attempts: 8,
            ..AwsArgs::default()
        })
        .await
        .expect("config");
        use aws_sdk_s3::config::retry::RetryPartition;
        let ours = |name: &str| RetryPartition::custom(name.to_owned()).build();
        assert_eq!(aws.s3().config().retry_partition(), Some(&ours("thaw-s3")));
        assert_eq!(
            aws.s3_in("eu-west-1").config().retry_partition(),
            Some(&ours("thaw-s3"))
        );
        // Not the SDK's default partition (named after the service) and its 500 tokens.
        assert_ne!(
            aws.s3().config().retry_partition(),
            Some(&RetryPartition::new("s3"))
        );
        let ddb = aws.dynamodb();
        let ddb_partition = ddb.config().retry_partition().map(|p| format!("{p:?}"));
        assert!(
            ddb_partition
                .as_deref()
                .is_some_and(|p| p.contains("thaw-dynamodb")),
            "{ddb_partition:?}"
        );
        let budget = retry_budget();
        assert!(budget.is_full() && !budget.is_empty());
    }

    #[test]
    fn every_request_has_an_attempt_timeout() {
        let t = timeouts(&AwsArgs::default());
        assert_eq!(
            t.operation_attempt_timeout(),
            Some(Duration::from_secs(DEFAULT_ATTEMPT_TIMEOUT_SECS))
        );
        assert_eq!(t.connect_timeout(), Some(CONNECT_TIMEOUT));
        let args = AwsArgs {
            attempt_timeout: 2,
            ..AwsArgs::default()
        };
        assert_eq!(
            timeouts(&args).operation_attempt_timeout(),
            Some(Duration::from_secs(2))
        );
    }

    #[test]
    fn long_requests_trade_stalled_stream_protection_for_their_own_timeout() {
        let conf = long_request(Duration::from_secs(700)).build();
        assert_eq!(
            conf.timeout_config()
                .and_then(|t| t.operation_attempt_timeout()),
            Some(Duration::from_secs(700))
        );
        let ssp = conf.stalled_stream_protection().expect("set");
        assert!(!ssp.download_enabled() && !ssp.upload_enabled());
    }

    #[test]
    fn chain_joins_sources() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] std::io::Error);
        let e = Outer(std::io::Error::other("inner"));
        assert_eq!(error_chain(&e), "outer: inner");
    }
}
