"""Checksums of copies as S3 computes and reports them (imported by moto_server.py).

What moto 5.2.5 does: HeadObject with `x-amz-checksum-mode: ENABLED` reports the stored checksum
(and `x-amz-checksum-type` for multipart objects); CopyObject with `x-amz-checksum-algorithm`
computes the copy's checksum and returns it in CopyObjectResult; CreateMultipartUpload keeps
`x-amz-checksum-algorithm`/`-type` and CompleteMultipartUpload computes the object's checksum
(full-object or composite). What it lacks, added here:

* CRC64NVME and CRC32C computed for real: without the optional `awscrt` and `crc32c` packages
  moto computes a CRC32 and labels it CRC64NVME or CRC32C, so a copy's checksum never equals
  the one the SDK uploaded. Bodies up to `_REAL_LIMIT` are computed here (pure Python, checked
  against the algorithms' check values); a larger body takes the checksum a client uploaded with
  the same bytes (a stored object whose ETag is the body's MD5, S3 having checked it on upload),
  else moto's own value (too slow to compute in Python for the multi-MiB multipart bodies);
* CompleteMultipartUpload answers carry the object's checksum and `ChecksumType`, as S3's do
  (moto's answer has neither);
* UploadPartCopy into an upload created with a checksum algorithm answers the part's checksum
  in CopyPartResult, and CompleteMultipartUpload of such an upload without a part's checksum is
  refused (400 InvalidRequest), as S3 does (moto gives none and checks none);
* CompleteMultipartUpload carrying a full-object checksum (`x-amz-checksum-crc64nvme`, `-crc32`
  or `-crc32c`, as a client hands the source's) is checked against the assembled parts and
  refused with 400 BadDigest when it differs, as S3 does: nothing is created, the upload stays
  open (moto checks none);
* a fault switch: {"corrupt_copy": {"bucket": B, "key": K, "what": "etag" | "checksum"}} makes
  the next CopyObject or CompleteMultipartUpload answer for B/K report another ETag or checksum
  than the copy's (one-shot; several may be queued), so the worker's mismatch path runs;
  `"what": "bytes"` makes the next CompleteMultipartUpload of B/K assemble its parts with one
  byte changed (a part copied wrong), which the checksum check above refuses.
"""

import base64
import hashlib
import io
import re
import threading
import urllib.parse

from moto.s3 import models as s3_models
from moto.s3 import responses as s3_responses
from moto.s3 import utils as s3_utils

_ORIGINAL = s3_utils.compute_checksum
_REAL_LIMIT = 1 << 20
_LOCK = threading.Lock()
# one-shot answer corruptions: (bucket, key) -> ["etag" | "checksum", ...]
CORRUPT: dict = {}


def _table(poly: int) -> list:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _table(0x82F63B78)
_CRC64NVME = _table(0x9A6C9329AC4BC9B5)


def _crc(table: list, width: int, data: bytes) -> int:
    mask = (1 << width) - 1
    c = mask
    for b in data:
        c = table[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ mask


def crc32c(data: bytes) -> bytes:
    return _crc(_CRC32C, 32, data).to_bytes(4, "big")


def crc64nvme(data: bytes) -> bytes:
    return _crc(_CRC64NVME, 64, data).to_bytes(8, "big")


_REAL = {"CRC32C": crc32c, "CRC64NVME": crc64nvme}
assert crc32c(b"123456789") == (0xE3069283).to_bytes(4, "big")
assert crc64nvme(b"123456789") == (0xAE8B14860A799888).to_bytes(8, "big")


def _uploaded_checksum(body: bytes, algorithm: str):
    """The checksum a client uploaded with these bytes (base64), if a stored object has it."""
    md5 = hashlib.md5(body, usedforsecurity=False).hexdigest()
    for account in s3_models.s3_backends.values():
        for backend in account.values():
            for bucket in list(backend.buckets.values()):
                for key in list(bucket.keys.values()):
                    if (
                        getattr(key, "checksum_algorithm", None) == algorithm
                        and key.checksum_value
                        and getattr(key, "checksum_type", None) != "COMPOSITE"
                        and key.etag.strip('"') == md5
                    ):
                        return key.checksum_value
    return None


def compute_checksum(body: bytes, algorithm: str, encode_base64: bool = True) -> bytes:
    real = _REAL.get(algorithm)
    if real is not None:
        raw = None
        if len(body) <= _REAL_LIMIT:
            raw = real(bytes(body))
        else:
            uploaded = _uploaded_checksum(bytes(body), algorithm)
            raw = base64.b64decode(uploaded) if uploaded else None
        if raw is not None:
            return base64.b64encode(raw) if encode_base64 else raw
    return _ORIGINAL(body, algorithm, encode_base64)


for _module in (s3_utils, s3_models, s3_responses):
    if hasattr(_module, "compute_checksum"):
        _module.compute_checksum = compute_checksum


def configure(update: dict):
    """Takes the `corrupt_copy` switch of a /_thaw/config update."""
    corrupt = update.get("corrupt_copy")
    if corrupt:
        with _LOCK:
            CORRUPT.setdefault((corrupt["bucket"], corrupt["key"]), []).append(
                corrupt.get("what", "checksum")
            )


def _object_of(environ):
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw is None:
        raw = urllib.parse.quote(environ.get("PATH_INFO", "").encode("latin-1"))
    bucket, _, key = raw.split("?", 1)[0].lstrip("/").partition("/")
    return urllib.parse.unquote(bucket), urllib.parse.unquote(key)


def _stored(bucket: str, key: str):
    for account in s3_models.s3_backends.values():
        for backend in account.values():
            if bucket in backend.buckets:
                try:
                    return backend.get_object(bucket, key)
                except Exception:  # noqa: BLE001 - gone meanwhile: nothing to add
                    return None
    return None


def _with_checksum(body: bytes, bucket: str, key: str) -> bytes:
    """A CompleteMultipartUpload answer with the object's checksum and type, as S3 gives."""
    obj = _stored(bucket, key)
    if obj is None or not obj.checksum_value or b"<ChecksumType>" in body:
        return body
    algorithm = obj.checksum_algorithm or "CRC64NVME"
    kind = obj.checksum_type or "FULL_OBJECT"
    value = obj.checksum_value
    if kind == "COMPOSITE" and obj.checksum_parts:
        value = f"{value}-{obj.checksum_parts}"
    extra = f"<Checksum{algorithm}>{value}</Checksum{algorithm}><ChecksumType>{kind}</ChecksumType>"
    return body.replace(b"</CompleteMultipartUploadResult>", extra.encode() + b"</CompleteMultipartUploadResult>")


def _corrupted(body: bytes, what: str) -> bytes:
    """The answer with its ETag (or checksum) replaced by another value."""
    if what == "etag":
        tag, other = rb"ETag", b'"00000000000000000000000000000000"'
    else:
        tag, other = rb"Checksum(?:CRC64NVME|CRC32C|CRC32|SHA1|SHA256)", b"AAAAAAAAAAA="

    def change(m):
        value = other if m.group(2) != other else other.replace(b"A", b"B").replace(b"0", b"1")
        return m.group(1) + value + m.group(3)

    return re.sub(rb"(<" + tag + rb">)([^<]*)(</)", change, body, count=1)


def _upload_algorithm(bucket: str, upload_id: str):
    """The checksum algorithm an open upload was created with, and the upload."""
    for account in s3_models.s3_backends.values():
        for backend in account.values():
            b = backend.buckets.get(bucket)
            upload = b.multiparts.get(upload_id) if b is not None else None
            if upload is not None:
                return upload.metadata.get("x-amz-checksum-algorithm"), upload
    return None, None


def _upload_id(environ):
    return (urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).get("uploadId") or [None])[0]


def _missing_part_checksum(environ, bucket: str):
    """For a CompleteMultipartUpload of a checksum upload: the first part listed without its
    checksum, as (algorithm, part number); None when every part has it (or no checksum)."""
    algorithm, _ = _upload_algorithm(bucket, _upload_id(environ))
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    if not algorithm:
        return None
    for part in re.findall(rb"<Part>(.*?)</Part>", body, re.S):
        if f"<Checksum{algorithm}>".encode() not in part:
            number = re.search(rb"<PartNumber>(\d+)</PartNumber>", part)
            return algorithm, (number.group(1).decode() if number else "?")
    return None


def _with_part_checksum(body: bytes, environ, bucket: str) -> bytes:
    """An UploadPartCopy answer with the part's checksum, when the upload has an algorithm."""
    algorithm, upload = _upload_algorithm(bucket, _upload_id(environ))
    number = (urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).get("partNumber") or ["0"])[0]
    part = upload.parts.get(int(number)) if upload is not None else None
    if not algorithm or part is None:
        return body
    value = compute_checksum(part.value, algorithm).decode()
    extra = f"<Checksum{algorithm}>{value}</Checksum{algorithm}>".encode()
    return body.replace(b"</CopyPartResult>", extra + b"</CopyPartResult>")


def _expected_checksum(environ):
    """The full-object checksum a CompleteMultipartUpload hands S3, as (algorithm, value)."""
    for algorithm in ("CRC64NVME", "CRC32", "CRC32C"):
        value = environ.get("HTTP_X_AMZ_CHECKSUM_" + algorithm)
        if value:
            return algorithm, value
    return None


def _assembled(environ, bucket: str, key: str):
    """The bytes the parts a CompleteMultipartUpload lists assemble to (a queued "bytes"
    corruption of bucket/key changes one), or None when the upload is unknown."""
    _, upload = _upload_algorithm(bucket, _upload_id(environ))
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    if upload is None:
        return None
    numbers = [int(n) for n in re.findall(rb"<PartNumber>(\d+)</PartNumber>", body)]
    if any(n not in upload.parts for n in numbers):
        return None
    data = bytearray(b"".join(bytes(upload.parts[n].value) for n in numbers))
    with _LOCK:
        queued = CORRUPT.get((bucket, key))
        if queued and queued[0] == "bytes" and data:
            queued.pop(0)
            if not queued:
                CORRUPT.pop((bucket, key), None)
            data[0] ^= 0xFF
    return bytes(data)


def _bad_digest(environ, bucket: str, key: str):
    """S3's refusal message when the full-object checksum handed on completion is not the
    assembled object's; None when it is (or none was handed)."""
    expected = _expected_checksum(environ)
    if expected is None:
        return None
    algorithm, value = expected
    data = _assembled(environ, bucket, key)
    if data is None:
        return None
    actual = compute_checksum(data, algorithm).decode()
    if actual == value:
        return None
    return f"The {algorithm.lower()} you specified did not match the calculated checksum."


def _refused(start_response, message: str, code: str = "InvalidRequest"):
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        "<RequestId>thaw-moto</RequestId><HostId>thaw-moto</HostId></Error>"
    ).encode()
    start_response("400 Bad Request", [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
    return [body]


def around(op: str, environ, start_response, app):
    """CopyObject and CompleteMultipartUpload answered by moto, then completed (checksums) and
    corrupted when asked; None for any other request."""
    complete = op == "s3:POST:multipart"
    if op == "s3:UploadPartCopy":
        return _answer(environ, start_response, app, lambda b: _with_part_checksum(b, environ, _object_of(environ)[0]))
    if op != "s3:CopyObject" and not complete:
        return None
    if complete:
        missing = _missing_part_checksum(environ, _object_of(environ)[0])
        if missing:
            algorithm, number = missing
            return _refused(
                start_response,
                f"The upload was created using a {algorithm.lower()} checksum. The complete request "
                f"must include the checksum for each part. It was missing for part {number} in the request.",
            )
        bad = _bad_digest(environ, *_object_of(environ))
        if bad:
            return _refused(start_response, bad, "BadDigest")
    return _answer(environ, start_response, app, lambda b: _copy_answer(b, environ, complete))


def _copy_answer(body: bytes, environ, complete: bool) -> bytes:
    if b"<CopyObjectResult" not in body and b"<CompleteMultipartUploadResult" not in body:
        return body
    bucket, key = _object_of(environ)
    if complete:
        body = _with_checksum(body, bucket, key)
    with _LOCK:
        queued = CORRUPT.get((bucket, key))
        what = queued.pop(0) if queued else None
        if queued == []:
            CORRUPT.pop((bucket, key), None)
    return _corrupted(body, what) if what else body


def _answer(environ, start_response, app, rewrite):
    """moto's answer, its body passed through `rewrite` when it is a 200."""
    captured = []

    def capture(status, headers, exc_info=None):
        captured.append((status, headers))
        return lambda data: None

    body = b"".join(app(environ, capture))
    status, headers = captured[0]
    if status.startswith("200"):
        body = rewrite(body)
    headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
    headers.append(("Content-Length", str(len(body))))
    start_response(status, headers)
    return [body]
