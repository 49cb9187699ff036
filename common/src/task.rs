//! What runs a lot, as the lot item records it: the worker's task id, and why no worker could be
//! started.
//!
//! A lot's `task` attribute is written by the coordinator (the ECS task ARN after RunTask, or
//! `local:<host>:<pid>` for a worker process it spawned) and by a local worker itself when it
//! starts; the coordinator reads it back to tell whether that worker is gone (`status`, `retry`,
//! `follow`) and to stop it (`cancel`). That string is written by [`TaskId`]'s `Display` and read
//! by its `FromStr`, and nowhere else.
//!
//! A launch that fails (no Fargate capacity, a worker binary that cannot start) is recorded as a
//! [`LaunchFailure`] beside the human `last_error`, so the decisions "relaunch without counting a
//! retry" and "stop: ECS refuses this job's tasks as asked" read a typed attribute instead of the
//! wording of a message.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

/// How a local worker's task id starts.
const LOCAL_PREFIX: &str = "local:";
/// How an ECS task ARN starts.
const ARN_PREFIX: &str = "arn:";

/// The worker of one run of a lot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TaskId {
    /// An ECS task, by its ARN.
    Ecs(String),
    /// A worker process on a machine.
    Local {
        /// The machine's name (see [`hostname`]).
        host: String,
        /// Its process id there.
        pid: u32,
    },
}

impl TaskId {
    /// A worker process `pid` on this machine.
    pub fn local(pid: u32) -> Self {
        TaskId::Local {
            host: hostname().to_owned(),
            pid,
        }
    }

    /// The current process, as a local worker.
    pub fn this_process() -> Self {
        Self::local(std::process::id())
    }

    /// The ARN of an ECS task.
    pub fn arn(&self) -> Option<&str> {
        match self {
            TaskId::Ecs(arn) => Some(arn),
            TaskId::Local { .. } => None,
        }
    }

    /// The pid of a local worker running on `this_host` (a pid on another machine means nothing
    /// here).
    pub fn pid_on(&self, this_host: &str) -> Option<u32> {
        match self {
            TaskId::Local { host, pid } if host == this_host => Some(*pid),
            _ => None,
        }
    }

    /// A short name for a table cell: the task id at the end of an ARN, or the local id.
    pub fn short(&self) -> String {
        match self {
            TaskId::Ecs(arn) => arn.rsplit('/').next().unwrap_or(arn).to_owned(),
            TaskId::Local { .. } => self.to_string(),
        }
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskId::Ecs(arn) => f.write_str(arn),
            TaskId::Local { host, pid } => write!(f, "{LOCAL_PREFIX}{host}:{pid}"),
        }
    }
}

/// A recorded task that is neither an ECS task ARN nor `local:<host>:<pid>` (e.g. a worker
/// started by hand with its own `--task-id`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is neither an ECS task ARN nor local:<host>:<pid>")]
pub struct NotATaskId(pub String);

impl FromStr for TaskId {
    type Err = NotATaskId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.starts_with(ARN_PREFIX) {
            return Ok(TaskId::Ecs(s.to_owned()));
        }
        let local = s
            .strip_prefix(LOCAL_PREFIX)
            .and_then(|rest| rest.rsplit_once(':'))
            .filter(|(host, _)| !host.is_empty())
            .and_then(|(host, pid)| Some((host, pid.parse::<u32>().ok()?)));
        match local {
            Some((host, pid)) => Ok(TaskId::Local {
                host: host.to_owned(),
                pid,
            }),
            None => Err(NotATaskId(s.to_owned())),
        }
    }
}

/// This machine's name, looked up once: `/etc/hostname`, else `$HOSTNAME`, else `localhost`.
pub fn hostname() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        let nonempty = |s: String| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        std::fs::read_to_string("/etc/hostname")
            .ok()
            .and_then(nonempty)
            .or_else(|| std::env::var("HOSTNAME").ok().and_then(nonempty))
            .unwrap_or_else(|| "localhost".to_owned())
    })
}

/// Why no worker could be started for a lot (the lot is FAILED, but not because of its keys:
/// `retry` and `follow` relaunch it without counting a retry, unless it is [`Self::Refused`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LaunchFailure {
    /// ECS did not start the task for a passing reason: throttling, no capacity (`RESOURCE:*`),
    /// the Fargate task or vCPU quota, a server error. Relaunched later, with backoff.
    RunTask,
    /// ECS refused the task as asked, and will refuse it again until someone fixes the setup:
    /// `iam:PassRole` denied, a subnet or security group that does not exist, an inactive task
    /// definition, a capacity provider the cluster lacks. `follow` stops and says why; only an
    /// explicit `retry` relaunches it.
    Refused,
    /// The local worker process could not be started.
    Spawn,
    /// Recorded by an older thaw, which said so only with the `launch failed` prefix of
    /// `last_error` (or by a newer one, with a kind this version does not know).
    Unrecorded,
}

/// The first pause before a lot whose launch failed for a passing reason is relaunched.
pub const LAUNCH_BACKOFF_FIRST: i64 = 30;
/// The longest such pause.
pub const LAUNCH_BACKOFF_MAX: i64 = 900;

/// Seconds to wait before relaunching a lot whose last `in_a_row` launches failed for a passing
/// reason (throttling, capacity, quota): 30 s, doubled by every failure in a row, at most 15
/// minutes. A quota frees up as tasks end, capacity comes back within minutes: a lot must not
/// hammer RunTask every `follow` interval, and must not wait hours either.
pub fn launch_backoff(in_a_row: u64) -> i64 {
    let doublings = in_a_row.saturating_sub(1).min(20) as u32;
    LAUNCH_BACKOFF_FIRST
        .saturating_mul(1_i64 << doublings)
        .min(LAUNCH_BACKOFF_MAX)
}

/// How the `last_error` of a launch failure starts.
const LAUNCH_FAILED: &str = "launch failed";

impl LaunchFailure {
    /// The value stored in the lot item's `launch_failure` attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            LaunchFailure::RunTask => "run_task",
            LaunchFailure::Refused => "refused",
            LaunchFailure::Spawn => "spawn",
            LaunchFailure::Unrecorded => "unrecorded",
        }
    }

    /// True when relaunching cannot help until the setup is fixed.
    pub fn is_permanent(self) -> bool {
        self == LaunchFailure::Refused
    }

    /// The `last_error` text recorded with a launch failure: `launch failed: <why>`.
    pub fn message(why: &str) -> String {
        format!("{LAUNCH_FAILED}: {why}")
    }

    /// The launch failure recorded on a lot item, from its `launch_failure` attribute or, for
    /// items written before that attribute existed, from the prefix of its `last_error`.
    pub fn read(attribute: Option<&str>, last_error: Option<&str>) -> Option<Self> {
        match attribute {
            Some(a) => Some(a.parse().unwrap_or(LaunchFailure::Unrecorded)),
            None => last_error
                .is_some_and(|e| e.starts_with(LAUNCH_FAILED))
                .then_some(LaunchFailure::Unrecorded),
        }
    }
}

impl fmt::Display for LaunchFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LaunchFailure {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            LaunchFailure::RunTask,
            LaunchFailure::Refused,
            LaunchFailure::Spawn,
            LaunchFailure::Unrecorded,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| format!("unknown launch failure '{s}'"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_round_trip() {
        let arn = "arn:aws:ecs:us-east-1:123:task/thaw/0123456789abcdef";
        let on_ecs: TaskId = arn.parse().expect("arn");
        assert_eq!(on_ecs, TaskId::Ecs(arn.into()));
        assert_eq!(on_ecs.to_string(), arn);
        assert_eq!(on_ecs.arn(), Some(arn));
        assert_eq!(on_ecs.short(), "0123456789abcdef");
        assert_eq!(on_ecs.pid_on("h"), None);

        let local: TaskId = "local:h:42".parse().expect("local");
        assert_eq!(
            local,
            TaskId::Local {
                host: "h".into(),
                pid: 42
            }
        );
        assert_eq!(local.to_string(), "local:h:42");
        assert_eq!(local.short(), "local:h:42");
        assert_eq!(local.arn(), None);
        assert_eq!(local.pid_on("h"), Some(42));
        assert_eq!(local.pid_on("other"), None);
        // a host name holding ':' keeps it: the pid is after the last one
        let odd: TaskId = "local:a:b:7".parse().expect("colon host");
        assert_eq!(odd.pid_on("a:b"), Some(7));
        assert_eq!(odd.to_string(), "local:a:b:7");
    }

    #[test]
    fn other_task_strings_are_refused() {
        for bad in [
            "",
            "worker-7",
            "local:",
            "local:h",
            "local::42",
            "local:h:x",
            "local:h:-1",
            "LOCAL:h:1",
        ] {
            assert_eq!(
                bad.parse::<TaskId>(),
                Err(NotATaskId(bad.to_owned())),
                "{bad}"
            );
        }
    }

    #[test]
    fn this_process_is_local_to_this_host() {
        let me = TaskId::this_process();
        assert_eq!(me.pid_on(hostname()), Some(std::process::id()));
        assert_eq!(me.to_string().parse::<TaskId>(), Ok(me));
        assert!(std::ptr::eq(hostname(), hostname()), "looked up once");
    }

    #[test]
    fn hostname_is_never_empty() {
        assert!(!hostname().is_empty());
    }

    #[test]
    fn launch_backoff_doubles_up_to_its_cap() {
        assert_eq!(launch_backoff(0), 30);
        assert_eq!(launch_backoff(1), 30);
        assert_eq!(launch_backoff(2), 60);
        assert_eq!(launch_backoff(3), 120);
        assert_eq!(launch_backoff(5), 480);
        assert_eq!(launch_backoff(6), LAUNCH_BACKOFF_MAX);
        assert_eq!(launch_backoff(u64::MAX), LAUNCH_BACKOFF_MAX);
    }

    #[test]
    fn launch_failures() {
        for k in [
            LaunchFailure::RunTask,
            LaunchFailure::Refused,
            LaunchFailure::Spawn,
            LaunchFailure::Unrecorded,
        ] {
            assert_eq!(k.as_str().parse(), Ok(k));
            assert_eq!(LaunchFailure::read(Some(k.as_str()), None), Some(k));
            assert_eq!(k.is_permanent(), k == LaunchFailure::Refused, "{k}");
        }
        let msg = LaunchFailure::message("RunTask: RESOURCE:MEMORY");
        assert_eq!(msg, "launch failed: RunTask: RESOURCE:MEMORY");
        // items written before the attribute existed: the message says it
        assert_eq!(
            LaunchFailure::read(None, Some(&msg)),
            Some(LaunchFailure::Unrecorded)
        );
        assert_eq!(LaunchFailure::read(None, Some("NoSuchKey: gone")), None);
        assert_eq!(LaunchFailure::read(None, None), None);
        // a kind from a newer thaw is still a launch failure
        assert_eq!(
            LaunchFailure::read(Some("quota"), None),
            Some(LaunchFailure::Unrecorded)
        );
        // the attribute wins over the message
        assert_eq!(
            LaunchFailure::read(Some("spawn"), Some("worker exited")),
            Some(LaunchFailure::Spawn)
        );
    }

    #[test]
    fn hostname_is_the_machines_name() {
        // Where /etc/hostname names the machine, that name (trimmed) is the one used.
        if let Some(name) = std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
        {
            assert_eq!(hostname(), name);
        }
    }

    #[test]
    fn launch_failures_display_as_stored() {
        for k in [
            LaunchFailure::RunTask,
            LaunchFailure::Refused,
            LaunchFailure::Spawn,
            LaunchFailure::Unrecorded,
        ] {
            assert_eq!(k.to_string(), k.as_str());
        }
        assert!("RUN_TASK".parse::<LaunchFailure>().is_err());
    }
}
