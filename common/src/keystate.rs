//! The per-key state machine: given what HeadObject says about an object, what to do next.
//!
//! Pure, so every branch is tested without AWS. The worker's `process` loop feeds it a fresh
//! [`ObjectHead`] and carries out the returned [`Next`] step.

use crate::storage::{RestoreTier, StorageClass};

/// Where an object's restore stands, from the `x-amz-restore` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreStatus {
    /// No restore was requested (or its temporary copy expired).
    None,
    /// `ongoing-request="true"`: S3 is still bringing it back.
    InProgress,
    /// `ongoing-request="false"`: a readable temporary copy exists.
    Restored,
}

/// Parses the `x-amz-restore` header value.
pub fn parse_restore_header(header: Option<&str>) -> RestoreStatus {
    match header {
        None => RestoreStatus::None,
        Some(h) if h.replace(' ', "").contains("ongoing-request=\"true\"") => {
            RestoreStatus::InProgress
        }
        Some(h) if h.contains("ongoing-request") => RestoreStatus::Restored,
        Some(_) => RestoreStatus::None,
    }
}

/// What HeadObject told us about one object, reduced to what the decision needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectHead {
    /// The storage class S3 reports (`STANDARD` when the header is absent).
    pub storage_class: String,
    /// `x-amz-archive-status` for Intelligent-Tiering objects in an archive tier.
    pub archive_status: Option<String>,
    /// Restore state from `x-amz-restore`.
    pub restore: RestoreStatus,
    /// The object is encrypted with a customer-provided key (SSE-C): it cannot be copied without it.
    pub sse_customer: bool,
}

impl ObjectHead {
    /// True for the slowest archives: DEEP_ARCHIVE and Intelligent-Tiering's Deep Archive Access
    /// tier (no Expedited retrieval, restores take up to 48 hours).
    pub fn is_deep_archive(&self) -> bool {
        self.storage_class == "DEEP_ARCHIVE"
            || self.archive_status.as_deref() == Some("DEEP_ARCHIVE_ACCESS")
    }

    /// True when S3 must restore the object before it can be read or copied.
    pub fn is_archived(&self) -> bool {
        match self.storage_class.as_str() {
            "GLACIER" | "DEEP_ARCHIVE" => true,
            "INTELLIGENT_TIERING" => self.archive_status.is_some(),
            _ => false,
        }
    }
}

/// The next step for a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Already in the target class and readable: nothing to write.
    Skip,
    /// Ask S3 to restore it; `days` is `None` for Intelligent-Tiering archive tiers.
    Restore {
        /// How long the temporary copy lives.
        days: Option<u32>,
    },
    /// A restore is under way: look again later.
    Wait,
    /// Readable now: copy it in place with the target class.
    Copy,
    /// It cannot be done; recorded as a failed key with this code and message.
    Fail {
        /// Short error code for reports (S3's own code where there is one).
        code: String,
        /// Human explanation.
        message: String,
    },
}

/// The job settings the decision depends on.
#[derive(Debug, Clone, Copy)]
pub struct Goal {
    /// Class every object must end in.
    pub target: StorageClass,
    /// Restore tier for archived objects.
    pub tier: RestoreTier,
    /// Restore validity in days.
    pub days: u32,
    /// Copies go onto the source object itself: an object already in the target class is done.
    /// For copies elsewhere the destination is checked before, and every readable source is copied.
    pub in_place: bool,
}

/// Decides the next step for an object. `restore_requested` is true when this lot already asked
/// for its restore and that request is still within its validity, so it is never sent twice.
pub fn decide(head: &ObjectHead, goal: Goal, restore_requested: bool) -> Next {
    if head.sse_customer {
        return Next::Fail {
            code: "SSECustomerKeyRequired".into(),
            message: "object is encrypted with a customer-provided key (SSE-C); thaw cannot copy it without the key".into(),
        };
    }
    let archived = head.is_archived();
    let done_here = goal.in_place && head.storage_class == goal.target.as_str();
    if !archived && done_here {
        return Next::Skip;
    }
    if !archived {
        return Next::Copy;
    }
    match head.restore {
        RestoreStatus::Restored => {
            if done_here {
                // Moving into an archive class: the archived object already is where it should be.
                Next::Skip
            } else {
                Next::Copy
            }
        }
        RestoreStatus::InProgress => Next::Wait,
        RestoreStatus::None if done_here => Next::Skip,
        RestoreStatus::None if restore_requested => Next::Wait,
        RestoreStatus::None => {
            if head.is_deep_archive() && goal.tier == RestoreTier::Expedited {
                return Next::Fail {
                    code: "InvalidTier".into(),
                    message: "Expedited retrieval is not available for DEEP_ARCHIVE objects; use --restore-tier standard or bulk".into(),
                };
            }
            let days = (head.storage_class != "INTELLIGENT_TIERING").then_some(goal.days);
            Next::Restore { days }
        }
    }
}

/// Error codes that mean "the object is archived and not (or no longer) restored": on a copy, the
/// key goes back to waiting for its restore instead of failing. moto says
/// `ObjectNotInActiveTierError`, AWS and LocalStack `InvalidObjectState`.
pub fn is_not_restored_code(code: &str) -> bool {
    matches!(code, "InvalidObjectState" | "ObjectNotInActiveTierError")
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOAL: Goal = Goal {
        target: StorageClass::StandardIa,
        tier: RestoreTier::Bulk,
        days: 3,
        in_place: true,
    };

    #[test]
    fn copies_elsewhere_copy_even_objects_in_the_target_class() {
        let elsewhere = Goal {
            in_place: false,
            ..GOAL
        };
        assert_eq!(
            decide(&head("STANDARD_IA", RestoreStatus::None), elsewhere, false),
            Next::Copy
        );
        let into_glacier = Goal {
            target: StorageClass::Glacier,
            ..elsewhere
        };
        assert_eq!(
            decide(&head("GLACIER", RestoreStatus::None), into_glacier, false),
            Next::Restore { days: Some(3) }
        );
    }

    fn head(class: &str, restore: RestoreStatus) -> ObjectHead {
        ObjectHead {
            storage_class: class.into(),
            archive_status: None,
            restore,
            sse_customer: false,
        }
    }

    #[test]
    fn restore_header() {
        assert_eq!(parse_restore_header(None), RestoreStatus::None);
        assert_eq!(
            parse_restore_header(Some("ongoing-request=\"true\"")),
            RestoreStatus::InProgress
        );
        assert_eq!(
            parse_restore_header(Some(
                "ongoing-request=\"false\", expiry-date=\"Fri, 21 Dec 2012 00:00:00 GMT\""
            )),
            RestoreStatus::Restored
        );
    }

    #[test]
    fn archived_without_restore_is_restored() {
        assert_eq!(
            decide(&head("GLACIER", RestoreStatus::None), GOAL, false),
            Next::Restore { days: Some(3) }
        );
        assert_eq!(
            decide(&head("DEEP_ARCHIVE", RestoreStatus::None), GOAL, false),
            Next::Restore { days: Some(3) }
        );
    }

    #[test]
    fn restore_never_requested_twice() {
        assert_eq!(
            decide(&head("GLACIER", RestoreStatus::None), GOAL, true),
            Next::Wait
        );
    }

    #[test]
    fn in_progress_waits_and_restored_copies() {
        assert_eq!(
            decide(&head("GLACIER", RestoreStatus::InProgress), GOAL, false),
            Next::Wait
        );
        assert_eq!(
            decide(&head("GLACIER", RestoreStatus::Restored), GOAL, true),
            Next::Copy
        );
    }

    #[test]
    fn not_archived_copies_or_skips() {
        for class in [
            "STANDARD",
            "GLACIER_IR",
            "ONEZONE_IA",
            "INTELLIGENT_TIERING",
        ] {
            assert_eq!(
                decide(&head(class, RestoreStatus::None), GOAL, false),
                Next::Copy,
                "{class}"
            );
        }
        assert_eq!(
            decide(&head("STANDARD_IA", RestoreStatus::None), GOAL, false),
            Next::Skip
        );
    }

    #[test]
    fn intelligent_tiering_archive_has_no_days() {
        let mut h = head("INTELLIGENT_TIERING", RestoreStatus::None);
        h.archive_status = Some("ARCHIVE_ACCESS".into());
        assert_eq!(decide(&h, GOAL, false), Next::Restore { days: None });
    }

    #[test]
    fn deep_archive_expedited_refused_without_request() {
        let goal = Goal {
            tier: RestoreTier::Expedited,
            ..GOAL
        };
        assert!(matches!(
            decide(&head("DEEP_ARCHIVE", RestoreStatus::None), goal, false),
            Next::Fail { code, .. } if code == "InvalidTier"
        ));
        // GLACIER + Expedited is fine
        assert!(matches!(
            decide(&head("GLACIER", RestoreStatus::None), goal, false),
            Next::Restore { .. }
        ));
    }

    #[test]
    fn intelligent_tiering_deep_archive_refuses_expedited() {
        let goal = Goal {
            tier: RestoreTier::Expedited,
            ..GOAL
        };
        let mut h = head("INTELLIGENT_TIERING", RestoreStatus::None);
        h.archive_status = Some("DEEP_ARCHIVE_ACCESS".into());
        assert!(h.is_deep_archive());
        assert!(
            matches!(decide(&h, goal, false), Next::Fail { code, .. } if code == "InvalidTier")
        );
        h.archive_status = Some("ARCHIVE_ACCESS".into());
        assert!(!h.is_deep_archive());
        assert_eq!(decide(&h, goal, false), Next::Restore { days: None });
    }

    #[test]
    fn sse_c_fails() {
        let mut h = head("GLACIER", RestoreStatus::Restored);
        h.sse_customer = true;
        assert!(
            matches!(decide(&h, GOAL, false), Next::Fail { code, .. } if code == "SSECustomerKeyRequired")
        );
    }

    #[test]
    fn into_archive_class() {
        let goal = Goal {
            target: StorageClass::Glacier,
            ..GOAL
        };
        assert_eq!(
            decide(&head("GLACIER", RestoreStatus::None), goal, false),
            Next::Skip
        );
        assert_eq!(
            decide(&head("STANDARD", RestoreStatus::None), goal, false),
            Next::Copy
        );
        assert_eq!(
            decide(&head("DEEP_ARCHIVE", RestoreStatus::None), goal, false),
            Next::Restore { days: Some(3) }
        );
    }

    #[test]
    fn not_restored_codes() {
        assert!(is_not_restored_code("InvalidObjectState"));
        assert!(is_not_restored_code("ObjectNotInActiveTierError"));
        assert!(!is_not_restored_code("NoSuchKey"));
    }
}
