"""Launch weather for thaw's emulator: what ECS and DynamoDB do to a coordinator that moto does not.

Imported by tests/moto_server.py, whose `wrap()` calls `intercept()` for every request; configured
through the same POST /_thaw/config as the other faults (the keys in DEFAULTS). Everything is
deterministic: no randomness, only counts and configured values.

* a Fargate running-task quota: {"ecs_task_quota": n}. A RunTask that would take the account's
  tasks that are not STOPPED (every cluster, as the quota is per account and Region) past n
  starts nothing and answers 200 with a `failures` entry, as ECS does:
  reason "You’ve reached the limit on the number of tasks you can run concurrently" (ECS words
  it with a typographic apostrophe). Stopping tasks frees the quota.
* permanent RunTask refusals, worded as ECS words them (HTTP 400, JSON `__type` + `message`):
  - {"ecs_deny_pass_role": "<role arn>"}: AccessDeniedException, "User: ... is not authorized to
    perform: iam:PassRole on resource: <role> because no identity-based policy allows the
    iam:PassRole action" (moto enforces no IAM; this stands in for a coordinator policy without
    iam:PassRole on the task's roles);
  - always on: a task definition that was deregistered (INACTIVE) answers ClientException
    "TaskDefinition is inactive"; a FARGATE_SPOT strategy on a cluster without that capacity
    provider answers InvalidParameterException "The specified capacity provider strategy cannot
    contain a capacity provider that is not associated with the cluster. ..." (moto starts the
    task in both cases).
* Spot interruptions: a task stopped with the reason AWS gives a reclaimed Spot task ("Your Spot
  Task was interrupted.") is described with `stopCode: SpotInterruption`, as ECS describes it
  (moto has no stopCode at all). Tests stop a task with that reason to stand in for AWS.
* a lost response to a successful claim: {"ddb_lose_claim_responses": n}. The next n conditional
  UpdateItems of a lot's attempt (ConditionExpression starting `attempt = :expected`) are applied,
  then answered 500 InternalServerError as if the response had been lost on the way back; the
  SDK's retry then finds its own write.
"""

import io
import json
import threading

DEFAULTS = {
    "ecs_task_quota": None,
    "ecs_deny_pass_role": None,
    "ddb_lose_claim_responses": 0,
}

QUOTA_REASON = "You\u2019ve reached the limit on the number of tasks you can run concurrently"
SPOT_REASON = "Your Spot Task was interrupted."
NO_PROVIDER = (
    "The specified capacity provider strategy cannot contain a capacity provider that is not "
    "associated with the cluster. Associate the capacity provider with the cluster or specify a "
    "valid capacity provider and try again."
)

_LOCK = threading.Lock()


def _ecs_backends():
    from moto.ecs.models import ecs_backends

    for account in ecs_backends.values():
        for backend in account.values():
            yield backend


def _running_tasks() -> int:
    n = 0
    for backend in _ecs_backends():
        for tasks in backend.tasks.values():
            n += sum(1 for t in tasks.values() if t.last_status != "STOPPED")
    return n


def _cluster(name: str):
    short = (name or "default").split("/")[-1]
    for backend in _ecs_backends():
        if short in backend.clusters:
            return backend, backend.clusters[short]
    return None, None


def _task_definition(backend, name: str):
    try:
        return backend.describe_task_definition(name)
    except Exception:  # noqa: BLE001 - moto answers a missing one itself
        return None


def _json_reply(start_response, status: str, value, content_type="application/x-amz-json-1.1"):
    body = json.dumps(value).encode()
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


def _ecs_error(start_response, code: str, message: str):
    return _json_reply(start_response, "400 Bad Request", {"__type": code, "message": message})


def _read_body(environ) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _refusal(req: dict, config: dict):
    """The permanent refusal ECS gives this RunTask request, as (code, message), or None."""
    role = config.get("ecs_deny_pass_role")
    if role:
        return (
            "AccessDeniedException",
            "User: arn:aws:iam::123456789012:user/thaw-coordinator is not authorized to perform: "
            f"iam:PassRole on resource: {role} because no identity-based policy allows the "
            "iam:PassRole action",
        )
    backend, cluster = _cluster(req.get("cluster", "default"))
    if cluster is None:
        return None
    td = _task_definition(backend, req.get("taskDefinition", ""))
    if td is not None and getattr(td, "status", "ACTIVE") == "INACTIVE":
        return ("ClientException", "TaskDefinition is inactive")
    providers = [p.get("capacityProvider") for p in req.get("capacityProviderStrategy") or []]
    have = list(getattr(cluster, "capacity_providers", None) or [])
    if any(p not in have for p in providers):
        return ("InvalidParameterException", NO_PROVIDER)
    return None


def _run_task(environ, start_response, app, config):
    req = json.loads(_read_body(environ) or b"{}")
    refused = _refusal(req, config)
    if refused:
        return _ecs_error(start_response, *refused)
    quota = config.get("ecs_task_quota")
    if quota is not None:
        with _LOCK:
            if _running_tasks() + int(req.get("count", 1)) > int(quota):
                cluster = (req.get("cluster") or "default").split("/")[-1]
                return _json_reply(
                    start_response,
                    "200 OK",
                    {
                        "tasks": [],
                        "failures": [
                            {
                                "arn": f"arn:aws:ecs:us-east-1:123456789012:cluster/{cluster}",
                                "reason": QUOTA_REASON,
                            }
                        ],
                    },
                )
            return app(environ, start_response)
    return app(environ, start_response)


def _capture(app, environ):
    """Runs `app`, returning (status, headers, body)."""
    seen = {}

    def start(status, headers, exc_info=None):
        seen["status"], seen["headers"] = status, headers

    body = b"".join(app(environ, start))
    return seen["status"], seen["headers"], body


def _describe_tasks(environ, start_response, app):
    status, headers, body = _capture(app, environ)
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        for t in doc.get("tasks", []):
            if t.get("stoppedReason") == SPOT_REASON:
                t["stopCode"] = "SpotInterruption"
        body = json.dumps(doc).encode()
    headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
    headers.append(("Content-Length", str(len(body))))
    start_response(status, headers)
    return [body]


def _lose_claim_response(environ, start_response, app, config, configure):
    req = json.loads(_read_body(environ) or b"{}")
    if not str(req.get("ConditionExpression", "")).startswith("attempt = :expected"):
        return None
    with _LOCK:
        left = int(config.get("ddb_lose_claim_responses") or 0)
        if left <= 0:
            return None
        configure({"ddb_lose_claim_responses": left - 1})
    status, headers, body = _capture(app, environ)
    if not status.startswith("200"):
        start_response(status, headers)  # nothing was applied: nothing to lose
        return [body]
    return _json_reply(
        start_response,
        "500 Internal Server Error",
        {
            "__type": "com.amazonaws.dynamodb.v20120810#InternalServerError",
            "message": "Internal server error",
        },
        "application/x-amz-json-1.0",
    )


def intercept(op: str, environ, start_response, app, config: dict, configure):
    """The answer to this request when launch weather applies to it, else None (moto answers)."""
    if op == "RunTask":
        return _run_task(environ, start_response, app, config)
    if op == "DescribeTasks":
        return _describe_tasks(environ, start_response, app)
    if op == "UpdateItem" and config.get("ddb_lose_claim_responses"):
        return _lose_claim_response(environ, start_response, app, config, configure)
    return None
