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
"""

import urllib.parse

from moto.s3 import responses as s3_responses

HEADER = "x-amz-optional-object-attributes"


def install(in_progress, count_look, count):
    """Patches moto's ListObjectsV2: `in_progress(obj)` tells whether an object's restore is
    still running, `count_look(obj)` counts a look at it, `count(names, bucket)` a request."""
    original = s3_responses.S3Response.list_objects_v2

    def list_objects_v2(self):
        if "RestoreStatus" not in (self.headers.get(HEADER) or ""):
            return original(self)
        count(["s3:ListObjectsV2:RestoreStatus"], self.bucket_name)
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
