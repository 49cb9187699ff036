//! Throttling is weather, not failure: which AWS answers mean "not now" rather than "never", and
//! how long a key may keep meeting them before it fails.
//!
//! S3 answers `503 SlowDown` for as long as a prefix is busier than it has scaled for (it adds
//! capacity over minutes), DynamoDB `ProvisionedThroughputExceededException` past a partition's
//! write rate, and any service a 5xx, a timeout or a dropped connection now and then. The SDK
//! retries each request a few times, but its retry budget empties under sustained throttling and
//! then errors come back at once: a key whose request met such weather goes back for a later
//! pass of the same run (counted as throttled), and fails only after [`MAX_WEATHER_TRIES`]
//! such tries in one run, with the code [`STILL_THROTTLED`]. Pure, so every rule is unit-tested.

use std::time::Duration;

/// Tries of one key in one run that may end in weather before the key fails.
pub const MAX_WEATHER_TRIES: u32 = 10;

/// The code a key fails with after [`MAX_WEATHER_TRIES`] tries that all met weather.
pub const STILL_THROTTLED: &str = "StillThrottled";

/// Longest pause between two passes over keys sent back by weather.
pub const MAX_WEATHER_BACKOFF: Duration = Duration::from_secs(30);

/// True when an error means "not now": throttling, a server-side error, a timeout or a request
/// that never reached AWS. `GlacierExpeditedRetrievalNotAvailable` (503) is not weather: it has
/// its own answer (the restore falls back to Standard).
pub fn is_weather(code: &str, status: Option<u16>) -> bool {
    match code {
        "GlacierExpeditedRetrievalNotAvailable" => false,
        "SlowDown"
        | "Throttling"
        | "ThrottlingException"
        | "ThrottledException"
        | "RequestLimitExceeded"
        | "TooManyRequestsException"
        | "ProvisionedThroughputExceededException"
        | "RequestThrottled"
        | "RequestThrottledException"
        | "TransactionInProgressException"
        | "InternalError"
        | "InternalServerError"
        | "ServiceUnavailable"
        | "ServiceUnavailableException"
        | "RequestTimeout"
        | "RequestTimeoutException"
        | "Timeout"
        | "DispatchFailure"
        | "ResponseError" => true,
        _ => status.is_some_and(|s| s >= 500),
    }
}

/// True when an error is S3 or DynamoDB saying "slow down" (the pacing halves its rate), as
/// opposed to other weather (a 500, a timeout) that says nothing about the request rate.
pub fn is_throttling(code: &str, status: Option<u16>) -> bool {
    matches!(
        code,
        "SlowDown"
            | "Throttling"
            | "ThrottlingException"
            | "RequestLimitExceeded"
            | "TooManyRequestsException"
            | "ProvisionedThroughputExceededException"
            | "RequestThrottled"
    ) || (status == Some(503) && code != "GlacierExpeditedRetrievalNotAvailable")
}

/// What becomes of a key whose try met weather, the `tries`-th time in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeatherVerdict {
    /// Back for a later pass.
    Again,
    /// It met weather on every try allowed: it fails with [`STILL_THROTTLED`].
    GiveUp,
}

/// The verdict on a key that met weather for the `tries`-th time in this run.
pub fn after_weather(tries: u32) -> WeatherVerdict {
    if tries >= MAX_WEATHER_TRIES {
        WeatherVerdict::GiveUp
    } else {
        WeatherVerdict::Again
    }
}

/// The pause before the `n`-th consecutive pass over keys sent back (n >= 1): 1 s, doubling, at
/// most [`MAX_WEATHER_BACKOFF`]. With [`MAX_WEATHER_TRIES`] = 10 a key meets weather for about
/// 3 minutes of pauses (plus the SDK's own retries of every request) before it fails.
pub fn weather_backoff(n: u32) -> Duration {
    let secs = 1u64 << n.saturating_sub(1).min(16);
    Duration::from_secs(secs).min(MAX_WEATHER_BACKOFF)
}

/// The message a key fails with after its last try met weather (`last`: that try's error).
pub fn still_throttled_message(last: &str) -> String {
    format!("{MAX_WEATHER_TRIES} tries in this run all met throttling or a server error; the last: {last}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_5xx_timeouts_and_dispatch_failures_are_weather() {
        for code in [
            "SlowDown",
            "InternalError",
            "ProvisionedThroughputExceededException",
            "ThrottlingException",
            "Timeout",
            "DispatchFailure",
            "RequestTimeout",
        ] {
            assert!(is_weather(code, None), "{code}");
        }
        assert!(is_weather("HTTP502", Some(502)));
        assert!(is_weather("Whatever", Some(500)));
    }

    #[test]
    fn refusals_are_not_weather() {
        for (code, status) in [
            ("NoSuchKey", Some(404)),
            ("AccessDenied", Some(403)),
            ("InvalidObjectState", Some(403)),
            ("PreconditionFailed", Some(412)),
            ("GlacierExpeditedRetrievalNotAvailable", Some(503)),
            ("ProgressTable", None),
        ] {
            assert!(!is_weather(code, status), "{code}");
        }
    }

    #[test]
    fn only_slow_down_answers_slow_the_pace() {
        assert!(is_throttling("SlowDown", Some(503)));
        assert!(is_throttling("HTTP503", Some(503)));
        assert!(is_throttling(
            "ProvisionedThroughputExceededException",
            Some(400)
        ));
        assert!(!is_throttling("InternalError", Some(500)));
        assert!(!is_throttling("Timeout", None));
        assert!(!is_throttling(
            "GlacierExpeditedRetrievalNotAvailable",
            Some(503)
        ));
    }

    #[test]
    fn a_key_gives_up_after_the_bounded_number_of_tries() {
        assert_eq!(after_weather(1), WeatherVerdict::Again);
        assert_eq!(after_weather(MAX_WEATHER_TRIES - 1), WeatherVerdict::Again);
        assert_eq!(after_weather(MAX_WEATHER_TRIES), WeatherVerdict::GiveUp);
        assert!(still_throttled_message("SlowDown").contains("SlowDown"));
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        assert_eq!(weather_backoff(0), Duration::from_secs(1));
        assert_eq!(weather_backoff(1), Duration::from_secs(1));
        assert_eq!(weather_backoff(2), Duration::from_secs(2));
        assert_eq!(weather_backoff(5), Duration::from_secs(16));
        assert_eq!(weather_backoff(6), MAX_WEATHER_BACKOFF);
        assert_eq!(weather_backoff(u32::MAX), MAX_WEATHER_BACKOFF);
        let total: Duration = (1..MAX_WEATHER_TRIES).map(weather_backoff).sum();
        assert!(total <= Duration::from_secs(240), "{total:?}");
    }
}
