"""thaw benchmark: ratios measured in one run on one machine (see bench/README.md).

B1  worker throughput on archived objects (restore + copy), against (a) the emulator's raw
    ceiling for the same request mix (worker/examples/ceiling.rs: RESTORE, HEAD, COPY per key, as
    for a sorted lot, same SDK, same concurrency, no state machine/checkpoints) and (b) the seed
    approach, one `aws s3api` call per request in a shell loop, on a sample; and (c) the copy phase alone (objects
    that need no restore, copied in place into STANDARD_IA) against `s5cmd run` on a commands file,
    thaw and s5cmd alternating on fresh buckets in the same minutes.
B2  coordinator split + upload of 1M, 3M and 10M generated keys: wall time and peak RSS (RSS that
    does not follow the key count shows the list is streamed), against `split -l 5000` of the same
    file (split only, no upload); and the same with `--dry-run` (planning alone).
B3  requests per key and DynamoDB writes per 1,000 keys, from the worker summary, cross-checked
    against the emulator's own request counts: on B1's run, and on ~1,000 objects each in five
    scenarios (all archived, all STANDARD, half already restored, restores delayed by 4 s and by
    20 s so the worker polls).
B4  1,000 lots through the ECS launcher with 30% of the RunTask calls throttled: wall time,
    RunTask calls/s, and a check that every lot got exactly one task; the same without throttling
    for reference.
B5  thaw under S3's rate limits: the emulator caps CopyObject at C/s per bucket (503 SlowDown past
    it) and one worker copies STANDARD objects; its sustained copy rate (from the emulator's own
    counts of served copies, sampled every 0.1 s) against C, and the 503s it provoked per key. The
    same with RestoreObject capped account-wide, on GLACIER objects.
B6  knowing when restores finish: the same archived objects (3 lots of 100 keys each), restores
    finishing spread between 20 s and 60 s, the workers asking for the restores and ending WAITING,
    then `coordinator follow` driving each job to its end, four ways side by side in the same
    minutes: (a) relaunching a lot at every check, as before readiness looks (`--ready-fraction 0`,
    scattered keys: every run HEADs its waiting keys), (b) follow's HEAD-sample look (scattered
    keys), (c) its LIST look (sorted keys), (d) restore-completed events (`follow --events`, sorted
    keys). S3 requests per archived key (the emulator's counts for the bucket: the workers' and
    follow's HEAD, RESTORE, COPY and LIST) and tasks started per lot.
"""

import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REL = os.path.join(ROOT, "target", "release")
N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000


def start_moto():
    p = subprocess.Popen(
        [os.path.join(ROOT, ".venv/bin/python"), os.path.join(ROOT, "tests/moto_server.py")],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    port = int(p.stdout.readline().strip().split("=")[1])
    return p, f"http://127.0.0.1:{port}"


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stats(endpoint, bucket=None):
    """The emulator's request counts: overall, or of one bucket."""
    import urllib.request
    query = f"?bucket={bucket}" if bucket else ""
    return json.loads(urllib.request.urlopen(endpoint + "/_thaw/stats" + query).read())


def configure(endpoint, **cfg):
    """Sets the emulator wrapper's fault injection and restore delay (POST /_thaw/config)."""
    import urllib.request
    req = urllib.request.Request(endpoint + "/_thaw/config", data=json.dumps(cfg).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(req).read())


def client(name, endpoint):
    return boto3.client(name, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="bench", aws_secret_access_key="bench")


def worker_summary(stderr):
    """The worker's one-line JSON summary, forwarded by the local launcher as `[lot N] {...}`."""
    summary = None
    for line in stderr.splitlines():
        m = re.search(r"(\{.*\"requests\".*\})\s*$", line)
        if m:
            summary = json.loads(m.group(1))
    return summary


def fill(s3, bucket, keys, cls="GLACIER", **put):
    s3.create_bucket(Bucket=bucket)
    # as AWS creates buckets today: ACLs disabled, so thaw has no ACL grants to carry
    s3.put_bucket_ownership_controls(
        Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    )
    with ThreadPoolExecutor(16) as ex:
        list(ex.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=b"x" * 256, StorageClass=cls, **put), keys))


def write_keys(keys):
    f = tempfile.NamedTemporaryFile("w", delete=False, suffix=".txt")
    f.write("".join(k + "\n" for k in keys))
    f.close()
    return f.name


def timed(cmd, env, pid=None, check=True):
    c0 = cpu_seconds(pid) if pid else 0
    t0 = time.monotonic()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.monotonic() - t0
    cpu = (cpu_seconds(pid) - c0) if pid else 0
    if check and out.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{out.stderr[-3000:]}")
    return wall, cpu, out


class Bench:
    """One emulator, the environment and clients that point at it, and the results of this run."""

    def __init__(self):
        self.moto, self.endpoint = start_moto()
        self.env = dict(os.environ, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                        AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
                        THAW_ENDPOINT_URL=self.endpoint, AWS_ENDPOINT_URL=self.endpoint, THAW_TABLE="thaw-bench",
                        THAW_LOG_FORMAT="human")
        self.s3 = client("s3", self.endpoint)
        self.res = {"objects": N, "date": time.strftime("%Y-%m-%d"),
                    "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                    "emulator": "moto 5.2.5 (one Python process)", "part_wall_s": {}}

    def part(self, name, fn, *args):
        """Runs one part and records how long it took (for the time budget)."""
        t0 = time.monotonic()
        fn(self, *args)
        self.res["part_wall_s"][name] = time.monotonic() - t0
        print(f"{name}: {self.res['part_wall_s'][name]:.1f} s", file=sys.stderr, flush=True)


def launch_local(b, bucket, job_id, kf, *extra, check=True):
    """`coordinator launch --launcher local --lots 1 --poll-interval 1` on `kf`: wall time, emulator
    CPU seconds, the worker's summary (None if it printed none) and the emulator's request counts
    during the run."""
    before = stats(b.endpoint)
    wall, cpu, out = timed([f"{REL}/coordinator", "launch", "--launcher", "local", "--lots", "1", "--bucket", bucket,
                            "--storage-class", "STANDARD_IA", "--poll-interval", "1", "--job-id", job_id,
                            "--worker-bin", f"{REL}/worker", *extra, kf], b.env, b.moto.pid, check=check)
    after = stats(b.endpoint)
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}
    return wall, cpu, worker_summary(out.stderr), delta, out


def b1(b, keys, kf):
    """B1: the emulator's ceiling, then thaw on the same archived objects (and B3 on that run)."""
    res = b.res
    # B1 (a): emulator ceiling for RESTORE+HEAD+COPY per key (a sorted lot's mix)
    fill(b.s3, "bench-ceiling", keys)
    wall, cpu, out = timed([f"{REL}/examples/ceiling", "bench-ceiling", kf, "64"], b.env, b.moto.pid)
    json.loads(out.stdout.strip().splitlines()[-1])
    res["ceiling_keys_s"] = N / wall
    res["ceiling_emulator_cpu"] = cpu / wall

    # B1: thaw, one lot, local launcher, archived objects
    fill(b.s3, "bench-thaw", keys)
    wall, cpu, summary, delta, out = launch_local(b, "bench-thaw", "bench-b1", kf)
    if summary is None or summary["state"] != "SUCCEEDED":
        sys.exit(f"thaw run did not succeed: {summary}\n{out.stderr[-3000:]}")
    res["thaw_wall_s"] = wall
    res["thaw_keys_s"] = N / wall
    res["thaw_worker_elapsed_s"] = summary["elapsed_s"]
    res["thaw_worker_keys_s"] = N / summary["elapsed_s"]
    res["thaw_emulator_cpu"] = cpu / wall
    req = summary["requests"]
    s3_calls = sum(v for k, v in req.items() if k.startswith("s3_"))
    res["thaw_s3_requests_per_key"] = (s3_calls - req["s3_get"]) / N
    res["thaw_ddb_writes_per_1000"] = req["ddb_write"] * 1000 / N
    res["emulator_object_requests_per_key"] = sum(
        v for k, v in delta.items() if k in ("s3:HeadObject", "s3:RestoreObject", "s3:CopyObject")) / N
    res["emulator_ddb_writes_per_1000"] = sum(
        v for k, v in delta.items() if k in ("UpdateItem", "PutItem")) * 1000 / N


def b1_cli(b, keys):
    """B1 (b): the seed approach, one aws-cli call per request, on a sample."""
    sample = keys[:40]
    fill(b.s3, "bench-cli", sample)
    aws = os.path.join(ROOT, ".venv-bench/bin/aws")
    t0 = time.monotonic()
    for k in sample:
        subprocess.run([aws, "--endpoint-url", b.endpoint, "s3api", "restore-object", "--bucket", "bench-cli",
                        "--key", k, "--restore-request", '{"Days":1,"GlacierJobParameters":{"Tier":"Bulk"}}'],
                       env=b.env, check=True, capture_output=True)
    for k in sample:
        subprocess.run([aws, "--endpoint-url", b.endpoint, "s3api", "copy-object", "--bucket", "bench-cli", "--key",
                        k, "--copy-source", f"bench-cli/{k}", "--storage-class", "STANDARD_IA"],
                       env=b.env, check=True, capture_output=True)
    b.res["cli_keys_s"] = len(sample) / (time.monotonic() - t0)


# Requests the worker makes per key, by its counter name and the emulator's operation name.
WORKER_OPS = {"s3_head": "s3:HeadObject", "s3_restore": "s3:RestoreObject", "s3_copy": "s3:CopyObject"}
DDB_WRITE_OPS = ("PutItem", "UpdateItem", "BatchWriteItem", "DeleteItem")


def request_costs(summary, delta, n):
    """Requests per key and DynamoDB writes per 1,000 keys, by the worker and by the emulator.

    The emulator's counts include the coordinator's own calls: its DynamoDB writes (job, lot and
    launch records) and its bucket checks and manifest uploads, which are left out of the S3 sum
    (as are the worker's GetObject of the job spec and manifest)."""
    req = summary["requests"]
    worker_s3 = sum(v for k, v in req.items() if k.startswith("s3_") and k != "s3_get")
    emulator_s3 = sum(v for k, v in delta.items() if k.startswith("s3:") and not k.endswith(":bucket")
                      and ":bucket?" not in k and k not in ("s3:GetObject", "s3:PutObject"))
    out = {
        "keys": n,
        "state": summary["state"],
        "counters": summary["counters"],
        "worker_elapsed_s": summary["elapsed_s"],
        "s3_requests_per_key": worker_s3 / n,
        "emulator_s3_requests_per_key": emulator_s3 / n,
        "ddb_writes_per_1000": req["ddb_write"] * 1000 / n,
        "emulator_ddb_writes_per_1000": sum(delta.get(k, 0) for k in DDB_WRITE_OPS) * 1000 / n,
        "worker_requests": req,
        "emulator_requests": delta,
    }
    for w, e in WORKER_OPS.items():
        op = w.removeprefix("s3_")
        out[f"{op}_per_key"] = req[w] / n
        out[f"emulator_{op}_per_key"] = delta.get(e, 0) / n
    # The worker's counters and the emulator's agree call for call on the per-key operations.
    out["counts_agree"] = all(req[w] == delta.get(e, 0) for w, e in WORKER_OPS.items())
    return out


S5CMD = os.path.join(ROOT, ".venv-bench/bin/s5cmd")
# What the copy-phase objects carry, so the check after each run also sees whether a copy kept them.
COPY_PHASE_ATTRS = {"ContentType": "image/jpeg", "Metadata": {"bench": "copy-phase"}}


def emulator_s3_object_calls(delta):
    """S3 object requests in an emulator stats delta, without bucket checks and without the
    coordinator's manifest uploads and the worker's reads of them (PutObject, GetObject)."""
    return sum(v for k, v in delta.items() if k.startswith("s3:") and not k.endswith(":bucket")
               and ":bucket?" not in k and k not in ("s3:GetObject", "s3:PutObject"))


def check_copied(s3, bucket, keys, cls="STANDARD_IA", sample=25):
    """Fails the benchmark unless every key is now `cls` (ListObjectsV2) and a sample of
    them kept its content type and user metadata (HeadObject): a run that silently did nothing, or
    did something else, must not produce a figure."""
    seen = {}
    # (under the keys' prefix: thaw keeps its job spec and manifests in the same bucket)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=keys[0].split("/")[0] + "/"):
        for o in page.get("Contents", []):
            seen[o["Key"]] = o.get("StorageClass", "STANDARD")
    wrong = [k for k in keys if seen.get(k) != cls]
    if wrong or len(seen) != len(keys):
        sys.exit(f"{bucket}: {len(wrong)} of {len(keys)} keys are not {cls} "
                 f"(e.g. {[(k, seen.get(k)) for k in wrong[:5]]}), {len(seen)} objects listed")
    for k in keys[::max(1, len(keys) // sample)] if sample else ():
        h = s3.head_object(Bucket=bucket, Key=k)
        if h.get("ContentType") != COPY_PHASE_ATTRS["ContentType"] or h.get("Metadata") != COPY_PHASE_ATTRS["Metadata"]:
            sys.exit(f"{bucket}/{k}: copy lost its attributes: {h.get('ContentType')} {h.get('Metadata')}")


def copy_phase_thaw(b, bucket, keys):
    """thaw's copy phase: STANDARD objects (nothing to restore: HEAD, then CopyObject with
    x-amz-copy-source-if-match, checkpoints to DynamoDB), one lot, local launcher."""
    fill(b.s3, bucket, keys, "STANDARD", **COPY_PHASE_ATTRS)
    kf = write_keys(keys)
    try:
        wall, cpu, summary, delta, out = launch_local(b, bucket, bucket, kf)
    finally:
        os.unlink(kf)
    if summary is None or summary["state"] != "SUCCEEDED" or summary["counters"]["copied"] != len(keys):
        sys.exit(f"thaw copy phase on {bucket} did not copy every key: {summary}\n{out.stderr[-3000:]}")
    check_copied(b.s3, bucket, keys)
    return {"wall_s": wall, "emulator_cpu_s": cpu, "worker_elapsed_s": summary["elapsed_s"], "emulator_requests": delta}


def copy_phase_s5cmd(b, bucket, keys):
    """s5cmd's copy phase: one `cp` line per key in a commands file, `s5cmd run` with 64 workers.
    `--metadata-directive COPY` keeps the object's metadata and content headers (s5cmd's default for
    an S3-to-S3 cp is REPLACE with nothing given, which drops them); `--raw` takes each key as it
    is, no wildcard expansion (no listing)."""
    fill(b.s3, bucket, keys, "STANDARD", **COPY_PHASE_ATTRS)
    f = tempfile.NamedTemporaryFile("w", delete=False, suffix=".txt")
    f.write("".join(f"cp --raw --metadata-directive COPY --storage-class STANDARD_IA s3://{bucket}/{k} s3://{bucket}/{k}\n"
                    for k in keys))
    f.close()
    before = stats(b.endpoint)
    try:
        wall, cpu, out = timed([S5CMD, "--endpoint-url", b.endpoint, "--numworkers", "64", "run", f.name],
                               b.env, b.moto.pid)
    finally:
        os.unlink(f.name)
    after = stats(b.endpoint)
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}
    done = sum(1 for line in out.stdout.splitlines() if line.startswith("cp "))
    if done != len(keys) or "ERROR" in out.stderr:
        sys.exit(f"s5cmd copied {done} of {len(keys)} keys on {bucket}\n{out.stderr[-3000:]}")
    check_copied(b.s3, bucket, keys)
    return {"wall_s": wall, "emulator_cpu_s": cpu, "emulator_requests": delta}


def b1_s5cmd(b, n, rounds=2):
    """B1 (c): the copy phase, thaw against `s5cmd run`, `n` keys per run on a fresh bucket per run,
    in the order thaw, s5cmd, s5cmd, thaw, ... so that a change of the machine's load during the
    part weighs on both tools alike."""
    keys = [f"cp/{i:07d}.jpg" for i in range(n)]
    tools = {"thaw": copy_phase_thaw, "s5cmd": copy_phase_s5cmd}
    order = []
    for r in range(rounds):
        order += [("thaw", r), ("s5cmd", r)] if r % 2 == 0 else [("s5cmd", r), ("thaw", r)]
    runs = {"thaw": [], "s5cmd": []}
    for tool, r in order:
        runs[tool].append(tools[tool](b, f"bench-cp-{tool}-{r}", keys))
    res = {
        "keys_per_run": n,
        "runs_per_tool": rounds,
        "order": [tool for tool, _ in order],
        "s5cmd_version": subprocess.run([S5CMD, "version"], capture_output=True, text=True).stdout.strip(),
        "s5cmd_command": "s5cmd --endpoint-url URL --numworkers 64 run cmds.txt, one line per key: "
                         "cp --raw --metadata-directive COPY --storage-class STANDARD_IA s3://B/KEY s3://B/KEY",
        "thaw_command": "coordinator launch --launcher local --lots 1 --poll-interval 1 --storage-class STANDARD_IA "
                        "(concurrency 64)",
    }
    for tool, rs in runs.items():
        keys_total = n * len(rs)
        wall = sum(r["wall_s"] for r in rs)
        cpu = sum(r["emulator_cpu_s"] for r in rs)
        delta = Counter()
        for r in rs:
            delta.update(r["emulator_requests"])
        res[tool] = {
            "keys": keys_total,
            "wall_s": wall,
            "keys_s": keys_total / wall,
            "emulator_cpu": cpu / wall,
            "emulator_cpu_ms_per_key": cpu * 1000 / keys_total,
            "emulator_s3_requests_per_key": emulator_s3_object_calls(delta) / keys_total,
            "emulator_requests_per_key": sum(delta.values()) / keys_total,
            "emulator_ddb_writes_per_1000": sum(delta.get(k, 0) for k in DDB_WRITE_OPS) * 1000 / keys_total,
            "emulator_requests": dict(delta),
            "runs": [{k: v for k, v in r.items() if k != "emulator_requests"} | {"keys_s": n / r["wall_s"]}
                     for r in rs],
        }
    res["thaw_vs_s5cmd"] = res["thaw"]["keys_s"] / res["s5cmd"]["keys_s"]
    b.res["b1_s5cmd"] = res


def restore_now(s3, bucket, keys):
    """Restores `keys` with boto3 (moto completes a restore at once unless a delay is configured)."""
    req = {"Days": 1, "GlacierJobParameters": {"Tier": "Bulk"}}
    with ThreadPoolExecutor(16) as ex:
        list(ex.map(lambda k: s3.restore_object(Bucket=bucket, Key=k, RestoreRequest=req), keys))


def b3_scenario(b, name, keys, cls="GLACIER", restored=(), restore_delay=0, extra=()):
    """One B3 scenario: its own bucket and job id, one lot, local launcher."""
    bucket = job = f"bench-b3-{name}"
    fill(b.s3, bucket, keys, cls)
    if restored:
        restore_now(b.s3, bucket, restored)
    kf = write_keys(keys)
    if restore_delay:
        configure(b.endpoint, restore_delay=restore_delay)
    try:
        wall, _, summary, delta, out = launch_local(b, bucket, job, kf, *extra, check=False)
    finally:
        if restore_delay:
            configure(b.endpoint, restore_delay=0)
        os.unlink(kf)
    if summary is None:
        print(f"B3 {name}: no worker summary (exit {out.returncode})\n{out.stderr[-3000:]}", file=sys.stderr)
        return {"error": f"no worker summary, coordinator exit {out.returncode}", "wall_s": wall}
    costs = request_costs(summary, delta, len(keys))
    costs["wall_s"] = wall
    costs["coordinator_exit"] = out.returncode
    if restored:
        costs["restored_before"] = len(restored)
    if restore_delay:
        costs["restore_delay_s"] = restore_delay
    if summary["state"] != "SUCCEEDED" or out.returncode != 0:
        print(f"B3 {name}: state {summary['state']}, exit {out.returncode}\n{out.stderr[-3000:]}", file=sys.stderr)
    return costs


def b3(b):
    """B3 variants: requests per key on ~1,000 objects each in four scenarios."""
    n = min(N, 1000)
    keys = [f"b3/{i:07d}.jpg" for i in range(n)]
    b.res["b3"] = {
        # (a) all archived: RESTORE (from the first pass's listing), HEAD, COPY
        "archived": b3_scenario(b, "archived", keys),
        # (b) nothing to restore: HEAD, COPY
        "standard": b3_scenario(b, "standard", keys, cls="STANDARD"),
        # (c) every other key restored before the run: those go HEAD, COPY
        "half_restored": b3_scenario(b, "half-restored", keys, restored=keys[::2]),
        # (d) restores take 4 s, the worker polls every second (HEADs per key = polling cost). A pass
        # over 1,000 keys takes longer than 4 s on moto, so by the time the worker looks again most
        # restores are done: see the 20 s variant below for a lot that really waits.
        "delayed_restore": b3_scenario(b, "delayed", keys, restore_delay=4, extra=("--max-wait", "60")),
        # (d') restores take 20 s, longer than a pass: the worker re-HEADs the waiting keys every pass.
        "delayed_restore_20s": b3_scenario(b, "delayed-20s", keys, restore_delay=20, extra=("--max-wait", "60")),
    }


def ecs_setup(b, cluster):
    """An ECS cluster, the worker task definition and a subnet in the emulator (for B2 and B4)."""
    ecs, ec2 = client("ecs", b.endpoint), client("ec2", b.endpoint)
    ecs.create_cluster(clusterName=cluster)
    ecs.register_task_definition(family="bench-worker", networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
                                 cpu="1024", memory="2048",
                                 containerDefinitions=[{"name": "worker", "image": "x", "memory": 2048}])
    return ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"][0]["SubnetId"]


def write_generated_keys(path, count):
    with open(path, "w") as f:
        for start in range(0, count, 100_000):
            f.write("".join(f"data/year=2022/part-{i:09d}.parquet\n" for i in range(start, min(count, start + 100_000))))


def peak_rss_kb(time_v_stderr):
    """Peak RSS (kB) from the report of `/usr/bin/time -v`."""
    return int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", time_v_stderr).group(1))


def b2(b, sizes):
    """B2: coordinator split + upload of generated key lists with the ECS launcher."""
    subnet = ecs_setup(b, "bench")
    b.s3.create_bucket(Bucket="bench-split")
    for millions in sizes:
        path = os.path.join(tempfile.gettempdir(), f"thaw-bench-{millions}m.txt")
        write_generated_keys(path, millions * 1_000_000)
        launch = [f"{REL}/coordinator", "launch", "--lot-size", "5000", "--bucket", "bench-split", "--storage-class",
                  "STANDARD_IA", "--job-id", f"bench-split-{millions}m", "--cluster", "bench", "--task-definition",
                  "bench-worker", "--subnets", subnet, "--security-groups", "sg-12345678"]
        # planning alone: validate, fingerprint, lot sizes, a 10-key HeadObject sample for the cost
        dry_wall, _, dry = timed(["/usr/bin/time", "-v", *launch, "--dry-run", "--sample", "10", path], b.env)
        wall, _, out = timed(["/usr/bin/time", "-v", *launch, path], b.env)
        rss = peak_rss_kb(out.stderr)
        splitdir = tempfile.mkdtemp()
        t0 = time.monotonic()
        subprocess.run(["split", "-l", "5000", "-d", "-a", "5", path, os.path.join(splitdir, "x")], check=True)
        split_wall = time.monotonic() - t0
        subprocess.run(["rm", "-rf", splitdir, path], check=True)
        b.res[f"split_{millions}m"] = {"launch_wall_s": wall, "peak_rss_mb": rss / 1024, "split_l_wall_s": split_wall,
                                       "lots": millions * 200, "dry_run_wall_s": dry_wall,
                                       "dry_run_peak_rss_mb": peak_rss_kb(dry.stderr) / 1024}


def b4(b, lots=1000, throttle=0.3, name="b4"):
    """B4: `lots` one-key lots through the ECS launcher with a fraction `throttle` of RunTask calls
    answered ThrottlingException; then every lot must have exactly one task. Run again with
    throttle=0 as the reference."""
    cluster = bucket = job = f"bench-{name}"
    subnet = ecs_setup(b, cluster)
    b.s3.create_bucket(Bucket=bucket)
    kf = write_keys([f"b4/{i:07d}.jpg" for i in range(lots)])
    # Sample the emulator's RunTask count to time the RunTask phase on its own (the wall time also
    # covers validation, 1,000 manifest uploads and 1,000 lot items).
    samples, stop = [], threading.Event()

    def sample():
        while not stop.is_set():
            samples.append((time.monotonic(), stats(b.endpoint).get("RunTask", 0)))
            stop.wait(0.1)

    before = stats(b.endpoint)
    configure(b.endpoint, ecs_throttle_rate=throttle)
    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        t_start = time.monotonic()
        wall, _, out = timed([f"{REL}/coordinator", "launch", "--lot-size", "1", "--bucket", bucket,
                              "--storage-class", "STANDARD_IA", "--job-id", job, "--cluster", cluster,
                              "--task-definition", "bench-worker", "--subnets", subnet,
                              "--security-groups", "sg-12345678", "--launch-concurrency", "8", kf],
                             b.env, check=False)
        t_exit = time.monotonic()
    finally:
        stop.set()
        sampler.join()
        configure(b.endpoint, ecs_throttle_rate=0)
        os.unlink(kf)
    after = stats(b.endpoint)
    calls = after.get("RunTask", 0) - before.get("RunTask", 0)
    base, final = before.get("RunTask", 0), after.get("RunTask", 0)
    # From the first sample that saw a RunTask (or the start) to the first that saw them all (or the
    # coordinator's exit): within ~0.1 s plus one /_thaw/stats round trip.
    first = next((t for t, c in samples if c > base), t_start)
    last = next((t for t, c in samples if c >= final), t_exit)
    phase = last - first if last > first else None

    ecs = client("ecs", b.endpoint)
    arns = []
    for page in ecs.get_paginator("list_tasks").paginate(cluster=cluster, startedBy=job):
        arns += page["taskArns"]
    seen = Counter()
    for i in range(0, len(arns), 100):
        for task in ecs.describe_tasks(cluster=cluster, tasks=arns[i:i + 100])["tasks"]:
            for co in task.get("overrides", {}).get("containerOverrides", []):
                for e in co.get("environment", []):
                    if e["name"] == "THAW_LOT":
                        seen[int(e["value"])] += 1
    lost = [lot for lot in range(lots) if seen[lot] == 0]
    twice = sorted(lot for lot, c in seen.items() if c > 1)
    key = name.replace("-", "_")
    b.res[key] = {
        "lots": lots,
        "ecs_throttle_rate": throttle,
        "coordinator_exit": out.returncode,
        "wall_s": wall,
        "runtask_calls": calls,
        "runtask_throttled": calls - len(arns),
        "runtask_calls_s": calls / wall,
        "tasks_s": len(arns) / wall,
        "runtask_phase_s": phase,
        "runtask_phase_calls_s": calls / phase if phase else None,
        "coordinator_retries_logged": out.stderr.count("retrying in"),
        "tasks_listed": len(arns),
        "lots_lost": len(lost),
        "lots_launched_twice": len(twice),
        "lot_env_other": sorted(lot for lot in seen if not 0 <= lot < lots),
        "ok": out.returncode == 0 and len(arns) == lots and not lost and not twice,
    }
    if not b.res[key]["ok"]:
        print(f"B4 check failed: {b.res[key]} lost {lost[:20]} twice {twice[:20]}\n{out.stderr[-3000:]}",
              file=sys.stderr)


class StatsSampler:
    """The emulator's overall request counts (/_thaw/stats), sampled every `every` seconds in a
    thread while a run goes on: the emulator keeps totals, and a rate over one phase of a run needs
    a time series. Each sample is (time, counts), the time halfway through the stats request."""

    def __init__(self, endpoint, every=0.1):
        self.endpoint, self.every, self.samples = endpoint, every, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self):
        t0 = time.monotonic()
        counts = stats(self.endpoint)
        self.samples.append(((t0 + time.monotonic()) / 2, counts))

    def _run(self):
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.every)

    def __enter__(self):
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()


def served_series(samples, op):
    """(time, requests of `op` the emulator served since the first sample): its count minus the
    ones it refused with 503 SlowDown (`throttled:<op>`)."""
    base = samples[0][1]

    def served(counts):
        return (counts.get(op, 0) - base.get(op, 0)) - (counts.get(f"throttled:{op}", 0) - base.get(f"throttled:{op}", 0))

    return [(t, served(c)) for t, c in samples]


def rate_between(series, lo, hi):
    """Served requests per second between the first sample that saw at least `lo` and the first
    that saw at least `hi` (the counts those samples saw, over the time between them); None if the
    series never got there."""
    a = next(((t, c) for t, c in series if c >= lo), None)
    z = next(((t, c) for t, c in series if c >= hi), None)
    if a is None or z is None or z[0] <= a[0]:
        return None
    return (z[1] - a[1]) / (z[0] - a[0])


def phase_rates(series, n, cap):
    """How close a run came to a cap of `cap` requests/s over the phase in which it sent `n` of
    them: the rate from the first sample that saw one served to the first that saw all `n`
    (`phase`), the steady rate between 10% and 90% of them (`steady`: leaves out the ramp and the
    tail, and the token bucket's initial one-second burst when `n` is well over 10 times `cap`), and
    the rate in each whole second of the phase (`per_second`). Pure: samples in, figures out."""
    first = next((t for t, c in series if c > 0), None)
    done = next((t for t, c in series if c >= n), None)
    out = {
        "served": series[-1][1] if series else 0,
        "phase_s": (done - first) if first is not None and done is not None else None,
        "phase_rate_s": rate_between(series, 1, n),
        "steady_rate_s": rate_between(series, 0.1 * n, 0.9 * n),
    }
    # each step: from one sample to the first sample at least a second later
    per_second = []
    if first is not None and done is not None:
        phase = [(t, c) for t, c in series if first <= t <= done]
        a = phase[0]
        for z in phase[1:]:
            if z[0] - a[0] >= 1.0:
                per_second.append(round((z[1] - a[1]) / (z[0] - a[0]), 1))
                a = z
    out["per_second"] = per_second
    for k in ("phase_rate_s", "steady_rate_s"):
        out[k.replace("_rate_s", "_vs_cap")] = out[k] / cap if out[k] is not None else None
    if per_second:
        ordered = sorted(per_second)
        out["per_second_median"] = ordered[len(ordered) // 2]
        out["seconds_below_90pct_of_cap"] = sum(1 for r in per_second if r < 0.9 * cap)
    return out


def b5_scenario(b, name, n, kind, cap, cls):
    """One B5 run: `n` objects of class `cls` in their own bucket, the emulator capping `kind`
    (`copy`: per bucket, `restore`: account-wide) at `cap` requests/s from just before the launch
    to its end, one worker (`coordinator launch --launcher local --lots 1 --poll-interval 1`)."""
    op = {"copy": "s3:CopyObject", "restore": "s3:RestoreObject"}[kind]
    bucket = job = f"bench-b5-{name}"
    keys = [f"b5/{i:07d}.jpg" for i in range(n)]
    # (filled before the cap is set: PutObject counts against the copy cap)
    fill(b.s3, bucket, keys, cls, **COPY_PHASE_ATTRS)
    kf = write_keys(keys)
    configure(b.endpoint, limits={kind: cap})
    try:
        with StatsSampler(b.endpoint) as sampler:
            wall, cpu, summary, delta, out = launch_local(b, bucket, job, kf, check=False)
    finally:
        configure(b.endpoint, limits={})
        os.unlink(kf)
    res = {"keys": n, "objects": cls, "limit": {kind: cap}, "wall_s": wall, "keys_s": n / wall,
           "emulator_cpu": cpu / wall, "coordinator_exit": out.returncode,
           "samples": len(sampler.samples)}
    res |= phase_rates(served_series(sampler.samples, op), n, cap)
    res["slowdowns"] = delta.get(f"throttled:{op}", 0)
    res["slowdowns_per_key"] = res["slowdowns"] / n
    res["slowdowns_all_ops"] = delta.get("throttled", 0)
    res["emulator_requests_per_key"] = {k.removeprefix("s3:"): v / n for k, v in delta.items()
                                        if k in ("s3:HeadObject", "s3:RestoreObject", "s3:CopyObject")}
    if summary is None:
        res["error"] = f"no worker summary (coordinator exit {out.returncode})"
    else:
        res["state"] = summary["state"]
        res["counters"] = summary["counters"]
        res["failed_keys"] = summary["counters"].get("failed", 0)
        res["worker_elapsed_s"] = summary["elapsed_s"]
        res["worker_requests"] = summary["requests"]
        try:
            check_copied(b.s3, bucket, keys)
        except SystemExit as e:
            res["error"] = str(e)
    res["ok"] = (out.returncode == 0 and "error" not in res and res.get("state") == "SUCCEEDED"
                 and res["failed_keys"] == 0 and res["counters"].get("copied") == n)
    if not res["ok"]:
        print(f"B5 {name}: {res}\n{out.stderr[-3000:]}", file=sys.stderr)
    return res


# B5 caps: well under what the emulator serves unthrottled on a shared 2-core machine (about 90 to
# 150 copies/s in the copy-phase runs of B1), so the cap, not moto's CPU, limits the run.
B5_COPY_CAP, B5_RESTORE_CAP = 30, 20


def b5(b):
    """B5: copy under a COPY cap (STANDARD objects, HEAD + COPY) and restore under a RESTORE cap
    (GLACIER objects), about 30 s of capped requests each."""
    b.res["b5_throttled"] = {
        "copy_capped": b5_scenario(b, "copy", min(N, 30 * B5_COPY_CAP), "copy", B5_COPY_CAP, "STANDARD"),
        "restore_capped": b5_scenario(b, "restore", min(N, 30 * B5_RESTORE_CAP), "restore", B5_RESTORE_CAP,
                                      "GLACIER"),
    }


B6_LOTS, B6_LOT_KEYS = 3, 100
B6_RESTORE_WINDOW = (20, 60)
# What a variant of B6 sets: key order, follow's flags, and whether events are set up.
B6_VARIANTS = {
    "relaunch_every_check": ("scattered", ("--ready-fraction", "0"), False),
    "head_look": ("scattered", (), False),
    "list_look": ("sorted", (), False),
    "events": ("sorted", (), True),
    "events_all_done": ("sorted", ("--ready-fraction", "1"), True),
}
# The workers' --poll-interval: a lot's first check 30 s after its restores were asked, inside the
# 20-60 s the restores take (on AWS: GLACIER Bulk's first look at 12 h, restores over 5-12 h).
B6_POLL = "30"
B6_OPS = ("s3:HeadObject", "s3:RestoreObject", "s3:CopyObject", "s3:ListObjectsV2:RestoreStatus")


def b6_variant(b, name, order, follow_flags, events):
    """One B6 variant: its own bucket and job; launch (restores asked, lots end WAITING), then
    follow to the end. Returns its requests per archived key and tasks per lot."""
    bucket = job = f"bench-b6-{name.replace('_', '-')}"
    keys = [f"b6/{i:05d}.jpg" for i in range(B6_LOTS * B6_LOT_KEYS)]
    fill(b.s3, bucket, keys)
    listed = keys if order == "sorted" else list(reversed(keys))
    kf = write_keys(listed)
    flags = list(follow_flags)
    if events:
        out = subprocess.run([f"{REL}/coordinator", "events", "setup", "--bucket", bucket], env=b.env,
                             capture_output=True, text=True, check=True)
        url = next(line.removeprefix("queue URL: ").strip() for line in out.stdout.splitlines()
                   if line.startswith("queue URL: "))
        flags += ["--events", url]
    t0 = time.monotonic()
    subprocess.run([f"{REL}/coordinator", "launch", "--launcher", "local", "--lots", str(B6_LOTS),
                    "--parallel", str(B6_LOTS), "--bucket", bucket, "--storage-class", "STANDARD_IA",
                    "--poll-interval", B6_POLL, "--max-wait", "1", "--job-id", job, "--worker-bin", f"{REL}/worker",
                    kf], env=b.env, capture_output=True, text=True, check=True)
    out = subprocess.run([f"{REL}/coordinator", "follow", job, "--interval", "2", *flags], env=b.env,
                         capture_output=True, text=True)
    wall = time.monotonic() - t0
    os.unlink(kf)
    counts = stats(f"{b.endpoint}", bucket)
    status = json.loads(subprocess.run([f"{REL}/coordinator", "status", job, "--json"], env=b.env,
                                       capture_output=True, text=True, check=True).stdout)
    attempts = [lot["attempt"] for lot in status["lots"]]
    n = len(keys)
    res = {
        "keys": n,
        "follow_exit": out.returncode,
        "wall_s": wall,
        "s3_requests_per_key": sum(counts.get(op, 0) for op in B6_OPS) / n,
        "per_key": {op.removeprefix("s3:"): counts.get(op, 0) / n for op in B6_OPS},
        "tasks_per_lot": sum(attempts) / len(attempts),
        "succeeded": all(lot["state"] == "SUCCEEDED" for lot in status["lots"]),
    }
    if out.returncode != 0 or not res["succeeded"]:
        print(f"B6 {name}: {res}\n{out.stderr[-3000:]}", file=sys.stderr)
    else:
        check_copied(b.s3, bucket, keys, sample=0)
    return res


def b6(b):
    """B6: the four ways side by side (in threads: the restores' 20-60 s dominate)."""
    configure(b.endpoint, restore_delay=B6_RESTORE_WINDOW[0], restore_delay_max=B6_RESTORE_WINDOW[1])
    try:
        with ThreadPoolExecutor(len(B6_VARIANTS)) as ex:
            runs = {name: ex.submit(b6_variant, b, name, *v) for name, v in B6_VARIANTS.items()}
            b.res["b6_restore_status"] = {name: r.result() for name, r in runs.items()}
    finally:
        configure(b.endpoint, restore_delay=0, restore_delay_max=0)
    b.res["b6_restore_status"]["restore_window_s"] = list(B6_RESTORE_WINDOW)


# B2 sizes (millions of keys). The 10M point (2,000 manifests) took about 1 minute on the 2-core
# machine of the recorded run, well inside the ~15-minute budget of the whole benchmark.
B2_SIZES = (1, 3, 10)


def main():
    """Every part, into bench/results.json; with BENCH_ONLY=b5[,b3...] only those parts, into
    bench/results-only.json (a re-measure of one part after a change, without the whole run)."""
    only = [p for p in os.environ.get("BENCH_ONLY", "").split(",") if p]
    b = Bench()
    keys = [f"bench/{i:07d}.jpg" for i in range(N)]
    kf = write_keys(keys)
    subprocess.run([f"{REL}/coordinator", "init"], env=b.env, check=True, capture_output=True)
    parts = [
        ("b1", b1, (keys, kf)),
        ("b1_cli", b1_cli, (keys,)),
        ("b1_s5cmd", b1_s5cmd, (min(N, 1000),)),
        ("b3", b3, ()),
        ("b5", b5, ()),
        ("b6", b6, ()),
        ("b2", b2, (B2_SIZES,)),
        ("b4", b4, ()),
        ("b4_unthrottled", b4, (1000, 0.0, "b4-unthrottled")),
    ]
    for name, fn, args in parts:
        if not only or name in only:
            b.part(name, fn, *args)
    os.unlink(kf)
    b.moto.kill()
    print(json.dumps(b.res, indent=2))
    out = "results-only.json" if only else "results.json"
    with open(os.path.join(ROOT, "bench", out), "w") as f:
        json.dump(b.res, f, indent=2)


if __name__ == "__main__":
    main()
