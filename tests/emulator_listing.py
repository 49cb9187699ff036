"""Restore status by listing, as S3 answers it (imported by moto_server.py; moto 5.2.5 ignores
it).

ListObjectsV2 with `x-amz-optional-object-attributes: RestoreStatus` (the SDK's
`OptionalObjectAttributes=RestoreStatus`) gives each listed object that has a restore a
`RestoreStatus`: `IsRestoreInProgress` true while S3 brings it back, then false with the
`RestoreExpiryDate` of its restored copy. Objects without a restore (not archived, never asked,
or their copy expired) have none; a listing without the header has none either.

The restore state is the one the wrapper tracks (moto_server.py): the slow restores of
`restore_delay`, and the look-counted ones of `restore_heads`, where a listing that shows an
object being restored counts as one look at it, as a HeadObject does. Every listing that asks
for the restore status is also counted as `s3:ListObjectsV2:RestoreStatus`.

Pages of delete markers: with {"list_empty_first": true}, every such listing that starts
without a continuation token (from the bucket's start or a StartAfter) is answered first with
a page that holds no key but is truncated (KeyCount 0, IsTruncated true, a
NextContinuationToken), as S3 answers while it scans past delete markers; the token goes on
from where the request started. A reader that asks the same StartAfter again never gets further.
"""

import urllib.parse
import uuid

from moto.core.responses import ActionResult
from moto.s3 import responses as s3_responses

HEADER = "x-amz-optional-object-attributes"


def install(in_progress, count_look, count, config):
    """Patches moto's ListObjectsV2: `in_progress(obj)` tells whether an object's restore is
    still running, `count_look(obj)` counts a look at it, `count(names, bucket)` a request;
    `config` is the wrapper's settings (`list_empty_first`)."""
    original = s3_responses.S3Response.list_objects_v2

    def list_objects_v2(self):
        if "RestoreStatus" not in (self.headers.get(HEADER) or ""):
            return original(self)
        count(["s3:ListObjectsV2:RestoreStatus"], self.bucket_name)
        if config.get("list_empty_first") and not self.querystring.get("continuation-token"):
            return _empty_truncated(self)
        serialized = self.serialized
        encoded = (self.querystring.get("encoding-type") or [None])[0] == "url"

        def with_restore_status(action_result):
            contents = action_result.result.get("Contents") or []
            for item in contents:
                name = urllib.parse.unquote(item["Key"]) if encoded else item["Key"]
                status = _restore_status(self.backend, self.bucket_name, name, in_progress, count_look)
                if status is not None:
                    item["RestoreStatus"] = status
            return serialized(action_result)

        self.serialized = with_restore_status
        return original(self)

    s3_responses.S3Response.list_objects_v2 = list_objects_v2


def _restore_status(backend, bucket: str, name: str, in_progress, count_look):
    """The `RestoreStatus` of the current version of bucket/name, or None."""
    try:
        obj = backend.get_object(bucket, name)
    except Exception:  # noqa: BLE001 - gone since moto listed it: no status
        return None
    if obj is None or getattr(obj, "_expiry", None) is None:
        return None
    count_look(obj)
    if in_progress(obj):
        return {"IsRestoreInProgress": True}
    return {
        "IsRestoreInProgress": False,
        "RestoreExpiryDate": obj._expiry.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
    }


def _empty_truncated(response):
    """A truncated page without keys whose continuation token goes on from the request's
    StartAfter (moto keeps its tokens as the key to list after)."""
    start_after = (response.querystring.get("start-after") or [None])[0] or ""
    token = uuid.uuid4().hex
    response.backend._pagination_tokens[token] = start_after
    max_keys = int((response.querystring.get("max-keys") or ["1000"])[0])
    result = {
        "Name": response.bucket_name,
        "Prefix": "",
        "MaxKeys": max_keys,
        "KeyCount": 0,
        "IsTruncated": True,
        "Contents": [],
        "NextContinuationToken": token,
    }
    encoding = (response.querystring.get("encoding-type") or [None])[0]
    if encoding:
        result["EncodingType"] = encoding
    if start_after:
        result["StartAfter"] = start_after
    response.data["Action"] = "ListObjectsV2"
    return response.serialized(ActionResult(result))
