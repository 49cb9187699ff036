"""Requests per second, for thaw's emulator (imported by moto_server.py).

AWS limits some requests by rate (about 1,000 RestoreObject requests per second per account and
Region); a test of thaw's pacing checks how many such requests arrived in each second, not how
long a run took. Every request of an operation on a bucket is counted in the wall-clock second
(`int(time.time())`) it arrived in:

* GET /_thaw/rates?bucket=B&op=s3:RestoreObject returns {"<epoch second>": count, ...} for the
  requests of that operation on bucket B (an empty object when none).

Counting only: no request is refused or changed here.
"""

import json
import threading
import time
import urllib.parse
from collections import Counter

_LOCK = threading.Lock()
# (bucket, operation) -> Counter of epoch seconds
_SECONDS: dict = {}


def _bucket(environ):
    return urllib.parse.unquote(environ.get("PATH_INFO", "")).lstrip("/").partition("/")[0]


def intercept(environ, start_response, op, path):
    """Answers GET /_thaw/rates; counts every S3 request by second. None: not answered here."""
    if path == "/_thaw/rates":
        q = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        key = ((q.get("bucket") or [""])[0], (q.get("op") or [""])[0])
        with _LOCK:
            body = json.dumps({str(s): n for s, n in _SECONDS.get(key, {}).items()}).encode()
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]
    if op.startswith("s3:"):
        second = int(time.time())
        with _LOCK:
            _SECONDS.setdefault((_bucket(environ), op), Counter())[second] += 1
    return None
