//! The entries of a lot item's `uploads` map: what a worker run started on one manifest position
//! and must not forget if it dies, so the next run can finish or clean it up.
//!
//! The map is a DynamoDB string map written by the worker in groups ([`UploadChange`]s of the
//! keys in flight, one UpdateItem per group: a `--delete-source-version` key adds two entries'
//! worth, not two writes of the lot item) and read back whole at the next run's start. Its names and values are a contract between runs of possibly different thaw versions,
//! so they are encoded and parsed here and nowhere else:
//!
//! | name          | value             | meaning                                                  |
//! |---------------|-------------------|----------------------------------------------------------|
//! | `<i>`         | `pending:<ts>`    | CreateMultipartUpload sent at `<ts>`, its id not known yet |
//! | `<i>`         | `<upload-id>`     | an open multipart upload                                 |
//! | `<i>:delete`  | `<ts> <version>`  | source version to delete once its copy is verified       |
//!
//! `<i>` is the manifest position, `<ts>` epoch seconds. A pending delete written without its
//! time (`<version>` alone) still reads, with no time.

use std::collections::BTreeMap;

/// Suffix of the name of a pending-delete entry.
const DELETE_SUFFIX: &str = ":delete";
/// Prefix of the value of an upload being created.
const CREATING_PREFIX: &str = "pending:";

/// The name of an entry of the `uploads` map: which manifest position, and which kind of record.
/// Two records of different kinds can exist for one position (a multipart copy under
/// `--delete-source-version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum UploadSlot {
    /// A multipart upload of the copy of manifest position `.0` (open or being created).
    Upload(usize),
    /// A source version of manifest position `.0` to delete after its copy.
    PendingDelete(usize),
}

impl UploadSlot {
    /// The manifest position.
    pub fn index(self) -> usize {
        match self {
            Self::Upload(i) | Self::PendingDelete(i) => i,
        }
    }

    /// The entry's name in the map.
    pub fn name(self) -> String {
        match self {
            Self::Upload(i) => i.to_string(),
            Self::PendingDelete(i) => format!("{i}{DELETE_SUFFIX}"),
        }
    }

    /// Reads an entry's name; `None` for a name no thaw version writes.
    pub fn parse(name: &str) -> Option<Self> {
        match name.strip_suffix(DELETE_SUFFIX) {
            Some(i) => i.parse().ok().map(Self::PendingDelete),
            None => name.parse().ok().map(Self::Upload),
        }
    }
}

/// What an entry of the `uploads` map records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadRecord {
    /// CreateMultipartUpload was about to be sent at `since` (epoch seconds): a crash before its
    /// id was recorded leaves an upload the next run finds by key.
    Creating {
        /// When the record was written.
        since: i64,
    },
    /// An open multipart upload, recorded before its parts are copied.
    Open {
        /// S3's upload id.
        upload_id: String,
    },
    /// The source version a copy will delete once the copy is verified.
    PendingDelete {
        /// When the record was written (epoch seconds), before the copy; `None` for a record
        /// written without it.
        recorded_at: Option<i64>,
        /// The source version id.
        version: String,
    },
}

/// One entry of the `uploads` map: a manifest position and its record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadEntry {
    /// Manifest position of the key.
    pub index: usize,
    /// What is recorded for it.
    pub record: UploadRecord,
}

impl UploadEntry {
    /// An upload of position `index` being created at `since` (epoch seconds).
    pub fn creating(index: usize, since: i64) -> Self {
        Self {
            index,
            record: UploadRecord::Creating { since },
        }
    }

    /// The open upload `upload_id` of position `index`.
    pub fn open(index: usize, upload_id: impl Into<String>) -> Self {
        Self {
            index,
            record: UploadRecord::Open {
                upload_id: upload_id.into(),
            },
        }
    }

    /// Source version `version` of position `index`, to delete after its copy; recorded at
    /// `recorded_at` (epoch seconds).
    pub fn pending_delete(index: usize, recorded_at: i64, version: impl Into<String>) -> Self {
        Self {
            index,
            record: UploadRecord::PendingDelete {
                recorded_at: Some(recorded_at),
                version: version.into(),
            },
        }
    }

    /// The entry's slot (its name).
    pub fn slot(&self) -> UploadSlot {
        match self.record {
            UploadRecord::Creating { .. } | UploadRecord::Open { .. } => {
                UploadSlot::Upload(self.index)
            }
            UploadRecord::PendingDelete { .. } => UploadSlot::PendingDelete(self.index),
        }
    }

    /// The entry's name in the map.
    pub fn name(&self) -> String {
        self.slot().name()
    }

    /// The entry's value in the map.
    pub fn value(&self) -> String {
        match &self.record {
            UploadRecord::Creating { since } => format!("{CREATING_PREFIX}{since}"),
            UploadRecord::Open { upload_id } => upload_id.clone(),
            UploadRecord::PendingDelete {
                recorded_at: Some(at),
                version,
            } => format!("{at} {version}"),
            UploadRecord::PendingDelete {
                recorded_at: None,
                version,
            } => version.clone(),
        }
    }

    /// Reads one entry of the map; `None` when its name is none thaw writes.
    pub fn parse(name: &str, value: &str) -> Option<Self> {
        let slot = UploadSlot::parse(name)?;
        let record = match slot {
            UploadSlot::Upload(_) => match value
                .strip_prefix(CREATING_PREFIX)
                .and_then(|t| t.parse().ok())
            {
                Some(since) => UploadRecord::Creating { since },
                None => UploadRecord::Open {
                    upload_id: value.to_owned(),
                },
            },
            UploadSlot::PendingDelete(_) => {
                let (recorded_at, version) = match value.split_once(' ') {
                    Some((at, version)) => match at.parse() {
                        Ok(at) => (Some(at), version),
                        Err(_) => (None, value),
                    },
                    None => (None, value),
                };
                UploadRecord::PendingDelete {
                    recorded_at,
                    version: version.to_owned(),
                }
            }
        };
        Some(Self {
            index: slot.index(),
            record,
        })
    }
}

/// The most changes one update of the map carries: an UpdateExpression is at most 4 KB, and
/// each change takes about 25 characters of it.
pub const MAX_UPLOAD_CHANGES: usize = 100;

/// One change to the `uploads` map: an entry written or removed. The worker sends the changes of
/// the keys in flight together, one UpdateItem per group (see `put_upload_changes` of the
/// progress table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadChange {
    /// Write this entry (replacing any entry of the same name).
    Put(UploadEntry),
    /// Remove the entry of this slot.
    Remove(UploadSlot),
}

impl UploadChange {
    /// The name of the entry it changes.
    pub fn name(&self) -> String {
        match self {
            Self::Put(e) => e.name(),
            Self::Remove(slot) => slot.name(),
        }
    }

    /// The value written, `None` for a removal.
    pub fn value(&self) -> Option<String> {
        match self {
            Self::Put(e) => Some(e.value()),
            Self::Remove(_) => None,
        }
    }
}

/// A group of changes as one update can carry them: one change per name (DynamoDB refuses an
/// update naming a path twice), the later change of a name winning, in name order. `Some`
/// value: written; `None`: removed.
pub fn merge_changes(changes: &[UploadChange]) -> BTreeMap<String, Option<String>> {
    changes.iter().map(|c| (c.name(), c.value())).collect()
}

/// Every readable entry of an `uploads` map, in the map's order (names no thaw version writes
/// are left out, and left in the table).
pub fn entries(map: &BTreeMap<String, String>) -> Vec<UploadEntry> {
    map.iter()
        .filter_map(|(name, value)| UploadEntry::parse(name, value))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(e: UploadEntry) {
        assert_eq!(
            UploadEntry::parse(&e.name(), &e.value()),
            Some(e.clone()),
            "{e:?}"
        );
    }

    #[test]
    fn every_record_round_trips() {
        round_trip(UploadEntry::creating(0, 1_795_000_000));
        round_trip(UploadEntry::open(17, "VXBsb2FkIElEIGZvciBlbHZpbmc"));
        round_trip(UploadEntry::pending_delete(
            4_999,
            1_795_000_000,
            "3HL4kqtJlcpXroDTDmJ+rmSp",
        ));
        round_trip(UploadEntry {
            index: 3,
            record: UploadRecord::PendingDelete {
                recorded_at: None,
                version: "null".into(),
            },
        });
    }

    #[test]
    fn names_and_values_are_todays_strings() {
        let e = UploadEntry::creating(12, 1_795_000_000);
        assert_eq!(
            (e.name(), e.value()),
            ("12".into(), "pending:1795000000".into())
        );
        let e = UploadEntry::open(12, "abc.def");
        assert_eq!((e.name(), e.value()), ("12".into(), "abc.def".into()));
        let e = UploadEntry::pending_delete(12, 1_795_000_000, "v1");
        assert_eq!(
            (e.name(), e.value()),
            ("12:delete".into(), "1795000000 v1".into())
        );
        assert_eq!(UploadSlot::Upload(7).name(), "7");
        assert_eq!(UploadSlot::PendingDelete(7).name(), "7:delete");
    }

    #[test]
    fn values_written_by_earlier_versions_read() {
        // An upload id recorded as is, a pending create, a pending delete with and without time.
        assert_eq!(
            UploadEntry::parse("5", "2~abcDEF"),
            Some(UploadEntry::open(5, "2~abcDEF"))
        );
        assert_eq!(
            UploadEntry::parse("5", "pending:1700000000"),
            Some(UploadEntry::creating(5, 1_700_000_000))
        );
        assert_eq!(
            UploadEntry::parse("5:delete", "1700000000 3HL4kqtJlcpXroDTDmJ+rmSp"),
            Some(UploadEntry::pending_delete(
                5,
                1_700_000_000,
                "3HL4kqtJlcpXroDTDmJ+rmSp"
            ))
        );
        let untimed = UploadEntry::parse("5:delete", "null").expect("reads");
        assert_eq!(
            untimed.record,
            UploadRecord::PendingDelete {
                recorded_at: None,
                version: "null".into()
            }
        );
        // A value whose first word is no time is a version as a whole.
        let odd = UploadEntry::parse("5:delete", "x y").expect("reads");
        assert_eq!(
            odd.record,
            UploadRecord::PendingDelete {
                recorded_at: None,
                version: "x y".into()
            }
        );
        // "pending:" without a time is kept as an upload id (aborting it finds nothing).
        assert_eq!(
            UploadEntry::parse("5", "pending:soon"),
            Some(UploadEntry::open(5, "pending:soon"))
        );
    }

    #[test]
    fn a_group_of_changes_names_each_entry_once() {
        let changes = [
            UploadChange::Put(UploadEntry::pending_delete(3, 1_700_000_000, "v3")),
            UploadChange::Put(UploadEntry::creating(4, 1_700_000_001)),
            UploadChange::Remove(UploadSlot::PendingDelete(9)),
            UploadChange::Put(UploadEntry::open(4, "up-4")),
            UploadChange::Remove(UploadSlot::Upload(3)),
        ];
        let merged = merge_changes(&changes);
        assert_eq!(
            merged.into_iter().collect::<Vec<_>>(),
            [
                ("3".to_owned(), None),
                ("3:delete".to_owned(), Some("1700000000 v3".to_owned())),
                ("4".to_owned(), Some("up-4".to_owned())),
                ("9:delete".to_owned(), None),
            ]
        );
        assert!(merge_changes(&[]).is_empty());
    }

    #[test]
    fn unknown_names_are_left_out() {
        assert_eq!(UploadSlot::parse("x"), None);
        assert_eq!(UploadSlot::parse("1:copy"), None);
        assert_eq!(UploadSlot::parse(":delete"), None);
        assert_eq!(UploadSlot::parse("-1"), None);
        let map = BTreeMap::from([
            ("3".to_owned(), "up-3".to_owned()),
            ("3:delete".to_owned(), "1700000000 v3".to_owned()),
            ("junk".to_owned(), "x".to_owned()),
            ("10".to_owned(), "pending:1700000001".to_owned()),
        ]);
        let slots: Vec<UploadSlot> = entries(&map).iter().map(UploadEntry::slot).collect();
        assert_eq!(
            slots,
            [
                UploadSlot::Upload(10),
                UploadSlot::Upload(3),
                UploadSlot::PendingDelete(3)
            ]
        );
    }
}
