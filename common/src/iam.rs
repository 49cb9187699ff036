//! The AWS permissions of thaw, in one place: which SDK operations each binary calls, which IAM
//! actions each of those calls needs as thaw makes it, and the resulting action list of every
//! identity a deployment creates.
//!
//! Three identities take part in a job:
//!
//! - the **worker task role** ([`WORKER_ACTIONS`]): what the `worker` binary calls, on the data
//!   bucket, the control prefix and the progress table (`task-defs/iam/worker-task-role.json`);
//! - the **coordinator** ([`COORDINATOR_ACTIONS`]): the person or CI role that runs
//!   `coordinator init`, `launch` and the commands that operate a job
//!   (`task-defs/iam/coordinator.json`; the [`INIT_ACTIONS`] are a separate statement there);
//! - the **task execution role** ([`EXECUTION_ACTIONS`]): what ECS itself needs to start the
//!   task: pull the image from ECR and write the container's logs to CloudWatch Logs
//!   (`task-defs/iam/execution-role.json`).
//!
//! `coordinator launch --launcher local` runs the workers as local processes with the
//! coordinator's own credentials, which then need the worker's actions as well.
//!
//! The lists are checked both ways: the unit tests below check that every action of a role comes
//! from an operation of [`OPERATIONS`] that role calls, or from a reasoned extra
//! ([`WORKER_EXTRA_ACTIONS`], [`COORDINATOR_EXTRA_ACTIONS`]); the integration tests
//! (`tests/integration/deploy_tests.rs`) check that the source code calls exactly the operations
//! listed in [`WORKER_OPERATIONS`] and [`COORDINATOR_OPERATIONS`], and that the policy files and
//! the CloudFormation template grant exactly these actions. A new AWS call without a policy
//! update fails the tests.

use std::collections::BTreeSet;

/// One AWS SDK operation and the IAM actions it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    /// The Rust SDK client method, snake_case (`head_object`): what the source code calls.
    pub method: &'static str,
    /// The API operation name (`HeadObject`): what errors, logs and AWS documentation use.
    pub name: &'static str,
    /// The IAM actions the call needs as thaw makes it (e.g. CopyObject with
    /// `TaggingDirective=COPY` and object lock headers needs the tagging and object lock write
    /// actions too, on top of reading the source and writing the destination).
    pub actions: &'static [&'static str],
}

/// Every SDK operation thaw knows the IAM actions of, grouped by service and sorted by method
/// (after the "API operations" tables of AWS's Service Authorization Reference, plus what the
/// parameters thaw sends add: tags, object lock headers, ECS tags and roles). Operations no binary
/// calls today may be listed (so a new call only needs adding to a role's operation list); a
/// call to a client method missing here fails the integration tests.
pub const OPERATIONS: &[Operation] = &[
    // S3
    Operation {
        method: "abort_multipart_upload",
        name: "AbortMultipartUpload",
        actions: &["s3:AbortMultipartUpload"],
    },
    Operation {
        method: "complete_multipart_upload",
        name: "CompleteMultipartUpload",
        actions: &["s3:PutObject"],
    },
    Operation {
        method: "copy_object",
        name: "CopyObject",
        actions: &[
            "s3:GetObject",
            "s3:GetObjectTagging",
            "s3:GetObjectVersion",
            "s3:PutObject",
            "s3:PutObjectAcl",
            "s3:PutObjectLegalHold",
            "s3:PutObjectRetention",
            "s3:PutObjectTagging",
        ],
    },
    Operation {
        method: "create_bucket",
        name: "CreateBucket",
        actions: &["s3:CreateBucket"],
    },
    Operation {
        method: "create_multipart_upload",
        name: "CreateMultipartUpload",
        actions: &[
            "s3:PutObject",
            "s3:PutObjectAcl",
            "s3:PutObjectLegalHold",
            "s3:PutObjectRetention",
            "s3:PutObjectTagging",
        ],
    },
    // thaw deletes only with a version id (`--delete-source-version`): DeleteObjectVersion.
    Operation {
        method: "delete_object",
        name: "DeleteObject",
        actions: &["s3:DeleteObjectVersion"],
    },
    // GetBucketLifecycleConfiguration needs s3:GetLifecycleConfiguration.
    Operation {
        method: "get_bucket_lifecycle_configuration",
        name: "GetBucketLifecycleConfiguration",
        actions: &["s3:GetLifecycleConfiguration"],
    },
    // The notification configuration's actions are s3:GetBucketNotification / s3:PutBucketNotification.
    Operation {
        method: "get_bucket_notification_configuration",
        name: "GetBucketNotificationConfiguration",
        actions: &["s3:GetBucketNotification"],
    },
    Operation {
        method: "get_bucket_ownership_controls",
        name: "GetBucketOwnershipControls",
        actions: &["s3:GetBucketOwnershipControls"],
    },
    Operation {
        method: "get_bucket_versioning",
        name: "GetBucketVersioning",
        actions: &["s3:GetBucketVersioning"],
    },
    Operation {
        method: "get_object",
        name: "GetObject",
        actions: &["s3:GetObject"],
    },
    Operation {
        method: "get_object_lock_configuration",
        name: "GetObjectLockConfiguration",
        actions: &["s3:GetBucketObjectLockConfiguration"],
    },
    // With a versionId (pinned copies) the action is GetObjectVersionAcl.
    Operation {
        method: "get_object_acl",
        name: "GetObjectAcl",
        actions: &["s3:GetObjectAcl", "s3:GetObjectVersionAcl"],
    },
    Operation {
        method: "get_object_tagging",
        name: "GetObjectTagging",
        actions: &["s3:GetObjectTagging"],
    },
    Operation {
        method: "head_bucket",
        name: "HeadBucket",
        actions: &["s3:ListBucket"],
    },
    Operation {
        method: "head_object",
        name: "HeadObject",
        actions: &["s3:GetObject"],
    },
    // Listing Intelligent-Tiering configurations needs s3:GetIntelligentTieringConfiguration.
    Operation {
        method: "list_bucket_intelligent_tiering_configurations",
        name: "ListBucketIntelligentTieringConfigurations",
        actions: &["s3:GetIntelligentTieringConfiguration"],
    },
    Operation {
        method: "list_multipart_uploads",
        name: "ListMultipartUploads",
        actions: &["s3:ListBucketMultipartUploads"],
    },
    Operation {
        method: "list_objects_v2",
        name: "ListObjectsV2",
        actions: &["s3:ListBucket"],
    },
    Operation {
        method: "put_bucket_notification_configuration",
        name: "PutBucketNotificationConfiguration",
        actions: &["s3:PutBucketNotification"],
    },
    Operation {
        method: "put_object",
        name: "PutObject",
        actions: &["s3:PutObject"],
    },
    Operation {
        method: "put_object_tagging",
        name: "PutObjectTagging",
        actions: &["s3:PutObjectTagging"],
    },
    Operation {
        method: "restore_object",
        name: "RestoreObject",
        actions: &["s3:RestoreObject"],
    },
    Operation {
        method: "upload_part_copy",
        name: "UploadPartCopy",
        actions: &["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
    },
    // DynamoDB
    Operation {
        method: "batch_get_item",
        name: "BatchGetItem",
        actions: &["dynamodb:BatchGetItem"],
    },
    Operation {
        method: "batch_write_item",
        name: "BatchWriteItem",
        actions: &["dynamodb:BatchWriteItem"],
    },
    Operation {
        method: "create_table",
        name: "CreateTable",
        actions: &["dynamodb:CreateTable"],
    },
    Operation {
        method: "delete_item",
        name: "DeleteItem",
        actions: &["dynamodb:DeleteItem"],
    },
    Operation {
        method: "describe_table",
        name: "DescribeTable",
        actions: &["dynamodb:DescribeTable"],
    },
    Operation {
        method: "get_item",
        name: "GetItem",
        actions: &["dynamodb:GetItem"],
    },
    Operation {
        method: "put_item",
        name: "PutItem",
        actions: &["dynamodb:PutItem"],
    },
    Operation {
        method: "query",
        name: "Query",
        actions: &["dynamodb:Query"],
    },
    Operation {
        method: "scan",
        name: "Scan",
        actions: &["dynamodb:Scan"],
    },
    Operation {
        method: "update_item",
        name: "UpdateItem",
        actions: &["dynamodb:UpdateItem"],
    },
    // ECS
    Operation {
        method: "describe_clusters",
        name: "DescribeClusters",
        actions: &["ecs:DescribeClusters"],
    },
    Operation {
        method: "describe_task_definition",
        name: "DescribeTaskDefinition",
        actions: &["ecs:DescribeTaskDefinition"],
    },
    Operation {
        method: "describe_tasks",
        name: "DescribeTasks",
        actions: &["ecs:DescribeTasks"],
    },
    Operation {
        method: "list_tasks",
        name: "ListTasks",
        actions: &["ecs:ListTasks"],
    },
    // RunTask with `tags` needs ecs:TagResource, and passing the task definition's task and
    // execution roles needs iam:PassRole on both.
    Operation {
        method: "run_task",
        name: "RunTask",
        actions: &["ecs:RunTask", "ecs:TagResource", "iam:PassRole"],
    },
    Operation {
        method: "stop_task",
        name: "StopTask",
        actions: &["ecs:StopTask"],
    },
    // SQS (restore-completed events)
    Operation {
        method: "change_message_visibility",
        name: "ChangeMessageVisibility",
        actions: &["sqs:ChangeMessageVisibility"],
    },
    Operation {
        method: "create_queue",
        name: "CreateQueue",
        actions: &["sqs:CreateQueue"],
    },
    Operation {
        method: "delete_message",
        name: "DeleteMessage",
        actions: &["sqs:DeleteMessage"],
    },
    // DeleteMessageBatch has no action of its own: sqs:DeleteMessage.
    Operation {
        method: "delete_message_batch",
        name: "DeleteMessageBatch",
        actions: &["sqs:DeleteMessage"],
    },
    Operation {
        method: "get_queue_attributes",
        name: "GetQueueAttributes",
        actions: &["sqs:GetQueueAttributes"],
    },
    Operation {
        method: "get_queue_url",
        name: "GetQueueUrl",
        actions: &["sqs:GetQueueUrl"],
    },
    Operation {
        method: "receive_message",
        name: "ReceiveMessage",
        actions: &["sqs:ReceiveMessage"],
    },
    Operation {
        method: "set_queue_attributes",
        name: "SetQueueAttributes",
        actions: &["sqs:SetQueueAttributes"],
    },
    // EventBridge
    Operation {
        method: "describe_rule",
        name: "DescribeRule",
        actions: &["events:DescribeRule"],
    },
    Operation {
        method: "list_targets_by_rule",
        name: "ListTargetsByRule",
        actions: &["events:ListTargetsByRule"],
    },
    Operation {
        method: "put_rule",
        name: "PutRule",
        actions: &["events:PutRule"],
    },
    Operation {
        method: "put_targets",
        name: "PutTargets",
        actions: &["events:PutTargets"],
    },
];

/// The SDK operations the `worker` binary calls (in `worker/src`, or in `common/src` code the
/// worker runs: the progress table's reads and fenced writes), sorted.
pub const WORKER_OPERATIONS: &[&str] = &[
    "abort_multipart_upload",
    "complete_multipart_upload",
    "copy_object",
    "create_multipart_upload",
    "delete_object",
    "get_item",
    "get_object",
    "get_object_acl",
    "get_object_tagging",
    "head_object",
    "list_multipart_uploads",
    "list_objects_v2",
    "put_object",
    "restore_object",
    "update_item",
    "upload_part_copy",
];

/// The SDK operations the `coordinator` binary calls (in `coordinator/src`, or in `common/src`
/// code the coordinator runs: table creation, job and lot records, queries, the `jobs` scan),
/// sorted.
pub const COORDINATOR_OPERATIONS: &[&str] = &[
    "create_bucket",
    "create_queue",
    "create_table",
    "delete_message_batch",
    "describe_clusters",
    "describe_rule",
    "describe_table",
    "describe_task_definition",
    "describe_tasks",
    "get_bucket_lifecycle_configuration",
    "get_bucket_notification_configuration",
    "get_bucket_ownership_controls",
    "get_bucket_versioning",
    "get_item",
    "get_object",
    "get_object_lock_configuration",
    "get_queue_attributes",
    "get_queue_url",
    "head_bucket",
    "head_object",
    "list_bucket_intelligent_tiering_configurations",
    "list_objects_v2",
    "list_targets_by_rule",
    "list_tasks",
    "put_bucket_notification_configuration",
    "put_item",
    "put_object",
    "put_rule",
    "put_targets",
    "query",
    "receive_message",
    "run_task",
    "scan",
    "set_queue_attributes",
    "stop_task",
    "update_item",
];

/// Actions the worker needs that no single call of [`WORKER_OPERATIONS`] implies: `(action,
/// why)`, sorted by action.
pub const WORKER_EXTRA_ACTIONS: &[(&str, &str)] = &[
    (
        "kms:Decrypt",
        "reading SSE-KMS objects: copy sources, multipart copies, and job.json and manifests in an SSE-KMS control bucket",
    ),
    (
        "kms:GenerateDataKey",
        "writing SSE-KMS copies (in place: the source's KMS key; into other buckets: --dest-kms-key or the destination's default key)",
    ),
    (
        "s3:GetObjectLegalHold",
        "HeadObject returns an object's legal hold only with this; without it a copy silently drops the legal hold",
    ),
    (
        "s3:GetObjectRetention",
        "HeadObject returns an object's retention only with this; without it a copy silently drops the retention",
    ),
    (
        "s3:GetObjectVersionTagging",
        "CopyObject with TaggingDirective=COPY reads the tags of the source version in a versioned bucket; read-only, on the same objects",
    ),
    // s3:ListBucket comes with ListObjectsV2 (restore polling by listing); HeadObject needs it
    // too: on a missing key it answers 404 (recorded as NoSuchKey) only with ListBucket.
];

/// Actions the coordinator needs that no single call of [`COORDINATOR_OPERATIONS`] implies:
/// `(action, why)`, sorted by action.
pub const COORDINATOR_EXTRA_ACTIONS: &[(&str, &str)] = &[
    (
        "kms:Decrypt",
        "reading lot manifests back (`failures`, `report`) from a control bucket whose default encryption is SSE-KMS",
    ),
    (
        "kms:GenerateDataKey",
        "writing lot manifests, job.json and reports to a control bucket whose default encryption is SSE-KMS",
    ),
];

/// Every action the worker task role grants: the actions of [`WORKER_OPERATIONS`] plus
/// [`WORKER_EXTRA_ACTIONS`], sorted. `task-defs/iam/worker-task-role.json` and the task role of
/// `task-defs/stack.yaml` grant exactly these.
pub const WORKER_ACTIONS: &[&str] = &[
    "dynamodb:GetItem",
    "dynamodb:UpdateItem",
    "kms:Decrypt",
    "kms:GenerateDataKey",
    "s3:AbortMultipartUpload",
    "s3:DeleteObjectVersion",
    "s3:GetObject",
    "s3:GetObjectAcl",
    "s3:GetObjectLegalHold",
    "s3:GetObjectRetention",
    "s3:GetObjectTagging",
    "s3:GetObjectVersion",
    "s3:GetObjectVersionAcl",
    "s3:GetObjectVersionTagging",
    "s3:ListBucket",
    "s3:ListBucketMultipartUploads",
    "s3:PutObject",
    "s3:PutObjectAcl",
    "s3:PutObjectLegalHold",
    "s3:PutObjectRetention",
    "s3:PutObjectTagging",
    "s3:RestoreObject",
];

/// Every action the coordinator needs: the actions of [`COORDINATOR_OPERATIONS`] plus
/// [`COORDINATOR_EXTRA_ACTIONS`], sorted, [`INIT_ACTIONS`] included.
/// `task-defs/iam/coordinator.json` grants exactly these.
pub const COORDINATOR_ACTIONS: &[&str] = &[
    "dynamodb:CreateTable",
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:UpdateItem",
    "ecs:DescribeClusters",
    "ecs:DescribeTaskDefinition",
    "ecs:DescribeTasks",
    "ecs:ListTasks",
    "ecs:RunTask",
    "ecs:StopTask",
    "ecs:TagResource",
    "events:DescribeRule",
    "events:ListTargetsByRule",
    "events:PutRule",
    "events:PutTargets",
    "iam:PassRole",
    "kms:Decrypt",
    "kms:GenerateDataKey",
    "s3:CreateBucket",
    "s3:GetBucketNotification",
    "s3:GetBucketObjectLockConfiguration",
    "s3:GetBucketOwnershipControls",
    "s3:GetBucketVersioning",
    "s3:GetIntelligentTieringConfiguration",
    "s3:GetLifecycleConfiguration",
    "s3:GetObject",
    "s3:ListBucket",
    "s3:PutBucketNotification",
    "s3:PutObject",
    "sqs:CreateQueue",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
    "sqs:ReceiveMessage",
    "sqs:SetQueueAttributes",
];

/// The coordinator's actions that only `coordinator init` uses (creating the table and, with
/// `--create-bucket`, the control bucket), sorted. They are a separate statement of
/// `task-defs/iam/coordinator.json` (Sid `InitOnly`) that can be dropped once the table exists.
pub const INIT_ACTIONS: &[&str] = &["dynamodb:CreateTable", "s3:CreateBucket"];

/// Every action the ECS task execution role grants, sorted: pulling the worker image from ECR
/// and writing the container's logs to its CloudWatch Logs group. No SDK call of thaw needs
/// them; ECS makes these calls itself.
pub const EXECUTION_ACTIONS: &[&str] = &[
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:GetAuthorizationToken",
    "ecr:GetDownloadUrlForLayer",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
];

/// The operation whose SDK client method is `method` (`head_object`), if thaw knows it.
pub fn operation(method: &str) -> Option<&'static Operation> {
    OPERATIONS.iter().find(|op| op.method == method)
}

/// The union of the IAM actions the given SDK methods need; `Err` names the first method missing
/// from [`OPERATIONS`].
pub fn actions_for<'a>(
    methods: impl IntoIterator<Item = &'a str>,
) -> Result<BTreeSet<&'static str>, String> {
    let mut actions = BTreeSet::new();
    for m in methods {
        let op = operation(m)
            .ok_or_else(|| format!("SDK method '{m}' is not in thaw_common::iam::OPERATIONS"))?;
        actions.extend(op.actions.iter().copied());
    }
    Ok(actions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(list: &[&'static str]) -> BTreeSet<&'static str> {
        list.iter().copied().collect()
    }

    fn assert_sorted_unique(what: &str, list: &[&str]) {
        assert!(
            list.windows(2).all(|w| w[0] < w[1]),
            "{what} must be sorted and without duplicates: {list:?}"
        );
    }

    /// `service:Action`, with the services thaw deals with.
    fn assert_action_shape(action: &str) {
        let (service, name) = action.split_once(':').expect("service:Action");
        assert!(
            ["s3", "dynamodb", "ecs", "iam", "kms", "ecr", "logs", "sqs", "events"]
                .contains(&service),
            "unexpected service in {action}"
        );
        assert!(
            name.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                && name.chars().all(|c| c.is_ascii_alphanumeric()),
            "bad action name {action}"
        );
    }

    #[test]
    fn lists_are_sorted_and_well_formed() {
        let methods: BTreeSet<&str> = OPERATIONS.iter().map(|o| o.method).collect();
        assert_eq!(
            methods.len(),
            OPERATIONS.len(),
            "an operation is listed twice"
        );
        assert_sorted_unique("WORKER_OPERATIONS", WORKER_OPERATIONS);
        assert_sorted_unique("COORDINATOR_OPERATIONS", COORDINATOR_OPERATIONS);
        assert_sorted_unique("WORKER_ACTIONS", WORKER_ACTIONS);
        assert_sorted_unique("COORDINATOR_ACTIONS", COORDINATOR_ACTIONS);
        assert_sorted_unique("INIT_ACTIONS", INIT_ACTIONS);
        assert_sorted_unique("EXECUTION_ACTIONS", EXECUTION_ACTIONS);
        for extras in [WORKER_EXTRA_ACTIONS, COORDINATOR_EXTRA_ACTIONS] {
            let names: Vec<&str> = extras.iter().map(|(a, _)| *a).collect();
            assert_sorted_unique("extra actions", &names);
            assert!(extras.iter().all(|(_, why)| !why.is_empty()));
        }
        for op in OPERATIONS {
            assert!(!op.actions.is_empty(), "{} grants nothing", op.name);
            assert_sorted_unique(op.name, op.actions);
            // the method is the snake_case of the operation name
            let snake: String = op
                .name
                .chars()
                .enumerate()
                .flat_map(|(i, c)| {
                    let lower = c.to_ascii_lowercase();
                    if c.is_ascii_uppercase() && i > 0 {
                        vec!['_', lower]
                    } else {
                        vec![lower]
                    }
                })
                .collect();
            assert_eq!(snake, op.method, "method of {}", op.name);
        }
        for a in WORKER_ACTIONS
            .iter()
            .chain(COORDINATOR_ACTIONS)
            .chain(EXECUTION_ACTIONS)
            .chain(OPERATIONS.iter().flat_map(|o| o.actions))
        {
            assert_action_shape(a);
        }
    }

    /// A role's actions are exactly what its operations need plus its reasoned extras: nothing
    /// missing, nothing granted without a reason.
    #[test]
    fn role_actions_follow_from_operations() {
        for (role, ops, extras, actions) in [
            (
                "worker",
                WORKER_OPERATIONS,
                WORKER_EXTRA_ACTIONS,
                WORKER_ACTIONS,
            ),
            (
                "coordinator",
                COORDINATOR_OPERATIONS,
                COORDINATOR_EXTRA_ACTIONS,
                COORDINATOR_ACTIONS,
            ),
        ] {
            let mut expected = actions_for(ops.iter().copied()).expect("known operations");
            for (a, _) in extras {
                assert!(
                    expected.insert(*a),
                    "{role}: extra action {a} is already implied by an operation"
                );
            }
            assert_eq!(expected, set(actions), "{role} actions");
        }
    }

    #[test]
    fn init_actions_are_coordinator_actions() {
        assert!(set(INIT_ACTIONS).is_subset(&set(COORDINATOR_ACTIONS)));
        assert_eq!(
            actions_for(["create_table", "create_bucket"]).expect("known"),
            set(INIT_ACTIONS)
        );
    }

    #[test]
    fn lookups() {
        assert_eq!(operation("head_object").map(|o| o.name), Some("HeadObject"));
        assert_eq!(
            operation("head_bucket").map(|o| o.actions),
            Some(&["s3:ListBucket"][..])
        );
        assert!(operation("frobnicate").is_none());
        let a = actions_for(["copy_object", "upload_part_copy"]).expect("known");
        assert!(a.contains("s3:GetObject") && a.contains("s3:PutObject"));
        let e = actions_for(["head_object", "frobnicate"]).unwrap_err();
        assert!(e.contains("frobnicate"), "{e}");
    }
}
