//! The CloudFormation stack is linted by `cfn-lint` (pinned in `tests/requirements.txt`), so a
//! broken template fails the tests instead of a deploy.

use std::process::Command;

use crate::rig::repo_root;

#[test]
fn stack_template_is_cfn_lint_clean() {
    let lint = std::env::var_os("THAW_CFN_LINT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/cfn-lint"));
    assert!(
        lint.exists(),
        "cfn-lint is not installed: run scripts/setup-venv (looked for {})",
        lint.display()
    );
    let template = repo_root().join("task-defs/stack.yaml");
    let out = Command::new(&lint)
        .arg(&template)
        .output()
        .expect("run cfn-lint");
    assert!(
        out.status.success(),
        "cfn-lint found problems in {}:\n{}{}",
        template.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The dashboard graphs only metrics the workers emit (`thaw_common::emf::METRICS`), in thaw's
/// namespace, and covers the ones a person watches.
#[test]
fn dashboard_graphs_the_metrics_workers_emit() {
    let text = std::fs::read_to_string(repo_root().join("task-defs/stack.yaml")).expect("stack");
    let stack: serde_norway::Value = serde_norway::from_str(&text).expect("yaml");
    let body = stack["Resources"]["JobDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
        .as_str()
        .expect("a dashboard body to substitute");
    let graphed: Vec<&str> = body
        .split("MetricName=\\\"")
        .skip(1)
        .filter_map(|rest| rest.split("\\\"").next())
        .collect();
    let emitted: Vec<&str> = thaw_common::emf::METRICS.iter().map(|(n, _)| *n).collect();
    for m in &graphed {
        assert!(
            emitted.contains(m),
            "the dashboard graphs {m}, which no worker emits"
        );
    }
    for m in [
        "keys_copied",
        "restores_requested",
        "keys_throttled",
        "keys_failed",
        "running_tasks",
    ] {
        assert!(
            graphed.contains(&m),
            "the dashboard misses {m}: {graphed:?}"
        );
    }
    assert!(body.contains(&format!("{{{},job}}", thaw_common::emf::NAMESPACE)));
}
