//! A key's first step decided from a listing instead of a HeadObject (a sorted lot's first pass,
//! [`crate::restore_listing::look_objects`]). A listed object shows its class, size, last
//! modified time and restore status: enough for [`crate::keystate::judge`] to say whether it is
//! done already (skip), left out (`--min-size`, `--min-age`), to be restored now, or waiting
//! for its restore. Anything else goes to HeadObject as before: a readable object's copy needs
//! what a listing does not show (its encryption and KMS key, Object Lock, checksum, metadata),
//! an Intelligent-Tiering object's archive tier is not listed, a listing shows current
//! versions only, and a copy elsewhere needs its destination looked at. An object whose listing
//! lacks its size (or its date, under `--min-age`) is HEADed too.
//!
//! A listing does not show SSE-C either, which the HEAD path fails before any restore: an SSE-C
//! archived object is restored on the listing's word (a restore request, its retrieval, days of
//! restored copy paid for) and only failed at the HEAD before its copy. The worker stops taking
//! listed restores for the rest of the lot once a key failed as SSE-C (it HEADs first from then
//! on), so a lot pays that for the SSE-C objects met before the first one is seen.

use crate::keystate::{judge, KeyFacts, ObjectFacts, ObjectHead, RestoreStatus, Rules, Verdict};
use crate::leave_out::LeftOutReason;
use crate::restore_listing::{Listed, ListedObject, Seen};

/// A key's first step, from what a listing showed of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstStep {
    /// Nothing to write (in place, already in the target class): skipped.
    Skip,
    /// Left where it is, for this reason.
    LeaveOut(LeftOutReason),
    /// Archived, no restore asked: RestoreObject now, no HeadObject.
    Restore {
        /// How long the restored copy lives.
        days: Option<u32>,
        /// The object as the listing showed it (the restore's tier depends on its class).
        head: ObjectHead,
    },
    /// Its restore is running (or this lot asked for it and it is still valid): wait.
    Wait {
        /// A DEEP_ARCHIVE object (polled less often).
        deep: bool,
    },
    /// HeadObject, then judged as usual.
    Head,
}

/// The first step of the key `k` (no source looked at yet) from what a listing saw of it.
pub fn first_step(rules: &Rules, k: &KeyFacts, seen: &Seen) -> FirstStep {
    let Seen::Object(listed) = seen else {
        return FirstStep::Head;
    };
    let Some(source) = facts_of(listed) else {
        return FirstStep::Head;
    };
    let undated = source.last_modified.is_none() && rules.leave_out.min_age_secs.is_some();
    if k.pinned.is_some() || source.head.storage_class == "INTELLIGENT_TIERING" || undated {
        return FirstStep::Head;
    }
    let deep = source.head.is_deep_archive();
    let head = source.head.clone();
    let judged = KeyFacts {
        source: Some(Ok(source)),
        target: None,
        ..k.clone()
    };
    match judge(rules, &judged) {
        Verdict::Skip => FirstStep::Skip,
        Verdict::LeaveOut(reason) => FirstStep::LeaveOut(reason),
        Verdict::Restore { days } => FirstStep::Restore { days, head },
        Verdict::Wait => FirstStep::Wait { deep },
        Verdict::Need(_) | Verdict::Copy | Verdict::Fail(_) | Verdict::DeleteSourceThenSkip => {
            FirstStep::Head
        }
    }
}

/// The facts a verdict reads of a listed object, as a HeadObject would give them for what a
/// listing shows. It shows no KMS key, version or archive tier ([`first_step`] lets through only
/// the verdicts that do not depend on them), and no SSE-C: read as none, though the HEAD path
/// fails an SSE-C object before anything else (see the module doc for what that costs). `None`:
/// no size shown, or a restore state a listed object cannot have.
fn facts_of(o: &ListedObject) -> Option<ObjectFacts> {
    let restore = match o.restore {
        Listed::InProgress { .. } => RestoreStatus::InProgress,
        Listed::Restored { .. } => RestoreStatus::Restored,
        Listed::NoRestore => RestoreStatus::None,
        Listed::Absent | Listed::NotLooked => return None,
    };
    Some(ObjectFacts {
        head: ObjectHead {
            storage_class: o.storage_class.clone().unwrap_or_else(|| "STANDARD".into()),
            archive_status: None,
            restore,
            sse_customer: false,
        },
        size: o.size?,
        etag: None,
        version_id: None,
        last_modified: o.last_modified,
        kms: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head_facts::facts_of_head;
    use crate::leave_out::LeaveOut;
    use crate::storage::{RestoreTier, StorageClass};
    use aws_sdk_s3::operation::head_object::HeadObjectOutput;
    use aws_smithy_types::DateTime;

    const NOW: i64 = 1_800_000_000;

    fn rules() -> Rules {
        Rules {
            bucket: "b".into(),
            target: StorageClass::StandardIa,
            tier: RestoreTier::Bulk,
            days: 3,
            source_prefix: None,
            dest_buckets: vec![],
            overwrite: false,
            delete_source_version: false,
            leave_out: LeaveOut::default(),
        }
    }

    fn key(in_place: bool) -> KeyFacts<'static> {
        KeyFacts {
            key: "k/1",
            pinned: None,
            dest_bucket: None,
            in_place,
            restore_requested_at: None,
            now: NOW,
            source: None,
            target: None,
        }
    }

    fn listed(class: &str, restore: Listed) -> Seen {
        Seen::Object(ListedObject {
            storage_class: Some(class.into()),
            size: Some(1_000_000),
            last_modified: Some(NOW - 400 * 86_400),
            restore,
        })
    }

    fn restore_of(class: &str) -> FirstStep {
        FirstStep::Restore {
            days: Some(3),
            head: ObjectHead {
                storage_class: class.into(),
                archive_status: None,
                restore: RestoreStatus::None,
                sse_customer: false,
            },
        }
    }

    #[test]
    fn an_archived_object_with_no_restore_is_restored_without_a_head() {
        let r = rules();
        assert_eq!(
            first_step(&r, &key(true), &listed("GLACIER", Listed::NoRestore)),
            restore_of("GLACIER")
        );
        assert_eq!(
            first_step(&r, &key(true), &listed("DEEP_ARCHIVE", Listed::NoRestore)),
            restore_of("DEEP_ARCHIVE")
        );
    }

    #[test]
    fn a_restore_asked_by_this_lot_is_not_asked_again() {
        let r = rules();
        let asked = KeyFacts {
            restore_requested_at: Some(NOW - 60),
            ..key(true)
        };
        // the listing shows no restore yet (or not any more): it is waited for, as with HEAD
        assert_eq!(
            first_step(&r, &asked, &listed("DEEP_ARCHIVE", Listed::NoRestore)),
            FirstStep::Wait { deep: true }
        );
        // asked longer ago than its copy lives: asked again
        let expired = KeyFacts {
            restore_requested_at: Some(NOW - 4 * 86_400),
            ..key(true)
        };
        assert_eq!(
            first_step(&r, &expired, &listed("GLACIER", Listed::NoRestore)),
            restore_of("GLACIER")
        );
    }

    #[test]
    fn a_running_restore_waits_and_a_done_one_goes_to_the_head_before_its_copy() {
        let r = rules();
        assert_eq!(
            first_step(
                &r,
                &key(true),
                &listed("GLACIER", Listed::InProgress { deep: false })
            ),
            FirstStep::Wait { deep: false }
        );
        assert_eq!(
            first_step(
                &r,
                &key(true),
                &listed("DEEP_ARCHIVE", Listed::InProgress { deep: true })
            ),
            FirstStep::Wait { deep: true }
        );
        let restored = Listed::Restored {
            expires_at: Some(NOW + 86_400),
        };
        assert_eq!(
            first_step(&r, &key(true), &listed("GLACIER", restored)),
            FirstStep::Head
        );
        // not archived: copied, after a HEAD
        assert_eq!(
            first_step(&r, &key(true), &listed("STANDARD", Listed::NoRestore)),
            FirstStep::Head
        );
    }

    #[test]
    fn an_object_already_in_the_target_class_is_skipped_in_place_only() {
        let r = rules();
        let done = listed("STANDARD_IA", Listed::NoRestore);
        assert_eq!(first_step(&r, &key(true), &done), FirstStep::Skip);
        // a copy elsewhere looks at its destination first: HEAD as before
        assert_eq!(first_step(&r, &key(false), &done), FirstStep::Head);
        // moving into an archive class: an archived object already there is done
        let into_glacier = Rules {
            target: StorageClass::Glacier,
            ..rules()
        };
        assert_eq!(
            first_step(
                &into_glacier,
                &key(true),
                &listed("GLACIER", Listed::NoRestore)
            ),
            FirstStep::Skip
        );
    }

    #[test]
    fn min_size_and_min_age_leave_out_as_with_a_head() {
        let r = Rules {
            leave_out: LeaveOut {
                min_size: Some(2_000_000),
                min_age_secs: None,
            },
            ..rules()
        };
        let small = listed("GLACIER", Listed::NoRestore);
        assert_eq!(
            first_step(&r, &key(true), &small),
            FirstStep::LeaveOut(LeftOutReason::MinSize)
        );
        // the same verdict the HEAD path gives for the object as HeadObject describes it
        let head = HeadObjectOutput::builder()
            .storage_class(aws_sdk_s3::types::StorageClass::Glacier)
            .content_length(1_000_000)
            .last_modified(DateTime::from_secs(NOW - 400 * 86_400))
            .build();
        let headed = KeyFacts {
            source: Some(Ok(facts_of_head(&head))),
            ..key(true)
        };
        assert_eq!(
            judge(&r, &headed),
            Verdict::LeaveOut(LeftOutReason::MinSize)
        );
        // left out before its destination is looked at, as with HEAD
        assert_eq!(
            first_step(&r, &key(false), &small),
            FirstStep::LeaveOut(LeftOutReason::MinSize)
        );
        let young = Rules {
            leave_out: LeaveOut {
                min_size: None,
                min_age_secs: Some(500 * 86_400),
            },
            ..rules()
        };
        assert_eq!(
            first_step(&young, &key(true), &small),
            FirstStep::LeaveOut(LeftOutReason::MinAge)
        );
        let Seen::Object(o) = &small else {
            unreachable!()
        };
        // no last modified time under --min-age: HEADed, which tells it
        let undated = Seen::Object(ListedObject {
            last_modified: None,
            ..o.clone()
        });
        assert_eq!(first_step(&young, &key(true), &undated), FirstStep::Head);
        // nor without --min-age: restored
        assert_eq!(
            first_step(&r, &key(true), &undated),
            FirstStep::LeaveOut(LeftOutReason::MinSize)
        );
        assert_eq!(
            first_step(&rules(), &key(true), &undated),
            restore_of("GLACIER")
        );
        // no size: HEADed, not left out as if empty
        let unsized_ = Seen::Object(ListedObject {
            size: None,
            ..o.clone()
        });
        assert_eq!(first_step(&r, &key(true), &unsized_), FirstStep::Head);
        assert_eq!(first_step(&rules(), &key(true), &unsized_), FirstStep::Head);
    }

    #[test]
    fn what_a_listing_cannot_tell_is_headed() {
        let r = rules();
        // Intelligent-Tiering: its archive tier is not listed
        assert_eq!(
            first_step(
                &r,
                &key(true),
                &listed("INTELLIGENT_TIERING", Listed::NoRestore)
            ),
            FirstStep::Head
        );
        // a pinned version: a listing shows the current one
        let pinned = KeyFacts {
            pinned: Some("v1"),
            ..key(true)
        };
        assert_eq!(
            first_step(&r, &pinned, &listed("GLACIER", Listed::NoRestore)),
            FirstStep::Head
        );
        // not in the listing (deleted, or beyond its pages): HEAD reports it the usual way
        assert_eq!(first_step(&r, &key(true), &Seen::Absent), FirstStep::Head);
        assert_eq!(
            first_step(&r, &key(true), &Seen::NotLooked),
            FirstStep::Head
        );
    }

    #[test]
    fn a_key_outside_the_job_is_refused_the_usual_way() {
        let r = Rules {
            source_prefix: Some("other/".into()),
            ..rules()
        };
        assert_eq!(
            first_step(&r, &key(true), &listed("GLACIER", Listed::NoRestore)),
            FirstStep::Head
        );
    }
}
