"""Connections that accept a request and never answer, for thaw's emulator (`moto_server.py`).

Real networks lose answers: a half-open connection, a load balancer that drops a flow, a server
that takes a request and goes quiet. An AWS SDK without a timeout waits for ever. These rules make
the emulator do exactly that, deterministically, so tests can show that thaw gives up on such a
request and tries again:

* **hang**: the request is read and then held without a byte of answer for `seconds` (or until
  the rule is removed, when `seconds` is absent or 0). When the hold ends the request is served as
  usual (the operation happens, its answer comes too late for a client that gave up).
* **stall**: S3 answers `200 OK` with its headers at once and sends the body `seconds` later, as
  S3 does for a long UploadPartCopy, CopyObject or CompleteMultipartUpload (the AWS SDK for
  Rust's stalled-stream protection fails such an answer after its grace period:
  smithy-lang/smithy-rs#4439).

Rules are configured with the emulator's `/_thaw/config` (or `THAW_MOTO_HANGS` at start, the same
JSON): `{"hangs": {"<name>": {"op": "s3:CopyObject", "match": "bucket/key", "nth": [1],
"seconds": 30, "mode": "hang"}}}`. A rule applies to requests of operation `op` (the emulator's
operation names, e.g. `s3:HeadObject`, `s3:CopyObject`, `s3:UploadPartCopy`, or
`s3:CompleteMultipartUpload`; `*` for every S3 object request) whose path and query contain
`match` (e.g. a test's bucket name, so tests sharing an emulator do not disturb each other);
`nth` lists which of its matching requests (1-based, counted per rule from when it was set) it
takes, every one when absent. Setting a name again replaces its rule and restarts its count;
`null` removes it and releases what it holds.
"""

import json
import os
import threading
import time

# Operation names as `moto_server._operation` gives them, for the operations it names otherwise.
ALIASES = {
    "s3:CompleteMultipartUpload": "s3:POST:multipart",
    "s3:UploadPart": "s3:PUT:multipart",
    "s3:AbortMultipartUpload": "s3:DELETE:multipart",
}

_LOCK = threading.Lock()
# name -> {"rule": dict, "calls": int, "release": threading.Event}
_RULES: dict = {}


def configure(update: dict):
    """Applies the `hangs` part of a `/_thaw/config` update (see the module doc)."""
    hangs = update.get("hangs")
    if not isinstance(hangs, dict):
        return
    with _LOCK:
        for name, rule in hangs.items():
            old = _RULES.pop(name, None)
            if old is not None:
                old["release"].set()
            if rule:
                _RULES[name] = {"rule": dict(rule), "calls": 0, "release": threading.Event()}


def configure_from_env():
    """Rules given at start in `THAW_MOTO_HANGS` (the same JSON as a config update)."""
    raw = os.environ.get("THAW_MOTO_HANGS")
    if raw:
        configure(json.loads(raw))


def _applies(rule: dict, op: str, target: str) -> bool:
    want = ALIASES.get(rule.get("op", "*"), rule.get("op", "*"))
    if want == "*":
        if not op.startswith("s3:") or op.endswith("bucket"):
            return False
    elif want != op:
        return False
    return rule.get("match", "") in target


def _take(op: str, target: str):
    """The rule (and its release event) that takes this request, counting it; None if none."""
    with _LOCK:
        for entry in _RULES.values():
            rule = entry["rule"]
            if not _applies(rule, op, target):
                continue
            entry["calls"] += 1
            nth = rule.get("nth")
            if nth is None or entry["calls"] in nth:
                return rule, entry["release"]
    return None


def _hold(rule: dict, release: threading.Event):
    seconds = float(rule.get("seconds") or 0)
    if seconds > 0:
        release.wait(seconds)
    else:
        release.wait()


def target_of(environ) -> str:
    """What a rule's `match` is looked for in: the path, then `?` and the query string."""
    path = environ.get("PATH_INFO", "")
    query = environ.get("QUERY_STRING", "")
    return f"{path}?{query}" if query else path


def before(op: str, environ) -> bool:
    """Called by the emulator before it serves a request. A `hang` rule holds the request here;
    returns True when a `stall` rule wants the answer's body delayed (see `stalled`)."""
    taken = _take(op, target_of(environ))
    if taken is None:
        return False
    rule, release = taken
    if rule.get("mode", "hang") == "stall":
        environ["thaw.stall"] = (rule, release)
        return True
    _hold(rule, release)
    return False


def stalled(environ, app, start_response):
    """Serves the request with its headers at once and its body after the stall rule's time."""
    rule, release = environ["thaw.stall"]
    body = app(environ, start_response)

    def chunks():
        yield b""  # the status line and headers go out now
        _hold(rule, release)
        try:
            for chunk in body:
                yield chunk
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()

    return chunks()
