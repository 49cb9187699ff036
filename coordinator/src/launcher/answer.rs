//! What a RunTask answer means for a lot: start again later, or stop and tell someone.
//!
//! ECS says "not now" in two ways: an exception (`ThrottlingException`, `ServerException`, or an
//! `InvalidParameterException` wrapping EC2's own `RequestLimitExceeded`), or a 200 answer with no
//! task and a `failures` entry (`RESOURCE:CPU`/`MEMORY`/`ENI`, "Capacity is unavailable at this
//! time", "You've reached the limit on the number of tasks/vCPUs you can run concurrently").
//! Those pass: the lot is relaunched with backoff. ECS says "never, as asked" with exceptions
//! that name the setup: `AccessDeniedException` (`iam:PassRole` on the task's roles, or
//! `ecs:RunTask` itself), `ClientException` ("TaskDefinition is inactive"),
//! `InvalidParameterException` (a subnet or security group that does not exist, a capacity
//! provider the cluster lacks), `ClusterNotFoundException`, platform and feature errors.
//! Relaunching those only repeats the refusal, for every lot: they fail the lot with the reason
//! and `follow` stops. Anything not known to be permanent counts as passing (a slow retry costs
//! little; giving up on a lot by a guess costs a job).

use thaw_common::task::LaunchFailure;

/// Exception codes with which ECS refuses a RunTask as asked, every time.
const REFUSALS: [&str; 9] = [
    "AccessDeniedException",
    "ClientException",
    "InvalidParameterException",
    "ClusterNotFoundException",
    "PlatformUnknownException",
    "PlatformTaskDefinitionIncompatibilityException",
    "UnsupportedFeatureException",
    "BlockedException",
    "ConflictException",
];

/// Words in a refusal's message that say it is throttling underneath after all (ECS wraps EC2's
/// `RequestLimitExceeded` while it looks up subnets and security groups in an
/// `InvalidParameterException`), or a shortage of capacity.
const PASSING_WORDS: [&str; 5] = [
    "RequestLimitExceeded",
    "Request limit exceeded",
    "Rate exceeded",
    "Capacity is unavailable",
    "try again later",
];

/// `failures[].reason` values that are permanent for this request (the cluster is missing, a
/// placement constraint no capacity can meet).
const PERMANENT_FAILURES: [&str; 3] = ["MISSING", "ATTRIBUTE", "LOCATION"];

/// The kind of launch failure an exception from RunTask (`code`, `message`) is.
pub fn error_kind(code: &str, message: &str) -> LaunchFailure {
    let passing = PASSING_WORDS.iter().any(|w| {
        message
            .to_ascii_lowercase()
            .contains(&w.to_ascii_lowercase())
    });
    if REFUSALS.contains(&code) && !passing {
        LaunchFailure::Refused
    } else {
        LaunchFailure::RunTask
    }
}

/// The kind of launch failure a `failures[]` entry of a RunTask answer is.
pub fn failure_kind(reason: &str) -> LaunchFailure {
    if PERMANENT_FAILURES.contains(&reason.trim()) {
        LaunchFailure::Refused
    } else {
        LaunchFailure::RunTask
    }
}

/// True for a `failures[]` reason that is the account's Fargate quota (tasks or vCPUs running at
/// once): it frees up only as tasks end, so more tries within one call do not help.
pub fn is_quota(reason: &str) -> bool {
    // ECS writes "You’ve" with a typographic apostrophe; match past it.
    reason.contains("reached the limit on the number of")
}

/// Why a RunTask did not start a task, and what kind of failure that is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotStarted {
    /// Passing or permanent.
    pub kind: LaunchFailure,
    /// What ECS said (code and message, or the failure's reason and detail).
    pub message: String,
    /// The account's Fargate quota is full ([`is_quota`]): the lot is not failed, it waits for
    /// a task to end, and the window shrinks (see [`crate::fleet::quota`]).
    pub quota: bool,
}

impl NotStarted {
    /// A failure of `kind` saying `message`.
    pub fn new(kind: LaunchFailure, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            quota: false,
        }
    }

    /// The Fargate quota refused the task, saying `message`: passing, once tasks end.
    pub fn quota(message: impl Into<String>) -> Self {
        Self {
            quota: true,
            ..Self::new(LaunchFailure::RunTask, message)
        }
    }
}

impl std::fmt::Display for NotStarted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for NotStarted {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_as_ecs_words_them_are_permanent() {
        for (code, msg) in [
            ("AccessDeniedException", "User: arn:aws:iam::1:user/c is not authorized to perform: iam:PassRole on resource: arn:aws:iam::1:role/thaw-task because no identity-based policy allows the iam:PassRole action"),
            ("ClientException", "TaskDefinition is inactive"),
            ("InvalidParameterException", "Error retrieving subnet information for [subnet-0bad]: The subnet ID 'subnet-0bad' does not exist (ErrorCode: InvalidSubnetID.NotFound)"),
            ("InvalidParameterException", "Error retrieving security group information for [sg-0bad]: The security group 'sg-0bad' does not exist (ErrorCode: InvalidGroup.NotFound)"),
            ("InvalidParameterException", "The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again."),
            ("ClusterNotFoundException", "Cluster not found."),
        ] {
            assert_eq!(error_kind(code, msg), LaunchFailure::Refused, "{code}: {msg}");
        }
    }

    #[test]
    fn throttling_and_shortages_pass() {
        for (code, msg) in [
            ("ThrottlingException", "Rate exceeded"),
            ("ServerException", "Service Unavailable"),
            ("InvalidParameterException", "Error retrieving security group information for [sg-1]: Request limit exceeded. (ErrorCode: RequestLimitExceeded)"),
            ("ClientException", "Capacity is unavailable at this time. Please try again later or in a different availability zone"),
            ("HTTP502", ""),
            ("DispatchFailure", "connection refused"),
        ] {
            assert_eq!(error_kind(code, msg), LaunchFailure::RunTask, "{code}: {msg}");
        }
    }

    #[test]
    fn failures_entries() {
        for reason in [
            "RESOURCE:MEMORY",
            "RESOURCE:CPU",
            "RESOURCE:ENI",
            "Capacity is unavailable at this time. Please try again later or in a different availability zone",
            "You\u{2019}ve reached the limit on the number of tasks you can run concurrently",
            "You've reached the limit on the number of vCPUs you can run concurrently",
            "AGENT",
        ] {
            assert_eq!(failure_kind(reason), LaunchFailure::RunTask, "{reason}");
        }
        assert_eq!(failure_kind("MISSING"), LaunchFailure::Refused);
        assert!(is_quota(
            "You\u{2019}ve reached the limit on the number of tasks you can run concurrently"
        ));
        assert!(is_quota(
            "You've reached the limit on the number of vCPUs you can run concurrently"
        ));
        assert!(!is_quota("RESOURCE:MEMORY"));
    }
}
