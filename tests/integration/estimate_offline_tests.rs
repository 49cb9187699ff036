//! `estimate --keys N` asks about a job with no list and no bucket: it runs on a machine with no
//! AWS at all, without looking for a configuration (whose chain asks IMDS for a Region and warns
//! when there is none).

use std::process::Command;

use crate::rig::*;

#[test]
fn estimate_of_a_job_without_its_list_loads_no_aws_configuration() {
    let home = std::env::temp_dir().join(unique("home"));
    std::fs::create_dir_all(&home).expect("home");
    let out = Command::new(bin("coordinator"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        // IMDS at a closed port: a configuration load would warn here even on a host where
        // IMDS answers (an EC2 CI runner)
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9")
        .env("THAW_LOG_FORMAT", "human")
        .args([
            "estimate",
            "--storage-class",
            "STANDARD",
            "--timeline",
            "--keys",
            "5000",
        ])
        .output()
        .expect("run coordinator");
    let out = assert_success(out, "estimate --keys");
    assert!(
        stdout(&out).contains("5000 keys in 1 lots"),
        "{}",
        stdout(&out)
    );
    let err = stderr(&out);
    assert!(!err.contains("IMDS") && !err.contains("WARN"), "{err}");
}

/// `estimate --lots N` splits as `launch --lots N` does; with `--lot-size` it is refused.
#[test]
fn estimate_splits_into_lots_as_launch_does() {
    let run = |extra: &[&str]| {
        let mut args = vec![
            "estimate",
            "--storage-class",
            "STANDARD",
            "--timeline",
            "--keys",
            "10000",
        ];
        args.extend_from_slice(extra);
        Command::new(bin("coordinator"))
            .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9")
            .args(args)
            .output()
            .expect("run coordinator")
    };
    let out = assert_success(run(&["--lots", "4"]), "estimate --lots 4");
    assert!(
        stdout(&out).contains("10000 keys in 4 lots"),
        "{}",
        stdout(&out)
    );
    for bad in [&["--lots", "0"][..], &["--lots", "2", "--lot-size", "10"]] {
        let out = run(bad);
        assert!(!out.status.success(), "{bad:?} accepted");
        assert!(!stderr(&out).is_empty());
    }
}
