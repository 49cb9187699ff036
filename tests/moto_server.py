#!/usr/bin/env python3
"""moto server for thaw's tests, with the AWS behaviours moto lacks added on top.

Started by the Rust test rig (tests/integration/rig.rs) and by scripts/demo. It binds a free
loopback port, prints `PORT=<n>` on stdout once it is ready, and exits when its parent dies, so no
emulator outlives the test binary that started it.

What it adds to plain moto (all off unless configured):

* slow restores: `THAW_MOTO_RESTORE_DELAY=<seconds>` (or POST /_thaw/config {"restore_delay": s}).
  A restored archive object reports `x-amz-restore: ongoing-request="true"` for that many seconds,
  a second RestoreObject meanwhile answers 409 RestoreAlreadyInProgress, and GetObject/CopyObject
  keep failing as they do on AWS;
* fault injection: {"s3_fault_rate": p} answers 503 SlowDown to a fraction p of S3 object requests,
  {"ddb_fault_rate": p} answers ProvisionedThroughputExceededException to a fraction p of DynamoDB
  writes, {"ecs_throttle_rate": p} answers ThrottlingException to a fraction p of ECS RunTask calls,
  {"ecs_capacity_failure_rate": p} answers a fraction p of RunTask calls with no task and
  failures[] = RESOURCE:MEMORY, as ECS does when Fargate capacity is short. The faults are
  deterministic, not random: at rate p, call k of that kind fails when floor(k*p) > floor((k-1)*p)
  (p = 1/n: every n-th call), counted from the last time the rate was configured. So a test that
  counts faults always sees them (a random 50% let all 6 calls of a test pass once in 64 runs);
* real `Initiated` times in ListMultipartUploads (moto reports a fixed 2010 date);
* RestoreObject of a given `versionId` restores that version (moto restores the current one);
* GetBucketVersioning of a bucket that never had versioning answers AWS's empty
  `<VersioningConfiguration/>` (moto's answer has another root element the SDK rejects);
* Regions: a request signed for another Region than the bucket's is refused as S3 refuses it
  (HeadBucket: 301 with `x-amz-bucket-region`; other calls: 400 AuthorizationHeaderMalformed),
  where moto serves every bucket from every Region;
* launch weather (tests/emulator_launch.py): a Fargate task quota, permanent RunTask refusals,
  Spot interruptions' stopCode, and lost responses to successful lot claims;
* connections that never answer, and answers whose body comes late: see `emulator_hang.py`
  (`{"hangs": {...}}` or `THAW_MOTO_HANGS`);
* requester-pays buckets and Object Lock headers refused as S3 refuses them: see
  emulator_access.py;
* copies' checksums as S3 computes and reports them, and answers corrupted on demand
  (`{"corrupt_copy": ...}`): see emulator_checksum.py;
* request counting: GET /_thaw/stats returns the number of requests seen per operation (and the
  canned ACL copies asked for), so tests and the benchmark can cross-check the worker's own
  counters. `?bucket=B` gives the counts of one bucket's requests, `?bucket=B&key=K` of one
  object's, `?bucket=B&by_key=1` every object's of the bucket, so tests sharing the emulator
  count only their own requests. A request counts for the bucket and key of its path (for a copy:
  the destination); a copy also counts `<op>:source` for its source object;
* `x-amz-copy-source-if-match` (moto ignores it): CopyObject and UploadPartCopy of a source whose
  current ETag differs answer 412 PreconditionFailed, as S3 does, counted as `<op>:412` (and
  `<op>:source:412` for the source object);
* an object overwritten behind the worker's back: {"overwrite_after_head": {"bucket": B, "key": K,
  "from_key": F}} replaces B/K with a copy of B/F (STANDARD) right after the first HeadObject of
  B/K is answered, before the client sees that answer, so the client's next request meets the
  new object; one-shot, several may be queued;
* a slow answer: {"delay_next": {"bucket": B, "key": K, "seconds": s}} holds the next request on
  B/K for s seconds before moto answers it (one-shot), to open a window at a known point of a
  run;
* restores that need polling, deterministically: {"restore_heads": n} keeps a restore ongoing for
  the first n HeadObject requests of the object after its RestoreObject (the n+1-th finds it
  done), whatever the time (a listing that shows its restore status counts as a look too);
* ListObjectsV2's `RestoreStatus` (OptionalObjectAttributes): see emulator_listing.py;
* restores that finish spread over a window ({"restore_delay_max": s}) and S3's "Object Restore
  Completed" EventBridge events when they finish, lost or repeated on demand: see
  emulator_events.py;
* multipart copies keep what CreateMultipartUpload asked for: moto drops the object lock mode,
  retain-until date, legal hold and bucket-key setting of a multipart upload; the wrapper keeps
  them and applies them to the completed object, as S3 does;
* CopyObject does not copy the website redirect location, as on S3 ("unique to each object and
  not copied with the metadata directive": a copy has the one its request names); moto copies it
  with the metadata;
* DynamoDB writes are atomic, as DynamoDB's conditional writes are: moto checks a condition and
  writes without a lock, so two concurrent claims of the same lot could both pass; the wrapper
  runs DynamoDB writes one at a time;
* a RestoreObject of an object whose restore is done extends its copy without restarting the
  restore (as on S3; only a first restore takes time);
* moto refuses a CopyObject carrying object lock headers without Content-MD5 (S3's rule for
  uploads with a body, PutObject and UploadPart); a copy has no body to digest, and the wrapper
  lets it through. Unverified against AWS: if S3 applies the rule to CopyObject too, thaw's
  single-part copies of locked objects fail there.
"""

import json
import os
import math
import sys
import threading
import time
import urllib.parse
from collections import Counter
from fractions import Fraction

from werkzeug.serving import make_server

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.s3 import models as s3_models

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emulator_launch
import emulator_hang
import emulator_access
import emulator_advice  # Intelligent-Tiering configurations, refused bucket reads
import emulator_checksum  # noqa: E402 - copies' checksums as S3 reports them (its own module)
import emulator_rates  # requests per second (GET /_thaw/rates)
import emulator_throttle  # noqa: E402 - S3's rate limits and Expedited capacity (its own module)
import emulator_listing  # noqa: E402 - RestoreStatus in ListObjectsV2 (its own module)
import emulator_listing_refusal  # noqa: E402 - listings refused with 403 (its own module)
import emulator_events  # noqa: E402 - spread restores, restore-completed events (its own module)
import emulator_overwrite  # noqa: E402 - an object overwritten before its restore (its own module)

CONFIG = {
    "restore_delay": float(os.environ.get("THAW_MOTO_RESTORE_DELAY", "0") or 0),
    "s3_fault_rate": 0.0,
    "ddb_fault_rate": 0.0,
    "ecs_throttle_rate": 0.0,
    "ecs_capacity_failure_rate": 0.0,
    "restore_heads": 0,
    "list_empty_first": False,
}
CONFIG.update(emulator_launch.DEFAULTS)
STATS: Counter = Counter()
STATS_LOCK = threading.Lock()
# the same counts per bucket, and per object (bucket, key)
BUCKET_STATS: dict = {}
KEY_STATS: dict = {}
# one-shot overwrites waiting for the first HeadObject of their object: (bucket, key) -> from_key
OVERWRITES: dict = {}
# one-shot delays of the next request on an object: (bucket, key) -> seconds
DELAYS: dict = {}
FAULT_RATES = ("s3_fault_rate", "ddb_fault_rate", "ecs_throttle_rate", "ecs_capacity_failure_rate")
# calls seen per fault kind since its rate was last configured
FAULT_CALLS: Counter = Counter()


def _configure(update: dict):
    """Applies a /_thaw/config update; a fault whose rate is set starts its schedule again."""
    update = dict(update)
    overwrite = update.pop("overwrite_after_head", None)
    delay = update.pop("delay_next", None)
    with STATS_LOCK:
        if overwrite:
            OVERWRITES[(overwrite["bucket"], overwrite["key"])] = overwrite["from_key"]
        if delay:
            DELAYS[(delay["bucket"], delay["key"])] = float(delay["seconds"])
        CONFIG.update(update)
        emulator_hang.configure(update)
        emulator_throttle.configure(update)
        emulator_advice.configure(update)
        emulator_checksum.configure(update)
        emulator_listing_refusal.configure(update)
        emulator_events.configure(update)
        emulator_overwrite.configure(update)
        for name in FAULT_RATES:
            if name in update:
                FAULT_CALLS[name] = 0


def _fault(name: str) -> bool:
    """Whether this call fails, for fault kind `name` at its configured rate: evenly spread and
    deterministic (rate 1/n: every n-th call, the first one passing)."""
    rate = Fraction(CONFIG[name]).limit_denominator(1000)
    if rate <= 0:
        return False
    with STATS_LOCK:
        FAULT_CALLS[name] += 1
        k = FAULT_CALLS[name]
    return math.floor(k * rate) > math.floor((k - 1) * rate)

# --- slow restores -------------------------------------------------------------------------

_original_restore = s3_models.FakeKey.restore
_original_status = s3_models.FakeKey.status


def _restore(self, days):
    # A restore of an object already restored only extends its copy, as on S3 (only a first
    # restore, or one after the copy expired, takes time).
    restored = getattr(self, "_thaw_restore_started", None) is not None and not _restore_in_progress(self)
    if not restored:
        self._thaw_restore_started = time.monotonic()
        self._thaw_heads_since_restore = 0
        emulator_events.restore_started(
            self, self._thaw_restore_started, emulator_events.restore_delay(self, CONFIG["restore_delay"])
        )
    return _original_restore(self, days)


def _restore_in_progress(key) -> bool:
    started = getattr(key, "_thaw_restore_started", None)
    if started is None:
        return False
    heads = CONFIG["restore_heads"]
    if heads > 0 and getattr(key, "_thaw_heads_since_restore", 0) <= heads:
        return True
    return time.monotonic() - started < emulator_events.restore_delay(key, CONFIG["restore_delay"])


def _count_restore_head(bucket: str, key: str):
    """A HeadObject of an object being restored: one look closer to `restore_heads`."""
    if CONFIG["restore_heads"] <= 0:
        return
    obj = _find_key(bucket, key)
    if obj is not None and getattr(obj, "_thaw_restore_started", None) is not None:
        with STATS_LOCK:
            obj._thaw_heads_since_restore = getattr(obj, "_thaw_heads_since_restore", 0) + 1


def _count_restore_look(obj):
    """A look at an object being restored other than a HEAD (a listing of its restore status)."""
    if CONFIG["restore_heads"] > 0 and getattr(obj, "_thaw_restore_started", None) is not None:
        with STATS_LOCK:
            obj._thaw_heads_since_restore = getattr(obj, "_thaw_heads_since_restore", 0) + 1


def _status_get(self):
    if _restore_in_progress(self):
        return "IN_PROGRESS"
    return _original_status.fget(self)


s3_models.FakeKey.restore = _restore
s3_models.FakeKey.status = property(_status_get, _original_status.fset)


def _find_key(bucket: str, key: str, version=None):
    for backend in _backends():
        try:
            obj = backend.get_object(bucket, key, version_id=version)
        except Exception:  # noqa: BLE001 - missing bucket/key: not ours to answer
            obj = None
        if obj is not None:
            return obj
    return None


def _backends():
    for account in s3_models.s3_backends.values():
        yield from account.values()


def _backend_of(bucket: str):
    for backend in _backends():
        if bucket in backend.buckets:
            return backend
    return None


# --- real initiation times for multipart uploads ---------------------------------------------
# moto answers ListMultipartUploads with a fixed "Initiated" of 2010-11-10; thaw uses the real
# time (like AWS reports it) to tell a crashed run's upload from older uploads of the same key.

import datetime as _dt

from moto.core.responses import ActionResult as _ActionResult
from moto.s3 import responses as s3_responses

_original_multipart_init = s3_models.FakeMultipart.__init__


def _multipart_init(self, *args, **kwargs):
    _original_multipart_init(self, *args, **kwargs)
    self._thaw_initiated = _dt.datetime.now(_dt.timezone.utc)
    # what moto drops of a CreateMultipartUpload (see _create_extras), for its completion
    self._thaw_extras = getattr(_REQUEST, "create_extras", None) or {}


def _list_multipart_uploads(self):
    multiparts = list(self.backend.list_multipart_uploads(self.bucket_name).values())
    prefix = self.querystring.get("prefix", [None])[0]
    if prefix:
        multiparts = [u for u in multiparts if u.key_name.startswith(prefix)]
    uploads = [
        {
            "Key": u.key_name,
            "UploadId": u.id,
            "StorageClass": "STANDARD",
            "Initiated": getattr(u, "_thaw_initiated", _dt.datetime(2010, 11, 10, tzinfo=_dt.timezone.utc)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        }
        for u in multiparts
    ]
    result = {
        "Bucket": self.bucket_name,
        "KeyMarker": "",
        "UploadIdMarker": "",
        "MaxUploads": 1000,
        "IsTruncated": False,
        "Uploads": uploads,
    }
    self.data["Action"] = "ListMultipartUploads"
    return self.serialized(_ActionResult(result))


s3_models.FakeMultipart.__init__ = _multipart_init

# --- multipart uploads keep object lock and bucket-key settings -------------------------------
# moto's CreateMultipartUpload ignores the object lock headers and the bucket-key header; S3 gives
# the completed object what the upload was created with.

_CREATE_EXTRAS = {
    "HTTP_X_AMZ_OBJECT_LOCK_MODE": "lock_mode",
    "HTTP_X_AMZ_OBJECT_LOCK_RETAIN_UNTIL_DATE": "lock_until",
    "HTTP_X_AMZ_OBJECT_LOCK_LEGAL_HOLD": "lock_legal_status",
    "HTTP_X_AMZ_SERVER_SIDE_ENCRYPTION_BUCKET_KEY_ENABLED": "bucket_key_enabled",
}


def _create_extras(environ) -> dict:
    extras = {attr: environ[h] for h, attr in _CREATE_EXTRAS.items() if environ.get(h)}
    if "bucket_key_enabled" in extras:
        extras["bucket_key_enabled"] = extras["bucket_key_enabled"].lower()
    return extras


_original_complete = s3_models.S3Backend.complete_multipart_upload


def _complete_multipart_upload(self, bucket_name, multipart_id, body):
    multipart = self.get_bucket(bucket_name).multiparts.get(multipart_id)
    key = _original_complete(self, bucket_name, multipart_id, body)
    if key is not None and multipart is not None:
        for attr, value in getattr(multipart, "_thaw_extras", {}).items():
            setattr(key, attr, value)
    return key


s3_models.S3Backend.complete_multipart_upload = _complete_multipart_upload

# --- CopyObject and the website redirect ------------------------------------------------------

_original_copy_object = s3_models.S3Backend.copy_object


def _copy_object(self, src_key, dest_bucket_name, dest_key_name, *args, **kwargs):
    _original_copy_object(self, src_key, dest_bucket_name, dest_key_name, *args, **kwargs)
    new_key = self.get_object(dest_bucket_name, dest_key_name)
    if new_key is not None:
        # moto keeps the header among the metadata it copies; S3 keeps only the request's
        new_key.metadata.pop("x-amz-website-redirect-location", None)
        new_key.website_redirect_location = kwargs.get("website_redirect_location")


s3_models.S3Backend.copy_object = _copy_object

# --- RestoreObject of a version ---------------------------------------------------------------
# moto's restore handler drops the versionId and restores the current version; AWS restores the
# version asked for. The WSGI wrapper passes the versionId through this thread-local.

_REQUEST = threading.local()
_original_backend_restore = s3_models.S3Backend.restore_object


def _restore_object(self, bucket_name, key_name, days, type_):
    version = getattr(_REQUEST, "restore_version", None)
    if not version:
        return _original_backend_restore(self, bucket_name, key_name, days, type_)
    key = self.get_object(bucket_name, key_name, version_id=version)
    if not key:
        raise s3_models.MissingKey(key=key_name)
    if key.storage_class not in s3_models.ARCHIVE_STORAGE_CLASSES:
        raise s3_models.InvalidObjectState(storage_class=key.storage_class)
    had_expiry_date = key.expiry_date is not None
    if days:
        key.restore(int(days))
    return had_expiry_date


s3_models.S3Backend.restore_object = _restore_object


def _get_bucket_versioning(self):
    status = self.backend.get_bucket_versioning(self.bucket_name)
    inner = f"<Status>{status}</Status>" if status else ""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">{inner}</VersioningConfiguration>'
    )
    return 200, {"Content-Type": "application/xml"}, body


s3_responses.S3Response.get_bucket_versioning = _get_bucket_versioning


def _bucket_region(name: str):
    for account in s3_models.s3_backends.values():
        for backend in account.values():
            bucket = backend.buckets.get(name)
            if bucket is not None:
                return bucket.region_name
    return None


def _signing_region(environ):
    auth = environ.get("HTTP_AUTHORIZATION", "")
    marker = "Credential="
    if marker not in auth:
        return None
    scope = auth.split(marker, 1)[1].split(",", 1)[0].split("/")
    return scope[2] if len(scope) > 2 else None
s3_responses.S3Response.list_multipart_uploads = _list_multipart_uploads

# --- the WSGI wrapper ----------------------------------------------------------------------


def _xml_error(start_response, status: str, code: str, message: str):
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        "<RequestId>thaw-moto</RequestId></Error>"
    ).encode()
    start_response(status, [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
    return [body]


def _json_error(start_response, status: str, code: str, message: str, prefix: str):
    body = json.dumps({"__type": f"{prefix}#{code}", "message": message}).encode()
    start_response(
        status,
        [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(body)))],
    )
    return [body]


def _operation(environ) -> str:
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return target.split(".")[-1]
    method = environ["REQUEST_METHOD"]
    query = environ.get("QUERY_STRING", "")
    path = environ.get("PATH_INFO", "")
    parts = path.lstrip("/").split("/", 1)
    if len(parts) < 2 or not parts[1]:
        return f"s3:{method}:bucket" + (f"?{query.split('=')[0]}" if query else "")
    if "restore" in query.split("&"):
        return "s3:RestoreObject"
    if "tagging" in query.split("&") or query.startswith("tagging"):
        return f"s3:{method}:tagging"
    if "uploadId" in query:
        if "HTTP_X_AMZ_COPY_SOURCE" in environ:
            return "s3:UploadPartCopy"
        return f"s3:{method}:multipart"
    if "uploads" in query.split("&"):
        return "s3:CreateMultipartUpload"
    if method == "PUT" and "HTTP_X_AMZ_COPY_SOURCE" in environ:
        return "s3:CopyObject"
    return {"HEAD": "s3:HeadObject", "GET": "s3:GetObject", "PUT": "s3:PutObject"}.get(
        method, f"s3:{method}"
    )


def _json(start_response, value):
    body = json.dumps(value).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def _object_of(environ):
    """(bucket, key) of a path-style request, each percent-decoded exactly once (from the raw
    request line: PATH_INFO is decoded already, and a key may hold a literal `%41`); key is
    None for a request on the bucket itself."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw is None:
        raw = urllib.parse.quote(environ.get("PATH_INFO", "").encode("latin-1"))
    bucket, _, key = raw.split("?", 1)[0].lstrip("/").partition("/")
    return urllib.parse.unquote(bucket), (urllib.parse.unquote(key) if key else None)


def _copy_source(environ):
    """(bucket, key, version) named by `x-amz-copy-source`, or None."""
    value = environ.get("HTTP_X_AMZ_COPY_SOURCE")
    if not value:
        return None
    path, _, query = value.partition("?")
    bucket, _, key = urllib.parse.unquote(path).lstrip("/").partition("/")
    version = (urllib.parse.parse_qs(query).get("versionId") or [None])[0]
    return bucket, key, version


def _count(names, bucket=None, key=None, overall=True):
    """Counts `names` overall (unless `overall` is False), for `bucket` and for its `key`."""
    with STATS_LOCK:
        for name in names:
            if overall:
                STATS[name] += 1
            if bucket:
                BUCKET_STATS.setdefault(bucket, Counter())[name] += 1
                if key is not None:
                    KEY_STATS.setdefault((bucket, key), Counter())[name] += 1


def _stats(query: str):
    """GET /_thaw/stats: overall, or of `bucket`, of its `key`, or of each key (`by_key`)."""
    q = urllib.parse.parse_qs(query, keep_blank_values=True)
    bucket = (q.get("bucket") or [None])[0]
    with STATS_LOCK:
        if bucket is None:
            return dict(STATS)
        if "key" in q:
            return dict(KEY_STATS.get((bucket, q["key"][0]), {}))
        if q.get("by_key"):
            return {k: dict(c) for (b, k), c in KEY_STATS.items() if b == bucket}
        return dict(BUCKET_STATS.get(bucket, {}))


def _control(environ, start_response, path):
    """The wrapper's own endpoints; None for any other request."""
    if path == "/_thaw/config" and environ["REQUEST_METHOD"] == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        _configure(json.loads(environ["wsgi.input"].read(length) or b"{}"))
        with STATS_LOCK:
            return _json(start_response, CONFIG)
    if path == "/_thaw/stats":
        return _json(start_response, _stats(environ.get("QUERY_STRING", "")))
    return None


def _delay(environ, op):
    """Holds a request on an object whose next request was asked to be slow."""
    if not op.startswith("s3:"):
        return
    with STATS_LOCK:
        seconds = DELAYS.pop(_object_of(environ), None)
    if seconds:
        time.sleep(seconds)


def _count_request(environ, op):
    bucket, key = _object_of(environ) if op.startswith("s3:") else (None, None)
    names = [op]
    # which canned ACL a copy asked for (moto accepts them without telling)
    if op in ("s3:CopyObject", "s3:CreateMultipartUpload") and environ.get("HTTP_X_AMZ_ACL"):
        names.append(f"{op}:acl={environ['HTTP_X_AMZ_ACL']}")
    _count(names, bucket, key)
    source = _copy_source(environ) if op in COPIES else None
    if source is not None:
        _count([f"{op}:source"], source[0], source[1], overall=False)


COPIES = ("s3:CopyObject", "s3:UploadPartCopy")


def _source_changed(environ, op) -> bool:
    """A copy whose `x-amz-copy-source-if-match` names another ETag than its source's current
    one (S3 answers 412; moto copies regardless). A missing source is moto's to answer."""
    expected = environ.get("HTTP_X_AMZ_COPY_SOURCE_IF_MATCH")
    source = _copy_source(environ) if op in COPIES else None
    if not expected or source is None:
        return False
    obj = _find_key(*source)
    if obj is None:
        return False
    etags = [e.strip().strip('"') for e in expected.split(",")]
    if "*" in etags or obj.etag.strip('"') in etags:
        return False
    bucket, key = _object_of(environ)
    _count([f"{op}:412"], bucket, key)
    _count([f"{op}:source:412"], source[0], source[1], overall=False)
    return True


def _overwrite_after_head(bucket: str, key: str):
    """Replaces bucket/key with a STANDARD copy of the object queued for it, if one is."""
    with STATS_LOCK:
        from_key = OVERWRITES.pop((bucket, key), None)
    backend = _backend_of(bucket) if from_key is not None else None
    if backend is None:
        return
    source = backend.get_object(bucket, from_key)
    backend.put_object(bucket, key, source.value, storage="STANDARD")


def _throttled(environ, start_response, op):
    """S3's 503 SlowDown past the configured rate limits (emulator_throttle.py); None otherwise."""
    refused = emulator_throttle.refusal(environ, op, STATS, STATS_LOCK)
    return _xml_error(start_response, *refused) if refused else None


def _injected_fault(start_response, op):
    """The fault configured for this kind of call, answered; None when the call passes."""
    if op.startswith("s3:") and not op.endswith("bucket"):
        if _fault("s3_fault_rate"):
            return _xml_error(start_response, "503 Slow Down", "SlowDown", "Please reduce your request rate.")
    if op in ("UpdateItem", "PutItem", "BatchWriteItem", "DeleteItem"):
        if _fault("ddb_fault_rate"):
            return _json_error(
                start_response,
                "400 Bad Request",
                "ProvisionedThroughputExceededException",
                "The level of configured provisioned throughput for the table was exceeded.",
                "com.amazonaws.dynamodb.v20120810",
            )
    if op == "RunTask":
        if _fault("ecs_throttle_rate"):
            return _json_error(start_response, "400 Bad Request", "ThrottlingException", "Rate exceeded", "com.amazonaws.ecs")
    if op == "RunTask":
        if _fault("ecs_capacity_failure_rate"):
            # What ECS answers when Fargate has no capacity: 200 with failures[], no task.
            body = json.dumps({"tasks": [], "failures": [{"reason": "RESOURCE:MEMORY", "detail": "thaw fault injection"}]}).encode()
            start_response("200 OK", [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(body)))])
            return [body]
    return None


def _wrong_region(environ, start_response, op, path):
    """S3's answer to a request signed for another Region than its bucket's; None otherwise."""
    if not op.startswith("s3:") or op == "s3:PUT:bucket" or path in ("", "/"):
        return None
    bucket_name, _ = _object_of(environ)
    actual, signed = _bucket_region(bucket_name), _signing_region(environ)
    if not (actual and signed and actual != signed):
        return None
    if environ["REQUEST_METHOD"] == "HEAD":
        start_response(
            "301 Moved Permanently",
            [("x-amz-bucket-region", actual), ("Content-Length", "0")],
        )
        return [b""]
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        "<Error><Code>AuthorizationHeaderMalformed</Code><Message>The authorization header is malformed; "
        f"the region '{signed}' is wrong; expecting '{actual}'</Message><Region>{actual}</Region>"
        "<RequestId>thaw-moto</RequestId></Error>"
    ).encode()
    start_response(
        "400 Bad Request",
        [("Content-Type", "application/xml"), ("x-amz-bucket-region", actual), ("Content-Length", str(len(body)))],
    )
    return [body]


def _restore_refused(environ, start_response, op):
    """409 RestoreAlreadyInProgress for a second RestoreObject of an object being restored."""
    if op != "s3:RestoreObject":
        return None
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    _REQUEST.restore_version = (query.get("versionId") or [None])[0]
    if CONFIG["restore_delay"] <= 0 and CONFIG["restore_heads"] <= 0 and not CONFIG.get("restore_delay_max"):
        return None
    obj = _find_key(*_object_of(environ))
    if obj is not None and _restore_in_progress(obj):
        return _xml_error(
            start_response,
            "409 Conflict",
            "RestoreAlreadyInProgress",
            "Object restore is already in progress",
        )
    return None


_LOCK_HEADERS = (
    "HTTP_X_AMZ_OBJECT_LOCK_MODE",
    "HTTP_X_AMZ_OBJECT_LOCK_RETAIN_UNTIL_DATE",
    "HTTP_X_AMZ_OBJECT_LOCK_LEGAL_HOLD",
)


def _before_moto(environ, op):
    """What moto gets differently from what was sent (see the module doc)."""
    _REQUEST.create_extras = _create_extras(environ) if op == "s3:CreateMultipartUpload" else None
    if op == "s3:CopyObject" and any(environ.get(h) for h in _LOCK_HEADERS):
        if not environ.get("HTTP_CONTENT_MD5"):
            # moto's PutObject rule; a copy has no body to digest
            environ.setdefault("HTTP_X_AMZ_SDK_CHECKSUM_ALGORITHM", "none")


DDB_WRITES = ("UpdateItem", "PutItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")
# one DynamoDB write at a time (see the module doc)
DDB_WRITE_LOCK = threading.Lock()


emulator_events.install(_restore_in_progress, lambda names, bucket: _count(names, bucket))
emulator_listing.install(
    _restore_in_progress, _count_restore_look, lambda names, bucket: _count(names, bucket), CONFIG
)


emulator_overwrite.install(_object_of, _backend_of)


def wrap(app):
    def wrapped(environ, start_response):
        path = environ.get("PATH_INFO", "")
        answered = _control(environ, start_response, path)
        if answered is not None:
            return answered
        if path.startswith("/moto-api"):
            return app(environ, start_response)

        op = _operation(environ)
        _count_request(environ, op)
        if emulator_hang.before(op, environ):
            return emulator_hang.stalled(environ, app, start_response)
        _delay(environ, op)
        for answer in (
            lambda: emulator_rates.intercept(environ, start_response, op, path),
            lambda: _throttled(environ, start_response, op),
            lambda: _injected_fault(start_response, op),
            lambda: emulator_launch.intercept(op, environ, start_response, app, CONFIG, _configure),
            lambda: _wrong_region(environ, start_response, op, path),
            lambda: emulator_access.intercept(environ, start_response, op),
            lambda: emulator_advice.intercept(environ, start_response, op),
            lambda: emulator_events.intercept(environ, start_response, op, app),
            lambda: emulator_overwrite.intercept(environ, op),
            lambda: _restore_refused(environ, start_response, op),
            lambda: emulator_listing_refusal.intercept(environ, start_response, op),
        ):
            refused = answer()
            if refused is not None:
                return refused
        if _source_changed(environ, op):
            return _xml_error(
                start_response,
                "412 Precondition Failed",
                "PreconditionFailed",
                "At least one of the pre-conditions you specified did not hold",
            )
        _before_moto(environ, op)
        checked = emulator_checksum.around(op, environ, start_response, app)
        if checked is not None:
            return checked
        if op in DDB_WRITES:
            with DDB_WRITE_LOCK:
                return app(environ, start_response)
        if op != "s3:HeadObject":
            return app(environ, start_response)
        bucket, key = _object_of(environ)
        _count_restore_head(bucket, key)
        status = []

        def recording(s, headers, exc_info=None):
            status.append(s)
            return start_response(s, headers, exc_info) if exc_info else start_response(s, headers)

        body = app(environ, recording)
        if status and status[0].startswith("200"):
            _overwrite_after_head(bucket, key)
        return body

    return wrapped


def _watch_parent(server, parent: int):
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            server.shutdown()
            return


def main():
    emulator_hang.configure_from_env()
    host = os.environ.get("THAW_MOTO_HOST", "127.0.0.1")
    port = int(os.environ.get("THAW_MOTO_PORT", "0"))
    app = wrap(DomainDispatcherApplication(create_backend_app))
    server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
    if os.environ.get("THAW_MOTO_KEEP_ALIVE") != "1":
        threading.Thread(target=_watch_parent, args=(server, os.getppid()), daemon=True).start()
    print(f"PORT={server.server_address[1]}", flush=True)
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
