"""thaw benchmark: ratios measured in one run on one machine (see bench/README.md).

B1  worker throughput on archived objects (restore + copy), against (a) the emulator's raw
    ceiling for the same request mix (worker/examples/ceiling.rs: HEAD, RESTORE, HEAD, COPY per
    key, same SDK, same concurrency, no state machine/checkpoints) and (b) the seed approach, one
    `aws s3api` call per request in a shell loop, on a sample.
B2  coordinator split + upload of 1M and 3M generated keys: wall time and peak RSS (flat RSS shows
    the list is streamed), against `split -l 5000` of the same file (split only, no upload).
B3  requests per key and DynamoDB writes per 1,000 keys, from the worker summary, cross-checked
    against the emulator's own request counts.
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


def stats(endpoint):
    import urllib.request
    return json.loads(urllib.request.urlopen(endpoint + "/_thaw/stats").read())


def fill(s3, bucket, keys, cls="GLACIER"):
    s3.create_bucket(Bucket=bucket)
    with ThreadPoolExecutor(16) as ex:
        list(ex.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=b"x" * 256, StorageClass=cls), keys))


def write_keys(keys):
    f = tempfile.NamedTemporaryFile("w", delete=False, suffix=".txt")
    f.write("".join(k + "\n" for k in keys))
    f.close()
    return f.name


def timed(cmd, env, pid=None):
    c0 = cpu_seconds(pid) if pid else 0
    t0 = time.monotonic()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.monotonic() - t0
    cpu = (cpu_seconds(pid) - c0) if pid else 0
    if out.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{out.stderr[-3000:]}")
    return wall, cpu, out


def main():
    moto, endpoint = start_moto()
    env = dict(os.environ, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_REGION="us-east-1",
               AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true", THAW_ENDPOINT_URL=endpoint,
               AWS_ENDPOINT_URL=endpoint, THAW_TABLE="thaw-bench", THAW_LOG_FORMAT="human")
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id="bench", aws_secret_access_key="bench")
    res = {"objects": N, "date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
           "emulator": "moto 5.2.5 (one Python process)"}
    keys = [f"bench/{i:07d}.jpg" for i in range(N)]
    kf = write_keys(keys)
    subprocess.run([f"{REL}/coordinator", "init"], env=env, check=True, capture_output=True)

    # B1 (a): emulator ceiling for HEAD+RESTORE+HEAD+COPY per key
    fill(s3, "bench-ceiling", keys)
    wall, cpu, out = timed([f"{REL}/examples/ceiling", "bench-ceiling", kf, "64"], env, moto.pid)
    ceil = json.loads(out.stdout.strip().splitlines()[-1])
    res["ceiling_keys_s"] = N / wall
    res["ceiling_emulator_cpu"] = cpu / wall

    # B1: thaw, one lot, local launcher, archived objects
    fill(s3, "bench-thaw", keys)
    before = stats(endpoint)
    wall, cpu, out = timed([f"{REL}/coordinator", "launch", "--launcher", "local", "--lots", "1", "--bucket",
                            "bench-thaw", "--storage-class", "STANDARD_IA", "--poll-interval", "1",
                            "--job-id", "bench-b1", "--worker-bin", f"{REL}/worker", kf], env, moto.pid)
    after = stats(endpoint)
    summary = None
    for line in out.stderr.splitlines():
        m = re.search(r"(\{.*\"requests\".*\})\s*$", line)
        if m:
            summary = json.loads(m.group(1))
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
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    res["emulator_object_requests_per_key"] = sum(
        v for k, v in delta.items() if k in ("s3:HeadObject", "s3:RestoreObject", "s3:CopyObject")) / N
    res["emulator_ddb_writes_per_1000"] = sum(
        v for k, v in delta.items() if k in ("UpdateItem", "PutItem")) * 1000 / N

    # B1 (b): the seed approach, one aws-cli call per request, on a sample
    sample = keys[:40]
    fill(s3, "bench-cli", sample)
    aws = os.path.join(ROOT, ".venv-bench/bin/aws")
    t0 = time.monotonic()
    for k in sample:
        subprocess.run([aws, "--endpoint-url", endpoint, "s3api", "restore-object", "--bucket", "bench-cli", "--key", k,
                        "--restore-request", '{"Days":1,"GlacierJobParameters":{"Tier":"Bulk"}}'],
                       env=env, check=True, capture_output=True)
    for k in sample:
        subprocess.run([aws, "--endpoint-url", endpoint, "s3api", "copy-object", "--bucket", "bench-cli", "--key", k,
                        "--copy-source", f"bench-cli/{k}", "--storage-class", "STANDARD_IA"],
                       env=env, check=True, capture_output=True)
    res["cli_keys_s"] = len(sample) / (time.monotonic() - t0)

    # B2: coordinator split + upload, 1M and 3M keys (ECS launcher needs a cluster; use --dry-run? no:
    # the real upload path with the local launcher would run workers, so we measure `launch` up to
    # the launch with a cluster whose task definition exists).
    ecs = boto3.client("ecs", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="bench", aws_secret_access_key="bench")
    ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="bench", aws_secret_access_key="bench")
    ecs.create_cluster(clusterName="bench")
    ecs.register_task_definition(family="bench-worker", networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
                                 cpu="1024", memory="2048",
                                 containerDefinitions=[{"name": "worker", "image": "x", "memory": 2048}])
    subnet = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"][0]["SubnetId"]
    s3.create_bucket(Bucket="bench-split")
    for millions in (1, 3):
        path = os.path.join(tempfile.gettempdir(), f"thaw-bench-{millions}m.txt")
        with open(path, "w") as f:
            for i in range(millions * 1_000_000):
                f.write(f"data/year=2022/part-{i:09d}.parquet\n")
        wall, _, out = timed(["/usr/bin/time", "-v", f"{REL}/coordinator", "launch", "--lot-size", "5000", "--bucket",
                              "bench-split", "--storage-class", "STANDARD_IA", "--job-id", f"bench-split-{millions}m",
                              "--cluster", "bench", "--task-definition", "bench-worker", "--subnets", subnet,
                              "--security-groups", "sg-12345678", path], env)
        rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr).group(1))
        splitdir = tempfile.mkdtemp()
        t0 = time.monotonic()
        subprocess.run(["split", "-l", "5000", "-d", "-a", "5", path, os.path.join(splitdir, "x")], check=True)
        split_wall = time.monotonic() - t0
        subprocess.run(["rm", "-rf", splitdir, path], check=True)
        res[f"split_{millions}m"] = {"launch_wall_s": wall, "peak_rss_mb": rss / 1024, "split_l_wall_s": split_wall,
                                     "lots": millions * 200}
    moto.kill()
    print(json.dumps(res, indent=2))
    with open(os.path.join(ROOT, "bench", "results.json"), "w") as f:
        json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
