"""Bucket settings the advice before launch reads, as S3 answers them (imported by moto_server.py).

* Intelligent-Tiering archive configurations: PutBucketIntelligentTieringConfiguration,
  GetBucketIntelligentTieringConfiguration, DeleteBucketIntelligentTieringConfiguration and
  ListBucketIntelligentTieringConfigurations (`?intelligent-tiering`; moto has none of them).
  Configurations are kept per bucket and id, as their XML; the list returns them all at once
  (`IsTruncated` false), as S3 does for up to 1,000 configurations.
* Refused reads: buckets named in the `deny_bucket_reads` config (POST /_thaw/config) answer
  GetBucketLifecycleConfiguration, the Intelligent-Tiering reads and GetBucketVersioning with 403
  AccessDenied, as S3 does for a caller without s3:GetLifecycleConfiguration /
  s3:GetIntelligentTieringConfiguration / s3:GetBucketVersioning.
"""

import re
import threading
import urllib.parse

from emulator_access import _bucket, _error, _query_names, _split, _xml

_LOCK = threading.Lock()
# bucket -> {id: configuration XML (without the XML declaration)}
TIERING: dict = {}
# buckets whose configuration reads are refused
DENIED: set = set()

_NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'


def configure(update: dict):
    """Applies the part of a /_thaw/config update this module owns."""
    if "deny_bucket_reads" in update:
        with _LOCK:
            DENIED.clear()
            DENIED.update(update["deny_bucket_reads"] or [])


def _config_id(environ) -> str:
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    return (query.get("id") or [""])[0]


def _tiering(environ, start_response, bucket: str):
    method = environ["REQUEST_METHOD"]
    config_id = _config_id(environ)
    if method == "PUT":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length).decode()
        body = re.sub(r"^<\?xml[^>]*\?>\s*", "", body)
        with _LOCK:
            TIERING.setdefault(bucket, {})[config_id] = body
        start_response("204 No Content", [("Content-Length", "0")])
        return [b""]
    if method == "DELETE":
        with _LOCK:
            TIERING.get(bucket, {}).pop(config_id, None)
        start_response("204 No Content", [("Content-Length", "0")])
        return [b""]
    with _LOCK:
        configs = dict(TIERING.get(bucket, {}))
    if config_id:
        body = configs.get(config_id)
        if body is None:
            return _error(start_response, "404 Not Found", "NoSuchConfiguration",
                          "The specified configuration does not exist.", False)
        return _xml(start_response, body)
    inner = "".join(
        re.sub(r"^<IntelligentTieringConfiguration[^>]*>", "<IntelligentTieringConfiguration>", c)
        for _, c in sorted(configs.items())
    )
    return _xml(
        start_response,
        f"<ListBucketIntelligentTieringConfigurationsOutput {_NS}><IsTruncated>false</IsTruncated>"
        f"{inner}</ListBucketIntelligentTieringConfigurationsOutput>",
    )


def intercept(environ, start_response, op: str):
    """The emulator's own answer to an S3 request, or None to let moto answer it."""
    if not op.startswith("s3:"):
        return None
    bucket, key = _split(environ.get("PATH_INFO", ""))
    queries = _query_names(environ)
    reads = ("intelligent-tiering", "lifecycle", "versioning")
    if not bucket or key or not any(q in queries for q in reads):
        return None
    if _bucket(bucket) is None:
        return _error(start_response, "404 Not Found", "NoSuchBucket",
                      "The specified bucket does not exist", False)
    with _LOCK:
        denied = bucket in DENIED
    if denied and environ["REQUEST_METHOD"] == "GET":
        return _error(start_response, "403 Forbidden", "AccessDenied", "Access Denied", False)
    if "intelligent-tiering" in queries:
        return _tiering(environ, start_response, bucket)
    return None
