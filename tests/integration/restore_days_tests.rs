//! Shorter restores, priced: `estimate` and `launch --dry-run` on archived objects price the
//! restored copies' storage (STANDARD from each restore's completion to its request +
//! `--restore-days`, rounded up to the next midnight UTC: on average the days + half a day less
//! the restore), what it would be at the shortest safe days (1 for GLACIER, 3 for DEEP_ARCHIVE
//! Bulk), and the saving, with the advice to ask those days. The bucket is unversioned: the
//! in-place copies remove their source, and the restored copies with it, so the figures are
//! upper bounds ("at most").

use serde_json::Value;
use thaw_common::cost::restored_copy_days;
use thaw_common::storage::RestoreTier;

use crate::rig::*;

const MIB: usize = 1024 * 1024;

/// STANDARD at $3,000/GB-month, so the restored copies of a few MiB show in cents.
const PRICES: &str = r#"{"storage_gb_month": {"STANDARD": 3000.0, "STANDARD_IA": 0.0125, "GLACIER": 0.0036, "DEEP_ARCHIVE": 0.00099}}"#;

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// Three 1 MiB objects in `class` and one STANDARD object, a key list naming them, and a prices
/// file.
async fn archived(
    c: &Clients,
    bucket: &str,
    class: &str,
) -> (std::path::PathBuf, std::path::PathBuf) {
    create_bucket(c, bucket).await;
    let mut keys = Vec::new();
    for i in 0..3 {
        let key = format!("cold/{i}");
        put(c, bucket, &key, class, &vec![b'g'; MIB]).await;
        keys.push(key);
    }
    put(c, bucket, "warm/0", "STANDARD", &vec![b's'; MIB]).await;
    keys.push("warm/0".into());
    let prices = std::env::temp_dir().join(format!("{}-prices.json", unique("p")));
    std::fs::write(&prices, PRICES).expect("write prices");
    (write_keys(&keys), prices)
}

#[tokio::test]
async fn estimate_and_dry_run_price_the_restored_copies_and_the_one_day_saving() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let bucket = unique("bucket");
    let (keys, prices) = archived(&c, &bucket, "GLACIER").await;
    let (keys, prices) = (keys.to_str().expect("path"), prices.to_str().expect("path"));
    let estimate = |extra: &[&str]| {
        let mut args = vec![
            "estimate",
            keys,
            "--bucket",
            &bucket,
            "--storage-class",
            "STANDARD_IA",
            "--prices",
            prices,
        ];
        args.extend_from_slice(extra);
        stdout(&run_ok(moto, "coordinator", &args, &[]))
    };

    // 3 MiB restored by GLACIER Bulk (8.5 h on average), kept 3 days + half a day - 8.5 h:
    // 3/1024 GiB x $3,000 x 3.146 / 30 = $0.92; at 1 day x 1.146 / 30 = $0.34; saving $0.59
    let gib = 3.0 / 1024.0;
    let kept = |days| restored_copy_days(days, "GLACIER", RestoreTier::Bulk);
    let (three, one) = (gib * 3000.0 * kept(3) / 30.0, gib * 3000.0 * kept(1) / 30.0);
    let doc: Value = serde_json::from_str(&estimate(&[
        "--restore-days",
        "3",
        "--json",
        "--restore-tier",
        "bulk",
    ]))
    .expect("estimate json");
    let e = &doc["estimate"];
    assert_eq!(e["restores"], 3, "{doc}");
    assert_eq!(e["restore_days"], 3, "{doc}");
    assert!((f(&e["restored_copies_usd"]) - three).abs() < 1e-9, "{doc}");
    assert!(
        (f(&e["restored_copies_shortest_usd"]) - one).abs() < 1e-9,
        "{doc}"
    );
    assert_eq!(e["shortest_restore_days"], 1, "{doc}");
    assert_eq!(e["restored_copies_end_at_copy"], true, "{doc}");
    let one_day: Value = serde_json::from_str(&estimate(&[
        "--restore-days",
        "1",
        "--json",
        "--restore-tier",
        "bulk",
    ]))
    .expect("estimate json");
    let total = |d: &Value| f(&d["estimate"]["total_usd"]);
    assert!(
        (total(&doc) - total(&one_day) - (three - one)).abs() < 1e-9,
        "{doc} {one_day}"
    );

    let text = estimate(&["--restore-days", "3", "--restore-tier", "bulk"]);
    assert!(
        text.contains("  restored copies      $        0.92"),
        "{text}"
    );
    assert!(
        text.contains("restored copies: 3.0 MiB kept as STANDARD from each restore's completion to its request + --restore-days 3 (+ to the next 00:00 UTC): at most $0.92; at --restore-days 1: at most $0.34 (saving at most $0.59)"),
        "{text}"
    );
    assert!(
        text.contains("advice: --restore-days 1 is safe when `coordinator follow` runs"),
        "{text}"
    );
    // Standard restores (3-5 h) are shorter: kept longer, and 1 day is safe too
    let std = estimate(&["--restore-days", "3", "--restore-tier", "standard"]);
    assert!(
        std.contains("at most $0.98; at --restore-days 1: at most $0.39 (saving at most $0.59)")
            && std.contains("advice: --restore-days 1 is safe"),
        "{std}"
    );

    // the dry run says the same for the plan's --restore-days
    let table = unique("table");
    init_table(moto, &table);
    let job = unique("job");
    let out = launch_local_ok(
        moto,
        &table,
        &bucket,
        &job,
        keys,
        &[
            "--dry-run",
            "--restore-tier",
            "bulk",
            "--restore-days",
            "3",
            "--prices",
            prices,
        ],
    );
    let text = stdout(&out);
    assert!(
        text.contains("  restored copies      $        0.92"),
        "{text}"
    );
    assert!(
        text.contains("at --restore-days 1: at most $0.34 (saving at most $0.59)"),
        "{text}"
    );
    assert!(text.contains("advice: --restore-days 1 is safe"), "{text}");
}

#[tokio::test]
async fn deep_archive_bulk_is_advised_three_days_and_warned_at_one() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let bucket = unique("bucket");
    let (keys, prices) = archived(&c, &bucket, "DEEP_ARCHIVE").await;
    let estimate = |days: &str| {
        let out = run_ok(
            moto,
            "coordinator",
            &[
                "estimate",
                keys.to_str().expect("path"),
                "--bucket",
                &bucket,
                "--storage-class",
                "STANDARD_IA",
                "--restore-tier",
                "bulk",
                "--restore-days",
                days,
                "--prices",
                prices.to_str().expect("path"),
            ],
            &[],
        );
        stdout(&out)
    };
    // 24-48 h restores: kept 6 of 7 days ($1.76), 2 of 3 ($0.59); 48 h + 12 h needs 3 days
    let week = estimate("7");
    assert!(
        week.contains("at most $1.76; at --restore-days 3: at most $0.59 (saving at most $1.17)")
            && week.contains("advice: --restore-days 3 is safe"),
        "{week}"
    );
    let one = estimate("1");
    assert!(
        one.contains("warning: --restore-days 1 is less than the slowest restore")
            && one.contains("ask 3")
            && !one.contains("advice: --restore-days"),
        "{one}"
    );
}
