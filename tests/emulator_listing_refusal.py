"""Listings refused as S3 refuses them to a role without s3:ListBucket (imported by
moto_server.py).

{"refuse_listing": {"bucket": NAME, "times": n}} answers the next n ListObjectsV2 requests that
ask for the restore status (`x-amz-optional-object-attributes: RestoreStatus`) on bucket NAME
with 403 AccessDenied; later ones pass. A worker whose listing is refused falls back to
HeadObject for that look: the tests use it to run the HEAD-first path of a sorted lot next to
the listing-first one, in the same emulator.
"""

import threading
import urllib.parse

HEADER = "HTTP_X_AMZ_OPTIONAL_OBJECT_ATTRIBUTES"

# bucket -> listings still to refuse
_REFUSALS: dict = {}
_LOCK = threading.Lock()


def configure(update: dict):
    """Takes a `refuse_listing` setting from a /_thaw/config update."""
    refuse = update.get("refuse_listing")
    if refuse:
        with _LOCK:
            _REFUSALS[refuse["bucket"]] = int(refuse["times"])


def intercept(environ, start_response, op: str):
    """A 403 for a refused listing, or None to let it through."""
    if not op.startswith("s3:GET:bucket") or "RestoreStatus" not in environ.get(HEADER, ""):
        return None
    bucket = urllib.parse.unquote(environ.get("PATH_INFO", "").lstrip("/").split("/", 1)[0])
    with _LOCK:
        left = _REFUSALS.get(bucket, 0)
        if left <= 0:
            return None
        _REFUSALS[bucket] = left - 1
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        "<Error><Code>AccessDenied</Code><Message>Access Denied</Message>"
        "<RequestId>thaw-moto</RequestId><HostId>thaw-moto</HostId></Error>"
    ).encode()
    start_response("403 Forbidden", [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
    return [body]
