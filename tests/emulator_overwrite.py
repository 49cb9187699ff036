"""An object overwritten between a listing and its restore (imported by moto_server.py).

{"overwrite_before_restore": {"bucket": B, "key": K, "from_key": F}}: the next RestoreObject of
B/K first replaces B/K with a STANDARD copy of B/F, then goes to moto, which refuses it as S3
does (403 InvalidObjectState: the object is not archived). One-shot. The tests use it for a
restore decided from a listing that meets an object changed since that listing.
"""

import threading

# (bucket, key) -> from_key, waiting for the object's next RestoreObject
_PENDING: dict = {}
_LOCK = threading.Lock()
_HOOKS: dict = {}


def install(object_of, backend_of):
    """The wrapper's request -> (bucket, key) and bucket -> moto backend functions."""
    _HOOKS["object_of"] = object_of
    _HOOKS["backend_of"] = backend_of


def configure(update: dict):
    """Takes an `overwrite_before_restore` setting from a /_thaw/config update."""
    o = update.get("overwrite_before_restore")
    if o:
        with _LOCK:
            _PENDING[(o["bucket"], o["key"])] = o["from_key"]


def intercept(environ, op: str):
    """Overwrites the object of a configured RestoreObject; always None (moto answers)."""
    if op != "s3:RestoreObject":
        return None
    bucket, key = _HOOKS["object_of"](environ)
    with _LOCK:
        from_key = _PENDING.pop((bucket, key), None)
    backend = _HOOKS["backend_of"](bucket) if from_key is not None else None
    if backend is not None:
        source = backend.get_object(bucket, from_key)
        backend.put_object(bucket, key, source.value, storage="STANDARD")
    return None
