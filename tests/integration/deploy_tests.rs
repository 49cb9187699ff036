//! The deploy kit, checked as files (no emulator, no AWS): the IAM policies under
//! `task-defs/iam/`, the task definition template `task-defs/worker.json`, the CloudFormation
//! template `task-defs/stack.yaml`, `scripts/render-task-def` and the Dockerfile's dependency
//! layer.
//!
//! The permission lists live in `thaw_common::iam`. These tests tie them to the source code (every
//! AWS SDK call the binaries make is an operation of their role, and every operation of a role is
//! still called) and to the files (each policy grants exactly its role's actions), so a new AWS
//! call without a policy update fails here rather than with AccessDenied on a real job.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use thaw_common::iam;

/// The repository root (the coordinator crate is one level below it).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repository root")
        .to_path_buf()
}

fn read(rel: &str) -> String {
    let path = root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn json(rel: &str) -> Value {
    serde_json::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel} is not valid JSON: {e}"))
}

fn yaml(rel: &str) -> Value {
    serde_norway::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel} is not valid YAML: {e}"))
}

const WORKER_POLICY: &str = "task-defs/iam/worker-task-role.json";
const WORKER_TRUST: &str = "task-defs/iam/worker-task-trust.json";
const EXECUTION_POLICY: &str = "task-defs/iam/execution-role.json";
const EXECUTION_TRUST: &str = "task-defs/iam/execution-role-trust.json";
const COORDINATOR_POLICY: &str = "task-defs/iam/coordinator.json";
const TASK_DEF: &str = "task-defs/worker.json";
const STACK: &str = "task-defs/stack.yaml";

/// The `${NAME}` placeholders the templates may use; the README's deploy guide sets each one.
const PLACEHOLDERS: &[&str] = &[
    "ACCOUNT_ID",
    "BUCKET",
    "CLUSTER",
    "CONTROL_BUCKET",
    "CONTROL_PREFIX",
    "ECR_REPOSITORY",
    "EXECUTION_ROLE_ARN",
    "IMAGE_URI",
    "KMS_KEY_ARN",
    "LOG_GROUP",
    "REGION",
    "TABLE",
    "TASK_FAMILY",
    "TASK_ROLE_ARN",
];

/// The `${NAME}` placeholders of a template (NAME in capitals, digits and underscores).
fn placeholders(text: &str) -> BTreeSet<String> {
    let re = regex_lite::Regex::new(r"\$\{([A-Z_][A-Z0-9_]*)\}").expect("regex");
    re.captures_iter(text).map(|c| c[1].to_owned()).collect()
}

/// A string or an array of strings (IAM's `Action` and `Resource` take both).
fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().flat_map(strings).collect(),
        other => panic!("expected a string or a list of strings, got {other}"),
    }
}

/// The statements of a policy document; a CloudFormation `Fn::If` statement counts with its
/// `true` branch (the `false` branch is `AWS::NoValue` in thaw's template).
fn statements(doc: &Value) -> Vec<Value> {
    let list = doc["Statement"].as_array().expect("Statement is a list");
    assert!(!list.is_empty(), "empty policy");
    list.iter()
        .map(|s| match s.get("Fn::If") {
            Some(branches) => branches[1].clone(),
            None => s.clone(),
        })
        .collect()
}

/// Every action a policy document allows.
fn allowed_actions(doc: &Value) -> BTreeSet<String> {
    statements(doc)
        .iter()
        .flat_map(|s| {
            assert_eq!(s["Effect"], "Allow", "only Allow statements: {s}");
            strings(&s["Action"])
        })
        .collect()
}

fn as_set(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// The statement with this `Sid`.
fn statement(doc: &Value, sid: &str) -> Value {
    statements(doc)
        .into_iter()
        .find(|s| s["Sid"] == sid)
        .unwrap_or_else(|| panic!("no statement {sid}"))
}

#[test]
fn policy_files_parse_and_use_known_placeholders() {
    let known = as_set(PLACEHOLDERS);
    let mut files: Vec<String> = std::fs::read_dir(root().join("task-defs/iam"))
        .expect("task-defs/iam")
        .map(|e| {
            format!(
                "task-defs/iam/{}",
                e.expect("entry").file_name().to_string_lossy()
            )
        })
        .collect();
    files.sort();
    let mut expected = vec![
        WORKER_POLICY,
        WORKER_TRUST,
        EXECUTION_POLICY,
        EXECUTION_TRUST,
        COORDINATOR_POLICY,
    ];
    expected.sort();
    assert_eq!(files, expected, "task-defs/iam holds exactly these files");
    for f in files.iter().map(String::as_str).chain([TASK_DEF]) {
        let doc = json(f);
        if f != TASK_DEF {
            assert_eq!(doc["Version"], "2012-10-17", "{f}");
            for s in statements(&doc) {
                assert!(s["Sid"].is_string(), "{f}: every statement has a Sid: {s}");
                assert!(
                    s["Action"].is_string() || s["Action"].is_array(),
                    "{f}: {s}"
                );
                if f.ends_with("-trust.json") {
                    assert_eq!(s["Action"], "sts:AssumeRole", "{f}");
                    assert_eq!(s["Principal"]["Service"], "ecs-tasks.amazonaws.com", "{f}");
                } else {
                    assert!(!strings(&s["Resource"]).is_empty(), "{f}: {s}");
                }
            }
        }
        let unknown: Vec<String> = placeholders(&read(f)).difference(&known).cloned().collect();
        assert!(
            unknown.is_empty(),
            "{f} uses unknown placeholders {unknown:?}"
        );
    }
}

#[test]
fn worker_policy_grants_exactly_the_worker_actions() {
    let doc = json(WORKER_POLICY);
    assert_eq!(allowed_actions(&doc), as_set(iam::WORKER_ACTIONS));
    let objects = statement(&doc, "DataObjects");
    assert_eq!(strings(&objects["Resource"]), ["arn:aws:s3:::${BUCKET}/*"]);
    let table = statement(&doc, "ProgressTable");
    assert_eq!(
        strings(&table["Resource"]),
        ["arn:aws:dynamodb:${REGION}:${ACCOUNT_ID}:table/${TABLE}"]
    );
}

#[test]
fn coordinator_policy_grants_exactly_the_coordinator_actions() {
    let doc = json(COORDINATOR_POLICY);
    assert_eq!(allowed_actions(&doc), as_set(iam::COORDINATOR_ACTIONS));
    // CreateTable and CreateBucket only in their own statement, for `coordinator init`
    let init = statement(&doc, "InitOnly");
    assert_eq!(strings(&init["Action"]), iam::INIT_ACTIONS);
    for s in statements(&doc).iter().filter(|s| s["Sid"] != "InitOnly") {
        for a in strings(&s["Action"]) {
            assert!(
                !iam::INIT_ACTIONS.contains(&a.as_str()),
                "{a} outside InitOnly"
            );
        }
    }
    // iam:PassRole on exactly the two roles of the task definition, to ECS tasks only
    let pass = statements(&doc)
        .into_iter()
        .find(|s| strings(&s["Action"]).contains(&"iam:PassRole".to_owned()))
        .expect("PassRole statement");
    assert_eq!(strings(&pass["Action"]), ["iam:PassRole"]);
    assert_eq!(
        strings(&pass["Resource"]),
        ["${TASK_ROLE_ARN}", "${EXECUTION_ROLE_ARN}"]
    );
    assert_eq!(
        pass["Condition"]["StringEquals"]["iam:PassedToService"],
        "ecs-tasks.amazonaws.com"
    );
    // RunTask on the worker's task definition family, on the job's cluster only
    let run = statement(&doc, "RunWorkerTasksOnTheCluster");
    assert_eq!(
        strings(&run["Resource"]),
        ["arn:aws:ecs:${REGION}:${ACCOUNT_ID}:task-definition/${TASK_FAMILY}:*"]
    );
    assert_eq!(
        run["Condition"]["ArnEquals"]["ecs:cluster"],
        "arn:aws:ecs:${REGION}:${ACCOUNT_ID}:cluster/${CLUSTER}"
    );
}

#[test]
fn execution_role_grants_exactly_image_pull_and_logs() {
    assert_eq!(
        allowed_actions(&json(EXECUTION_POLICY)),
        as_set(iam::EXECUTION_ACTIONS)
    );
}

/// Least privilege: `"Resource": "*"` only for the actions that support nothing narrower
/// (ListTasks only with an `ecs:cluster` condition), and KMS only through S3 in the job's Region.
#[test]
fn resources_are_scoped() {
    let wildcard_ok = ["ecr:GetAuthorizationToken", "ecs:DescribeTaskDefinition"];
    for f in [WORKER_POLICY, EXECUTION_POLICY, COORDINATOR_POLICY] {
        for s in statements(&json(f)) {
            let actions = strings(&s["Action"]);
            if strings(&s["Resource"]).iter().any(|r| r == "*") {
                let on_cluster = s["Condition"]["ArnEquals"]["ecs:cluster"]
                    == "arn:aws:ecs:${REGION}:${ACCOUNT_ID}:cluster/${CLUSTER}";
                for a in &actions {
                    assert!(
                        wildcard_ok.contains(&a.as_str()) || (a == "ecs:ListTasks" && on_cluster),
                        "{f}: {a} on *"
                    );
                }
            }
            assert!(
                !actions.iter().any(|a| a.contains('*')),
                "{f}: wildcard action in {s}"
            );
            if actions.iter().any(|a| a.starts_with("kms:")) {
                assert_eq!(strings(&s["Resource"]), ["${KMS_KEY_ARN}"], "{f}");
                assert_eq!(
                    s["Condition"]["StringEquals"]["kms:ViaService"], "s3.${REGION}.amazonaws.com",
                    "{f}: KMS only through S3"
                );
            }
        }
    }
}

/// Finds the AWS SDK operations that the Rust sources under `dir` call.
///
/// The SDK's fluent clients have one method per API operation, called without arguments and then
/// configured: `ctx.s3.head_object().bucket(..).key(..).send()`. The scan skips comment lines and
/// looks at every argument-less method call `.name()` (whitespace and line breaks allowed around
/// the dot):
///
/// - a name listed in `iam::OPERATIONS` is an operation call (`.head_object()`), whatever it is
///   called on;
/// - any other name called directly on a binding named like an SDK client (`s3`, `client`, `ecs`,
///   `dynamodb`, `ddb`, ...) is an operation `iam::OPERATIONS` does not know yet: it is returned
///   in the second set, so the test fails and asks for the mapping to be added.
///
/// It does not see a call of an operation missing from `iam::OPERATIONS` made through a binding
/// with another name; mapping an operation before using it closes that gap.
fn sdk_calls(dir: &Path) -> (BTreeSet<String>, BTreeSet<String>) {
    const CLIENTS: &[&str] = &[
        "s3",
        "s3_client",
        "client",
        "ecs",
        "ecs_client",
        "dynamodb",
        "ddb",
        "ddb_client",
    ];
    const NOT_OPERATIONS: &[&str] = &["clone", "config"];
    let call = regex_lite::Regex::new(r"\.\s*([a-z][a-z0-9_]*)\s*\(\s*\)").expect("regex");
    let mut known = BTreeSet::new();
    let mut unknown = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    let mut files = 0;
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            for e in std::fs::read_dir(&path).expect("read_dir") {
                stack.push(e.expect("entry").path());
            }
            continue;
        }
        if path.extension().and_then(|e| e.to_str()) != Some("rs") {
            continue;
        }
        files += 1;
        let text: String = std::fs::read_to_string(&path)
            .expect("source")
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        for c in call.captures_iter(&text) {
            let name = &c[1];
            if iam::operation(name).is_some() {
                known.insert(name.to_owned());
                continue;
            }
            let start = c.get(0).expect("match").start();
            let before = text[..start].trim_end();
            let receiver: String = before
                .chars()
                .rev()
                .take_while(|ch| ch.is_ascii_alphanumeric() || *ch == '_')
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            if CLIENTS.contains(&receiver.as_str()) && !NOT_OPERATIONS.contains(&name) {
                unknown.insert(format!("{receiver}.{name}() in {}", path.display()));
            }
        }
    }
    assert!(files > 0, "no Rust sources under {}", dir.display());
    (known, unknown)
}

/// The scan itself, on sources written for it: calls split over lines, comment lines, a mapped
/// call on any receiver, an unmapped call on a client, and client methods that are no calls.
#[test]
fn scan_finds_known_and_unknown_calls() {
    let dir = std::env::temp_dir().join(format!("thaw-scan-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("nested")).expect("temp dir");
    std::fs::write(
        dir.join("a.rs"),
        "// s3.commented_out()\n\
         let x = ctx\n    .s3\n    .head_object()\n    .bucket(b);\n\
         let y = self.client . list_objects_v2 ( ).send();\n\
         let c = s3.clone();\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("nested/b.rs"),
        "fn f() { table.update_item().send(); ecs.frobnicate_tasks().send(); g.helper(); }\n",
    )
    .expect("write");
    std::fs::write(dir.join("notes.txt"), "s3.not_rust()").expect("write");
    let (known, unknown) = sdk_calls(&dir);
    std::fs::remove_dir_all(&dir).expect("cleanup");
    assert_eq!(
        known,
        as_set(&["head_object", "list_objects_v2", "update_item"])
    );
    let unknown: Vec<&str> = unknown
        .iter()
        .map(|u| u.split(" in ").next().unwrap_or_default())
        .collect();
    assert_eq!(unknown, ["ecs.frobnicate_tasks()"]);
}

#[test]
fn every_sdk_call_is_covered_by_its_role() {
    let (worker, w_unknown) = sdk_calls(&root().join("worker/src"));
    let (coordinator, c_unknown) = sdk_calls(&root().join("coordinator/src"));
    let (common, m_unknown) = sdk_calls(&root().join("common/src"));
    let unknown: Vec<&String> = w_unknown
        .iter()
        .chain(&c_unknown)
        .chain(&m_unknown)
        .collect();
    assert!(
        unknown.is_empty(),
        "AWS SDK calls missing from thaw_common::iam::OPERATIONS (add them with their IAM actions): {unknown:?}"
    );
    // sanity: the scan sees the calls everyone knows are there
    for m in [
        "head_object",
        "restore_object",
        "copy_object",
        "upload_part_copy",
    ] {
        assert!(worker.contains(m), "the scan missed worker {m}: {worker:?}");
    }
    for m in ["run_task", "put_object", "head_bucket"] {
        assert!(coordinator.contains(m), "the scan missed coordinator {m}");
    }
    assert!(common.contains("update_item") && common.contains("create_table"));

    let w_ops = as_set(iam::WORKER_OPERATIONS);
    let c_ops = as_set(iam::COORDINATOR_OPERATIONS);
    let missing: Vec<&String> = worker.difference(&w_ops).collect();
    assert!(
        missing.is_empty(),
        "worker/src calls {missing:?}: add them to iam::WORKER_OPERATIONS and WORKER_ACTIONS, and update the worker policies"
    );
    let missing: Vec<&String> = coordinator.difference(&c_ops).collect();
    assert!(
        missing.is_empty(),
        "coordinator/src calls {missing:?}: add them to iam::COORDINATOR_OPERATIONS and COORDINATOR_ACTIONS, and update task-defs/iam/coordinator.json"
    );
    // common/src runs in both binaries: each of its calls belongs to at least one role
    let both: BTreeSet<String> = w_ops.union(&c_ops).cloned().collect();
    let missing: Vec<&String> = common.difference(&both).collect();
    assert!(
        missing.is_empty(),
        "common/src calls {missing:?}: add them to the operations of the role(s) whose binary runs that code"
    );
    // and nothing is granted for calls that are gone
    let w_seen: BTreeSet<String> = worker.union(&common).cloned().collect();
    let c_seen: BTreeSet<String> = coordinator.union(&common).cloned().collect();
    let stale: Vec<&String> = w_ops.difference(&w_seen).collect();
    assert!(
        stale.is_empty(),
        "iam::WORKER_OPERATIONS lists {stale:?}, which the worker no longer calls"
    );
    let stale: Vec<&String> = c_ops.difference(&c_seen).collect();
    assert!(
        stale.is_empty(),
        "iam::COORDINATOR_OPERATIONS lists {stale:?}, which the coordinator no longer calls"
    );
    // every operation's actions are granted by the role's policy file
    for (role, ops, file) in [
        ("worker", iam::WORKER_OPERATIONS, WORKER_POLICY),
        (
            "coordinator",
            iam::COORDINATOR_OPERATIONS,
            COORDINATOR_POLICY,
        ),
    ] {
        let granted = allowed_actions(&json(file));
        for m in ops {
            let op = iam::operation(m).expect("known");
            for a in op.actions {
                assert!(
                    granted.contains(*a),
                    "{role}: {} needs {a}, which {file} does not grant",
                    op.name
                );
            }
        }
    }
}

#[test]
fn worker_task_definition_template() {
    let td = json(TASK_DEF);
    assert_eq!(td["networkMode"], "awsvpc");
    assert!(strings(&td["requiresCompatibilities"]).contains(&"FARGATE".to_owned()));
    assert_eq!(td["cpu"], "1024");
    assert_eq!(td["memory"], "2048");
    assert_eq!(td["executionRoleArn"], "${EXECUTION_ROLE_ARN}");
    assert_eq!(td["taskRoleArn"], "${TASK_ROLE_ARN}");
    let containers = td["containerDefinitions"].as_array().expect("containers");
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    assert_eq!(c["name"], "worker", "the coordinator's default --container");
    assert_eq!(c["essential"], true);
    assert_eq!(c["stopTimeout"], 120, "Fargate Spot's 2 minutes of notice");
    let memory = c["memory"].as_u64().expect("container-level memory");
    assert!(memory > 0 && memory <= 2048, "container memory {memory}");
    assert_eq!(c["logConfiguration"]["logDriver"], "awslogs");
    assert_eq!(c["image"], "${IMAGE_URI}");
}

/// Everything a CloudFormation template refers to: `Ref`, `Fn::GetAtt`, the `${...}` of `Fn::Sub`
/// and the conditions of `Fn::If`, collected as `(kind, name)`.
fn cfn_references(v: &Value, out: &mut Vec<(&'static str, String)>) {
    match v {
        Value::Object(m) => {
            for (k, val) in m {
                match k.as_str() {
                    "Ref" => out.push(("Ref", val.as_str().expect("Ref name").to_owned())),
                    "Fn::GetAtt" => {
                        let target = match val {
                            Value::String(s) => s.split('.').next().unwrap_or_default().to_owned(),
                            Value::Array(a) => a[0].as_str().expect("GetAtt target").to_owned(),
                            other => panic!("bad Fn::GetAtt {other}"),
                        };
                        out.push(("GetAtt", target));
                    }
                    "Fn::Sub" => {
                        let (text, vars) = match val {
                            Value::String(s) => (s.as_str(), None),
                            Value::Array(a) => (a[0].as_str().expect("Sub text"), a[1].as_object()),
                            other => panic!("bad Fn::Sub {other}"),
                        };
                        let re = regex_lite::Regex::new(r"\$\{([^!}][^}]*)\}").expect("regex");
                        for c in re.captures_iter(text) {
                            let name = &c[1];
                            if vars.is_some_and(|m| m.contains_key(name)) {
                                continue;
                            }
                            match name.split_once('.') {
                                Some((res, _)) if !name.starts_with("AWS::") => {
                                    out.push(("GetAtt", res.to_owned()))
                                }
                                _ => out.push(("Ref", name.to_owned())),
                            }
                        }
                    }
                    "Fn::If" => {
                        out.push(("Condition", val[0].as_str().expect("condition").to_owned()))
                    }
                    _ => {}
                }
                cfn_references(val, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| cfn_references(x, out)),
        _ => {}
    }
}

#[test]
fn cloudformation_stack() {
    let t = yaml(STACK);
    let params = t["Parameters"].as_object().expect("Parameters");
    let resources = t["Resources"].as_object().expect("Resources");
    let conditions = t["Conditions"].as_object().cloned().unwrap_or_default();
    for p in [
        "ImageUri",
        "Subnets",
        "SecurityGroup",
        "DataBucketNames",
        "ControlBucketName",
        "TableName",
        "LogRetentionDays",
    ] {
        assert!(params.contains_key(p), "parameter {p}");
    }
    assert_eq!(params["TableName"]["Default"], "thaw-progress");

    // resources of the expected types
    let mut by_type: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, r) in resources {
        by_type
            .entry(r["Type"].as_str().expect("Type"))
            .or_default()
            .push(name.as_str());
    }
    for (ty, n) in [
        ("AWS::ECS::Cluster", 1),
        ("AWS::DynamoDB::Table", 1),
        ("AWS::IAM::Role", 2),
        ("AWS::Logs::LogGroup", 1),
        ("AWS::ECS::TaskDefinition", 1),
    ] {
        assert_eq!(
            by_type.get(ty).map_or(0, Vec::len),
            n,
            "{ty} resources: {by_type:?}"
        );
    }
    let one = |ty: &str| &resources[by_type[ty][0]]["Properties"];

    // Fargate and Fargate Spot on the cluster
    let cluster = one("AWS::ECS::Cluster");
    let providers: BTreeSet<String> =
        match by_type.get("AWS::ECS::ClusterCapacityProviderAssociations") {
            Some(assoc) => strings(&resources[assoc[0]]["Properties"]["CapacityProviders"]),
            None => strings(&cluster["CapacityProviders"]),
        }
        .into_iter()
        .collect();
    assert_eq!(providers, as_set(&["FARGATE", "FARGATE_SPOT"]));

    // the progress table: on-demand, PITR, job_id (S) + lot (N)
    let table = one("AWS::DynamoDB::Table");
    assert_eq!(table["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(
        table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    let keys: Vec<(String, String)> = table["KeySchema"]
        .as_array()
        .expect("KeySchema")
        .iter()
        .map(|k| {
            (
                k["AttributeName"].as_str().expect("name").to_owned(),
                k["KeyType"].as_str().expect("type").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        [
            ("job_id".to_owned(), "HASH".to_owned()),
            ("lot".to_owned(), "RANGE".to_owned())
        ]
    );
    let attrs: BTreeSet<(String, String)> = table["AttributeDefinitions"]
        .as_array()
        .expect("AttributeDefinitions")
        .iter()
        .map(|a| {
            (
                a["AttributeName"].as_str().expect("name").to_owned(),
                a["AttributeType"].as_str().expect("type").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        attrs,
        BTreeSet::from([
            ("job_id".to_owned(), "S".to_owned()),
            ("lot".to_owned(), "N".to_owned())
        ])
    );
    assert_eq!(
        one("AWS::Logs::LogGroup")["RetentionInDays"]["Ref"],
        "LogRetentionDays"
    );

    // the task definition, as task-defs/worker.json
    let td = one("AWS::ECS::TaskDefinition");
    assert_eq!(td["NetworkMode"], "awsvpc");
    assert_eq!(strings(&td["RequiresCompatibilities"]), ["FARGATE"]);
    assert_eq!(td["Cpu"], "1024");
    assert_eq!(td["Memory"], "2048");
    let c = &td["ContainerDefinitions"][0];
    assert_eq!(c["Name"], "worker");
    assert_eq!(c["StopTimeout"], 120);
    assert_eq!(c["Image"]["Ref"], "ImageUri");
    assert_eq!(c["LogConfiguration"]["LogDriver"], "awslogs");

    // the two roles grant what their JSON twins grant
    let role_actions = |name: &str| -> BTreeSet<String> {
        resources[name]["Properties"]["Policies"]
            .as_array()
            .expect("Policies")
            .iter()
            .flat_map(|p| allowed_actions(&p["PolicyDocument"]))
            .collect()
    };
    let task_role = td["TaskRoleArn"]["Fn::GetAtt"][0]
        .as_str()
        .expect("task role");
    let exec_role = td["ExecutionRoleArn"]["Fn::GetAtt"][0]
        .as_str()
        .expect("execution role");
    assert_eq!(role_actions(task_role), as_set(iam::WORKER_ACTIONS));
    assert_eq!(role_actions(exec_role), as_set(iam::EXECUTION_ACTIONS));
    for role in [task_role, exec_role] {
        let trust = &resources[role]["Properties"]["AssumeRolePolicyDocument"];
        assert_eq!(
            trust["Statement"][0]["Principal"]["Service"],
            "ecs-tasks.amazonaws.com"
        );
    }

    // outputs for the coordinator's flags
    let outputs = t["Outputs"].as_object().expect("Outputs");
    for o in ["ClusterName", "TaskDefinitionArn", "TableName"] {
        assert!(outputs.contains_key(o), "output {o}");
    }

    // every reference names something that exists, and every parameter is used
    let mut refs = Vec::new();
    cfn_references(&t["Resources"], &mut refs);
    cfn_references(&t["Outputs"], &mut refs);
    cfn_references(&t["Conditions"], &mut refs);
    let mut errors = Vec::new();
    for (kind, name) in &refs {
        let ok = match *kind {
            "Ref" => {
                name.starts_with("AWS::")
                    || params.contains_key(name)
                    || resources.contains_key(name)
            }
            "GetAtt" => resources.contains_key(name),
            _ => conditions.contains_key(name),
        };
        if !ok {
            errors.push(format!("{kind} {name}"));
        }
    }
    for (name, r) in resources {
        if let Some(c) = r.get("Condition").and_then(Value::as_str) {
            if !conditions.contains_key(c) {
                errors.push(format!("Condition {c} of {name}"));
            }
        }
        for d in r.get("DependsOn").map(strings).unwrap_or_default() {
            if !resources.contains_key(&d) {
                errors.push(format!("DependsOn {d} of {name}"));
            }
        }
    }
    assert!(errors.is_empty(), "dangling references: {errors:?}");
    let used: BTreeSet<&str> = refs.iter().map(|(_, n)| n.as_str()).collect();
    let unused: Vec<&String> = params
        .keys()
        .filter(|p| !used.contains(p.as_str()))
        .collect();
    assert!(unused.is_empty(), "unused parameters {unused:?}");
}

/// `scripts/render-task-def` fills every placeholder of every template into valid JSON, and
/// refuses, naming it, a variable that is missing.
#[test]
fn render_script_fills_every_placeholder() {
    let script = root().join("scripts/render-task-def");
    let run = |template: &str, skip: Option<&str>| {
        let mut cmd = Command::new("bash");
        cmd.arg(&script).arg(root().join(template));
        for p in PLACEHOLDERS {
            cmd.env_remove(p);
            if Some(*p) != skip {
                cmd.env(p, format!("value-of-{p}&"));
            }
        }
        cmd.output().expect("running scripts/render-task-def")
    };
    for t in [
        TASK_DEF,
        WORKER_POLICY,
        WORKER_TRUST,
        EXECUTION_POLICY,
        EXECUTION_TRUST,
        COORDINATOR_POLICY,
    ] {
        let out = run(t, None);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{t}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{t}: {e}"));
        assert!(!stdout.contains("${"), "{t}: placeholder left: {stdout}");
        if t == TASK_DEF {
            assert_eq!(
                doc["containerDefinitions"][0]["image"],
                "value-of-IMAGE_URI&"
            );
        }
    }
    let out = run(TASK_DEF, Some("IMAGE_URI"));
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("IMAGE_URI"));
}

/// The README's deploy guide sets every placeholder.
#[test]
fn readme_sets_every_placeholder() {
    let readme = read("README.md");
    for p in PLACEHOLDERS {
        assert!(readme.contains(&format!("{p}=")), "README never sets {p}");
    }
}

/// The Dockerfile's dependency layer builds the workspace with stub sources: it must copy every
/// member's manifest and create every target file a manifest names (the coordinator's
/// integration test lives outside its crate, at `tests/integration/main.rs`).
#[test]
fn dockerfile_dependency_layer_has_every_target() {
    let dockerfile = read("docker/Dockerfile");
    assert!(dockerfile.contains("cargo build --release --locked -p thaw-worker"));
    let workspace = read("Cargo.toml");
    let members_line = workspace
        .lines()
        .find(|l| l.trim_start().starts_with("members"))
        .expect("workspace members");
    let members: Vec<&str> = members_line.split('"').skip(1).step_by(2).collect();
    assert!(members.contains(&"worker"), "{members:?}");
    for m in members {
        assert!(
            dockerfile.contains(&format!("COPY {m}/Cargo.toml {m}/Cargo.toml")),
            "Dockerfile does not copy {m}/Cargo.toml"
        );
        let manifest = read(&format!("{m}/Cargo.toml"));
        let mut targets: Vec<String> = manifest
            .lines()
            .filter_map(|l| l.trim().strip_prefix("path = \""))
            .filter_map(|l| l.strip_suffix('"'))
            .map(|p| {
                let joined = Path::new(m).join(p);
                // normalise `coordinator/../tests/...` to `tests/...`
                let mut parts: Vec<String> = Vec::new();
                for c in joined.components() {
                    match c {
                        std::path::Component::ParentDir => {
                            parts.pop();
                        }
                        other => parts.push(other.as_os_str().to_string_lossy().into_owned()),
                    }
                }
                parts.join("/")
            })
            .collect();
        // targets cargo finds by convention
        for default in ["src/lib.rs", "src/main.rs"] {
            let t = format!("{m}/{default}");
            if root().join(&t).exists() && !targets.contains(&t) {
                targets.push(t);
            }
        }
        for t in targets {
            assert!(
                dockerfile.contains(&format!("> {t}")),
                "the Dockerfile's stub layer does not create {t}"
            );
        }
    }
}

/// The packages of `package`'s normal dependency tree (no dev- or build-dependencies), with the
/// features that building `package` alone turns on, as `cargo tree` resolves them offline.
fn dependency_tree(package: &str) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .current_dir(root())
        .args(["tree", "--offline", "-e", "normal", "--prefix", "none"])
        .args(["--format", "{p}", "-p", package])
        .output()
        .expect("running cargo tree");
    assert!(
        out.status.success(),
        "cargo tree -p {package}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// The worker image stays lean: the worker binary does not link the ECS SDK (only the
/// coordinator launches tasks; `thaw-common` has `Aws::ecs()` behind its `ecs` feature).
#[test]
fn worker_binary_does_not_link_the_ecs_sdk() {
    let worker = dependency_tree("thaw-worker");
    assert!(
        worker.contains("thaw-common") && worker.contains("aws-sdk-s3"),
        "cargo tree saw no dependencies of the worker: {worker:?}"
    );
    assert!(
        !worker.contains("aws-sdk-ecs"),
        "the worker links aws-sdk-ecs: enable thaw-common's `ecs` feature only in the coordinator"
    );
    // the same listing does show it where it belongs
    assert!(dependency_tree("thaw-coordinator").contains("aws-sdk-ecs"));
}
