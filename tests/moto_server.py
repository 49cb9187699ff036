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
* request counting: GET /_thaw/stats returns the number of requests seen per operation (and the
  canned ACL copies asked for), so tests and the benchmark can cross-check the worker's own
  counters.
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
import emulator_throttle  # noqa: E402 - S3's rate limits and Expedited capacity (its own module)

CONFIG = {
    "restore_delay": float(os.environ.get("THAW_MOTO_RESTORE_DELAY", "0") or 0),
    "s3_fault_rate": 0.0,
    "ddb_fault_rate": 0.0,
    "ecs_throttle_rate": 0.0,
    "ecs_capacity_failure_rate": 0.0,
}
STATS: Counter = Counter()
STATS_LOCK = threading.Lock()
FAULT_RATES = ("s3_fault_rate", "ddb_fault_rate", "ecs_throttle_rate", "ecs_capacity_failure_rate")
# calls seen per fault kind since its rate was last configured
FAULT_CALLS: Counter = Counter()


def _configure(update: dict):
    """Applies a /_thaw/config update; a fault whose rate is set starts its schedule again."""
    with STATS_LOCK:
        CONFIG.update(update)
        emulator_throttle.configure(update)
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
    self._thaw_restore_started = time.monotonic()
    return _original_restore(self, days)


def _restore_in_progress(key) -> bool:
    started = getattr(key, "_thaw_restore_started", None)
    return started is not None and time.monotonic() - started < CONFIG["restore_delay"]


def _status_get(self):
    if _restore_in_progress(self):
        return "IN_PROGRESS"
    return _original_status.fget(self)


s3_models.FakeKey.restore = _restore
s3_models.FakeKey.status = property(_status_get, _original_status.fset)


def _find_key(bucket: str, key: str):
    for account in s3_models.s3_backends.values():
        for backend in account.values():
            try:
                obj = backend.get_object(bucket, key)
            except Exception:  # noqa: BLE001 - missing bucket/key: not ours to answer
                obj = None
            if obj is not None:
                return obj
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


def wrap(app):
    def wrapped(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/_thaw/config" and environ["REQUEST_METHOD"] == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            _configure(json.loads(environ["wsgi.input"].read(length) or b"{}"))
            return _json(start_response, CONFIG)
        if path == "/_thaw/stats":
            with STATS_LOCK:
                return _json(start_response, dict(STATS))
        if path.startswith("/moto-api"):
            return app(environ, start_response)

        op = _operation(environ)
        with STATS_LOCK:
            STATS[op] += 1
            # which canned ACL a copy asked for (moto accepts them without telling)
            if op in ("s3:CopyObject", "s3:CreateMultipartUpload") and environ.get("HTTP_X_AMZ_ACL"):
                STATS[f"{op}:acl={environ['HTTP_X_AMZ_ACL']}"] += 1

        refused = emulator_throttle.refusal(environ, op, STATS, STATS_LOCK)
        if refused:
            return _xml_error(start_response, *refused)
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
        if op.startswith("s3:") and not (op == "s3:PUT:bucket" or path in ("", "/")):
            bucket_name = urllib.parse.unquote(path.lstrip("/").split("/", 1)[0])
            actual, signed = _bucket_region(bucket_name), _signing_region(environ)
            if actual and signed and actual != signed:
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
        if op == "s3:RestoreObject":
            query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
            _REQUEST.restore_version = (query.get("versionId") or [None])[0]
        if op == "s3:RestoreObject" and CONFIG["restore_delay"] > 0:
            bucket, _, key = path.lstrip("/").partition("/")
            obj = _find_key(urllib.parse.unquote(bucket), urllib.parse.unquote(key))
            if obj is not None and _restore_in_progress(obj):
                return _xml_error(
                    start_response,
                    "409 Conflict",
                    "RestoreAlreadyInProgress",
                    "Object restore is already in progress",
                )
        return app(environ, start_response)

    return wrapped


def _watch_parent(server, parent: int):
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            server.shutdown()
            return


def main():
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
