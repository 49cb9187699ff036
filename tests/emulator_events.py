"""Restore-completed events and restores that finish spread over a window (imported by
moto_server.py).

* Spread restores: {"restore_delay_max": s} makes each restore take between `restore_delay` and
  `restore_delay_max` seconds, the same for the same (bucket, key, version) in every run (a hash
  of them places the object in the window), so a test can say "restores finish between 20 s and
  60 s". Unset (or not above `restore_delay`): every restore takes `restore_delay`, as before.
* S3 -> EventBridge "Object Restore Completed": moto 5.2.5 sends it only lazily, when something
  reads the object's status after its restore ended, with the shape of an "Object Created" event
  (a `reason`, a made-up `sequencer`, no `restore-expiry-time`). The wrapper instead emits it when
  the restore ends (a scheduler thread, once per restore), only when the bucket's notification
  configuration has EventBridge enabled, as S3 does, through moto's own EventBridge rules and
  targets (an SQS target receives it as the message body). The event has the shape AWS documents
  ("EventBridge event message structure", S3 user guide): detail.object.key is the key as is (not
  URL-encoded: that is the SQS/SNS/Lambda notification format), `version-id` only for an object
  of a versioned bucket, `requester` "s3.amazonaws.com", `restore-expiry-time` and
  `source-storage-class`. moto's own lazy restore-completed EventBridge message is suppressed.
* At least once, not exactly once: {"event_drop_rate": p} loses a fraction p of the events,
  {"event_duplicate_rate": p} delivers a fraction p twice; deterministic like moto_server's
  faults (rate 1/n: every n-th event), counted from the last time the rate was configured.
  GET /_thaw/stats counts `events:RestoreCompleted` (emitted), `events:dropped` and
  `events:duplicated`.
* The bucket's notification configuration, as S3 guards it:
  - {"deny_notification_reads": [B, ...]}: GetBucketNotificationConfiguration of B answers 403
    AccessDenied (a caller without s3:GetBucketNotification);
  - {"notification_change_after_read": B}: right after the next read of B's configuration is
    answered, someone else adds a topic configuration to it (one-shot), to exercise a change
    between a read and a write;
  - GetBucketNotificationConfiguration answers as S3 does: `<NotificationConfiguration/>` for a
    bucket without one (moto answers another root element, which the SDK refuses) and
    `<EventBridgeConfiguration/>` when EventBridge is on (moto leaves it out);
  - PutBucketNotificationConfiguration validates its destinations as S3 does ("Unable to
    validate the following destination configurations", 400 InvalidArgument): a queue
    configuration whose queue does not exist is refused, where moto takes any ARN.
"""

import datetime
import hashlib
import io
import re
import urllib.parse
import heapq
import math
import threading
import time
import uuid
from collections import Counter
from fractions import Fraction

from xml.sax.saxutils import escape

from moto.s3 import notifications
from moto.s3 import responses as s3_responses

CONFIG = {
    "restore_delay_max": None,
    "event_drop_rate": 0.0,
    "event_duplicate_rate": 0.0,
    "deny_notification_reads": [],
    "notification_change_after_read": None,
}
_CALLS: Counter = Counter()
_LOCK = threading.Lock()
# (due monotonic time, sequence, key object) of the restores whose end is still to be announced
_DUE: list = []
_WAKE = threading.Condition(_LOCK)
_SEQ = [0]
_COMPLETED = notifications.S3NotificationEvent.OBJECT_RESTORE_COMPLETED_EVENT


def configure(update: dict):
    """Applies the keys of a /_thaw/config update that are this module's."""
    with _LOCK:
        for name in CONFIG:
            if name in update:
                CONFIG[name] = update[name]
                _CALLS[name] = 0


def _error(start_response, status: str, code: str, message: str):
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        "<RequestId>thaw-moto</RequestId></Error>"
    ).encode()
    start_response(status, [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
    return [body]


def _missing_queues(body: bytes) -> list:
    """The queue ARNs a PutBucketNotificationConfiguration body names whose queue does not exist."""
    from moto.sqs.models import sqs_backends

    missing = []
    for arn in re.findall(r"<Queue>([^<]+)</Queue>", body.decode("utf-8", "replace")):
        parts = arn.split(":")
        if len(parts) < 6:
            missing.append(arn)
            continue
        region, account, name = parts[3], parts[4], parts[5]
        if name not in sqs_backends[account][region].queues:
            missing.append(arn)
    return missing


def _add_racing_topic(bucket_name: str):
    """Someone else's change of the bucket's notification configuration."""
    from moto.s3.models import Notification, NotificationConfiguration, s3_backends

    for account in s3_backends.values():
        for backend in account.values():
            bucket = backend.buckets.get(bucket_name)
            if bucket is None:
                continue
            if bucket.notification_configuration is None:
                bucket.notification_configuration = NotificationConfiguration()
            bucket.notification_configuration.topic.append(
                Notification(f"arn:aws:sns:{bucket.region_name}:{bucket.account_id}:someone-else",
                             ["s3:ObjectCreated:*"], notification_id="added-meanwhile")
            )


def intercept(environ, start_response, op: str, app):
    """The emulator's answer to a notification configuration request; None for any other."""
    names = [q.split("=", 1)[0] for q in environ.get("QUERY_STRING", "").split("&")]
    if not op.startswith("s3:") or "notification" not in names:
        return None
    bucket = urllib.parse.unquote(environ.get("PATH_INFO", "").lstrip("/").split("/", 1)[0])
    method = environ["REQUEST_METHOD"]
    with _LOCK:
        denied = bucket in (CONFIG["deny_notification_reads"] or [])
        race = method == "GET" and CONFIG["notification_change_after_read"] == bucket
        if race:
            CONFIG["notification_change_after_read"] = None
    if method == "GET" and denied:
        return _error(start_response, "403 Forbidden", "AccessDenied", "Access Denied")
    if method == "PUT":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        chunked = not length and environ.get("wsgi.input_terminated")
        body = environ["wsgi.input"].read() if chunked else environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        if _missing_queues(body):
            return _error(start_response, "400 Bad Request", "InvalidArgument",
                          "Unable to validate the following destination configurations")
        return None
    if race:
        answer = b"".join(app(environ, start_response))
        _add_racing_topic(bucket)
        return [answer]
    return None


def restore_delay(key, base: float) -> float:
    """How long the restore of `key` (a moto FakeKey) takes, from `base` (restore_delay) to
    restore_delay_max, placed in that window by a hash of (bucket, key, version)."""
    top = CONFIG["restore_delay_max"]
    if top is None or float(top) <= base:
        return base
    name = f"{key.bucket_name}\0{key.name}\0{key.version_id or ''}".encode()
    fraction = int.from_bytes(hashlib.sha256(name).digest()[:8], "big") / 2.0**64
    return base + (float(top) - base) * fraction


def _rate_hit(name: str) -> bool:
    rate = Fraction(CONFIG[name]).limit_denominator(1000)
    if rate <= 0:
        return False
    _CALLS[name] += 1
    k = _CALLS[name]
    return math.floor(k * rate) > math.floor((k - 1) * rate)


def restore_started(key, started: float, delay: float):
    """Schedules the restore-completed event of `key`, whose restore started at `started`
    (time.monotonic()) and takes `delay` seconds."""
    with _WAKE:
        _SEQ[0] += 1
        heapq.heappush(_DUE, (started + delay, _SEQ[0], key))
        key._thaw_restore_seq = _SEQ[0]
        _WAKE.notify()


def _iso(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def event_of(key, bucket, account_id: str) -> dict:
    """The "Object Restore Completed" event of `key`, as S3 sends it to EventBridge."""
    obj = {"key": key.name, "size": key.size, "etag": key.etag.replace('"', "")}
    if key.version_id and key.version_id != "null":
        obj["version-id"] = key.version_id
    expiry = getattr(key, "_expiry", None)
    detail = {
        "version": "0",
        "bucket": {"name": bucket.name},
        "object": obj,
        "request-id": uuid.uuid4().hex[:16].upper(),
        "requester": "s3.amazonaws.com",
        "source-storage-class": key.storage_class,
    }
    if expiry is not None:
        detail["restore-expiry-time"] = _iso(expiry)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Object Restore Completed",
        "source": "aws.s3",
        "account": account_id,
        # moto's SQS target turns a Unix time into "YYYY-MM-DDTHH:MM:SSZ", as EventBridge sends it
        "time": time.time(),
        "region": bucket.region_name,
        "resources": [bucket.arn],
        "detail": detail,
    }


def _deliver(key, count):
    from moto.events.models import events_backends
    from moto.s3.models import s3_backends

    bucket = s3_backends[key.account_id][key.partition].get_bucket(key.bucket_name)
    config = bucket.notification_configuration
    if config is None or config.event_bridge is None:
        return
    with _LOCK:
        dropped = _rate_hit("event_drop_rate")
        copies = 0 if dropped else (2 if _rate_hit("event_duplicate_rate") else 1)
    count(["events:RestoreCompleted"] + (["events:dropped"] if dropped else [])
          + (["events:duplicated"] if copies == 2 else []), bucket.name)
    backend = events_backends[key.account_id][bucket.region_name]
    for _ in range(copies):
        event = event_of(key, bucket, key.account_id)
        for bus in backend.event_buses.values():
            for rule in bus.rules.values():
                rule.send_to_targets(event, transform_input=False)


def _run(in_progress, count):
    while True:
        with _WAKE:
            while not _DUE or _DUE[0][0] > time.monotonic():
                _WAKE.wait(None if not _DUE else max(0.0, _DUE[0][0] - time.monotonic()))
            _, seq, key = heapq.heappop(_DUE)
        if getattr(key, "_thaw_restore_seq", None) != seq:
            continue  # restarted since: its own entry announces it
        if in_progress(key):
            # still ongoing by another rule (`restore_heads`): look again in a second
            with _WAKE:
                heapq.heappush(_DUE, (time.monotonic() + 1.0, seq, key))
            continue
        try:
            _deliver(key, count)
        except Exception:  # noqa: BLE001 - asynchronous on AWS: a failed delivery is a lost event
            count(["events:failed"], key.bucket_name)


def _destination_xml(element: str, arn_element: str, item) -> str:
    events = "".join(f"<Event>{escape(e)}</Event>" for e in item.events)
    rules = (item.filters or {}).get("S3Key", {}).get("FilterRule", [])
    if isinstance(rules, dict):
        rules = [rules]
    filters = "".join(
        f"<FilterRule><Name>{escape(r['Name'])}</Name><Value>{escape(r['Value'])}</Value></FilterRule>"
        for r in rules
    )
    filter_xml = f"<Filter><S3Key>{filters}</S3Key></Filter>" if filters else ""
    return (f"<{element}><Id>{escape(item.id)}</Id><{arn_element}>{escape(item.arn)}</{arn_element}>"
            f"{events}{filter_xml}</{element}>")


def _get_bucket_notification(self):
    """GetBucketNotificationConfiguration as S3 answers it."""
    config = self.backend.get_bucket_notification_configuration(self.bucket_name)
    parts = []
    if config is not None:
        parts += [_destination_xml("TopicConfiguration", "Topic", t) for t in config.topic]
        parts += [_destination_xml("QueueConfiguration", "Queue", q) for q in config.queue]
        parts += [_destination_xml("CloudFunctionConfiguration", "CloudFunction", f) for f in config.cloud_function]
        if config.event_bridge is not None:
            parts.append("<EventBridgeConfiguration/>")
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            + "".join(parts) + "</NotificationConfiguration>")
    return 200, {"Content-Type": "application/xml"}, body


def _moto_event_bridge(account_id, bucket, event_name, key):
    if event_name == _COMPLETED:
        return None  # announced by the scheduler when the restore ends
    return _original_event_bridge(account_id, bucket, event_name, key)


_original_event_bridge = notifications._send_event_bridge_message


def install(in_progress, count):
    """Starts the scheduler; `in_progress(key)` tells whether a restore is still ongoing,
    `count(names, bucket)` records stats."""
    notifications._send_event_bridge_message = _moto_event_bridge
    s3_responses.S3Response.get_bucket_notification = _get_bucket_notification
    threading.Thread(target=_run, args=(in_progress, count), daemon=True).start()
