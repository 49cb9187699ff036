"""Bucket rules moto does not enforce, as S3 enforces them (imported by moto_server.py).

* Requester pays: PutBucketRequestPayment / GetBucketRequestPayment (moto has neither). On a
  bucket whose payer is `Requester`, every object request (HEAD/GET/PUT/POST/DELETE of a key,
  and a CopyObject or UploadPartCopy whose *source* is in that bucket) and every listing
  (ListObjects, ListObjectsV2, ListObjectVersions, ListMultipartUploads) without
  `x-amz-request-payer: requester` is refused with 403 AccessDenied, as S3 refuses it to anyone
  but the bucket owner. The emulator has one account, so it plays the requester's side: the
  owner's own requests are refused too. Bucket configuration requests (HeadBucket,
  GetBucketVersioning, ...) pass.
* Object Lock headers (`x-amz-object-lock-mode`, `-retain-until-date`, `-legal-hold`) on a
  CopyObject or CreateMultipartUpload into a bucket without Object Lock: 400 InvalidRequest
  "Bucket is missing Object Lock Configuration" (moto refuses them on PutObject only).
"""

import threading
import urllib.parse

from moto.s3 import models as s3_models

# Buckets whose payer is Requester (by name; moto keeps no such setting).
REQUESTER_PAYS: set = set()
_LOCK = threading.Lock()

_LIST_QUERIES = ("list-type", "versions", "uploads")
_LOCK_HEADERS = (
    "HTTP_X_AMZ_OBJECT_LOCK_MODE",
    "HTTP_X_AMZ_OBJECT_LOCK_RETAIN_UNTIL_DATE",
    "HTTP_X_AMZ_OBJECT_LOCK_LEGAL_HOLD",
)


def _error(start_response, status: str, code: str, message: str, head: bool):
    body = b"" if head else (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        "<RequestId>thaw-moto</RequestId><HostId>thaw-moto</HostId></Error>"
    ).encode()
    start_response(status, [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
    return [body]


def _xml(start_response, body: str):
    data = ('<?xml version="1.0" encoding="UTF-8"?>\n' + body).encode()
    start_response("200 OK", [("Content-Type", "application/xml"), ("Content-Length", str(len(data)))])
    return [data]


def _bucket(name: str):
    for account in s3_models.s3_backends.values():
        for backend in account.values():
            bucket = backend.buckets.get(name)
            if bucket is not None:
                return bucket
    return None


def _split(path: str):
    bucket, _, key = path.lstrip("/").partition("/")
    return urllib.parse.unquote(bucket), urllib.parse.unquote(key)


def _query_names(environ) -> list:
    return [q.split("=", 1)[0] for q in environ.get("QUERY_STRING", "").split("&") if q]


def _request_payment(environ, start_response, bucket: str):
    """PutBucketRequestPayment / GetBucketRequestPayment of `bucket`."""
    if _bucket(bucket) is None:
        return _error(start_response, "404 Not Found", "NoSuchBucket", "The specified bucket does not exist", False)
    if environ["REQUEST_METHOD"] == "PUT":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length).decode()
        with _LOCK:
            if "<Payer>Requester</Payer>" in body:
                REQUESTER_PAYS.add(bucket)
            elif "<Payer>BucketOwner</Payer>" in body:
                REQUESTER_PAYS.discard(bucket)
            else:
                return _error(start_response, "400 Bad Request", "MalformedXML",
                              "The XML you provided was not well-formed or did not validate against our published schema", False)
        start_response("200 OK", [("Content-Length", "0")])
        return [b""]
    payer = "Requester" if bucket in REQUESTER_PAYS else "BucketOwner"
    return _xml(
        start_response,
        f'<RequestPaymentConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Payer>{payer}</Payer></RequestPaymentConfiguration>',
    )


def _charged_buckets(environ, bucket: str, key: str) -> list:
    """The requester-pays buckets this request reads or writes objects of."""
    touched = []
    if key or any(q in _LIST_QUERIES for q in _query_names(environ)) or (
        environ["REQUEST_METHOD"] == "GET" and not environ.get("QUERY_STRING")
    ):
        touched.append(bucket)
    source = environ.get("HTTP_X_AMZ_COPY_SOURCE")
    if source:
        touched.append(_split(urllib.parse.unquote(source.split("?", 1)[0]))[0])
    return [b for b in touched if b in REQUESTER_PAYS]


def intercept(environ, start_response, op: str):
    """The emulator's own answer to an S3 request, or None to let moto answer it."""
    if not op.startswith("s3:"):
        return None
    path = environ.get("PATH_INFO", "")
    bucket, key = _split(path)
    if not bucket:
        return None
    if not key and "requestPayment" in _query_names(environ):
        return _request_payment(environ, start_response, bucket)
    paid = environ.get("HTTP_X_AMZ_REQUEST_PAYER", "").lower() == "requester"
    if not paid and _charged_buckets(environ, bucket, key):
        return _error(start_response, "403 Forbidden", "AccessDenied", "Access Denied",
                      environ["REQUEST_METHOD"] == "HEAD")
    if op in ("s3:CopyObject", "s3:CreateMultipartUpload") and any(environ.get(h) for h in _LOCK_HEADERS):
        target = _bucket(bucket)
        if target is not None and not target.object_lock_enabled:
            return _error(start_response, "400 Bad Request", "InvalidRequest",
                          "Bucket is missing Object Lock Configuration", False)
    return None
