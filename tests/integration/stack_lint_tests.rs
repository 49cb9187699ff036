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
