"""S3's request-rate limits and Expedited capacity, for thaw's emulator (imported by moto_server.py).

Real S3 pushes back: about 3,500 PUT/COPY/POST/DELETE and 5,500 GET/HEAD requests per second per
partitioned prefix, and about 1,000 RestoreObject requests per second per account and Region.
Past them it answers `503 SlowDown` for as long as the load stays (not a random fraction of
requests). This module enforces such limits, scaled down so tests stay fast:

* `THAW_MOTO_LIMITS=copy:15,head:50,restore:20` (environment) or POST /_thaw/config
  `{"limits": {"copy": 15, "head": 50, "restore": 20}}`: requests per second. `copy` is a token
  bucket per bucket for object PUT/POST/DELETE requests (CopyObject, PutObject, UploadPartCopy,
  multipart create/complete/abort, DeleteObject, PutObjectTagging), `head` one per bucket for
  object GET/HEAD requests (HeadObject, GetObject, GetObjectTagging, GetObjectAcl), `restore`
  one for the whole account (RestoreObject). Each bucket holds one second's worth of tokens and
  refills continuously; a request that finds it empty gets `503 SlowDown`. A limit of 0 (or an
  absent one) is no limit. Bucket-level requests (create, list, versioning) are not limited.
  Setting `limits` again starts every bucket full.
* `{"copy_precondition_failures": n}`: the next n CopyObject requests answer
  `412 PreconditionFailed` on their `x-amz-copy-source-if-match`, as S3 does when the source was
  overwritten between the HeadObject that gave the ETag and the copy.
* `{"expedited_unavailable": true}`: every RestoreObject asking for the Expedited tier answers
  `503 GlacierExpeditedRetrievalNotAvailable`, as S3 does when Expedited capacity is short.

Every refusal is counted in GET /_thaw/stats: `throttled` (all of them), `throttled:<operation>`
and `expedited_unavailable`, so a benchmark can report the 503s a run provoked per key.

Deterministic: no randomness, only the clock (a token bucket over `time.monotonic()`).
"""

import io
import os
import threading
import time

SLOW_DOWN = ("503 Slow Down", "SlowDown", "Please reduce your request rate.")
EXPEDITED_UNAVAILABLE = (
    "503 Service Unavailable",
    "GlacierExpeditedRetrievalNotAvailable",
    "Glacier expedited retrievals are currently not available, please try again later.",
)

_LOCK = threading.Lock()
LIMITS = {"copy": 0.0, "head": 0.0, "restore": 0.0}
EXPEDITED = {"unavailable": False}
PRECONDITION = {"failures": 0}
PRECONDITION_FAILED = (
    "412 Precondition Failed",
    "PreconditionFailed",
    "At least one of the pre-conditions you specified did not hold",
)
# (kind, bucket or "" for the account) -> [tokens, last refill time]
_BUCKETS: dict = {}


def parse_limits(text: str) -> dict:
    """`copy:15,head:50,restore:20` -> {"copy": 15.0, "head": 50.0, "restore": 20.0}."""
    limits = {}
    for part in (text or "").split(","):
        name, _, value = part.strip().partition(":")
        if name:
            if name not in LIMITS:
                raise ValueError(f"THAW_MOTO_LIMITS: unknown limit {name!r} (copy, head, restore)")
            limits[name] = float(value)
    return limits


def configure(update: dict):
    """Applies the part of a /_thaw/config update this module owns."""
    with _LOCK:
        if "limits" in update:
            for name in LIMITS:
                LIMITS[name] = float((update["limits"] or {}).get(name, 0) or 0)
            _BUCKETS.clear()
        if "copy_precondition_failures" in update:
            PRECONDITION["failures"] = int(update["copy_precondition_failures"] or 0)
        if "expedited_unavailable" in update:
            EXPEDITED["unavailable"] = bool(update["expedited_unavailable"])


configure({"limits": parse_limits(os.environ.get("THAW_MOTO_LIMITS", ""))})


def _kind(op: str, method: str):
    if op == "s3:RestoreObject":
        return "restore"
    if method in ("GET", "HEAD"):
        return "head"
    return "copy"


def _take(kind: str, bucket: str) -> bool:
    """Takes a token from the (kind, bucket) bucket; False when it is empty."""
    rate = LIMITS[kind]
    if rate <= 0:
        return True
    now = time.monotonic()
    with _LOCK:
        tokens, last = _BUCKETS.get((kind, bucket), (rate, now))
        tokens = min(rate, tokens + (now - last) * rate)
        if tokens >= 1.0:
            _BUCKETS[(kind, bucket)] = (tokens - 1.0, now)
            return True
        _BUCKETS[(kind, bucket)] = (tokens, now)
        return False


def _asks_expedited(environ) -> bool:
    """Reads a RestoreObject body (and puts it back for moto): does it ask for Expedited?"""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return b"<Tier>Expedited</Tier>" in body


def refusal(environ, op: str, stats, stats_lock):
    """The (status, code, message) S3 would answer this object request with instead of serving
    it, or None. `op` is moto_server's operation name (`s3:CopyObject`, ...)."""
    path = environ.get("PATH_INFO", "")
    bucket, _, key = path.lstrip("/").partition("/")
    if not op.startswith("s3:") or not key:
        return None
    kind = _kind(op, environ["REQUEST_METHOD"])
    if not _take(kind, "" if kind == "restore" else bucket):
        with stats_lock:
            stats["throttled"] += 1
            stats[f"throttled:{op}"] += 1
        return SLOW_DOWN
    if op == "s3:CopyObject" and environ.get("HTTP_X_AMZ_COPY_SOURCE_IF_MATCH"):
        with _LOCK:
            fail = PRECONDITION["failures"] > 0
            PRECONDITION["failures"] -= int(fail)
        if fail:
            with stats_lock:
                stats["precondition_failed"] += 1
            return PRECONDITION_FAILED
    if op == "s3:RestoreObject" and EXPEDITED["unavailable"] and _asks_expedited(environ):
        with stats_lock:
            stats["expedited_unavailable"] += 1
        return EXPEDITED_UNAVAILABLE
    return None
