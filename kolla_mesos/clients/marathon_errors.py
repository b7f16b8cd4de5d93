"""Marathon error bodies -> typed kolla-mesos errors (pure).

Bodies per Marathon 1.x (``api/MarathonExceptionMapper.scala``; reference marathon.md section 4):

* 409 locked: ``{"message": "App is locked by one or more deployments. ...",
  "deployments": [{"id": "<uuid>"}]}`` -> :class:`ConflictError` with the deployment ids;
* 422 (400 before 1.6): ``{"message": "Object is not valid" | "Invalid JSON",
  "details": [{"path": "/x", "errors": ["..."]}]}`` -> :class:`InvalidDefinitionError` with
  (field path, message) pairs; a 400 ``details`` may also be a plain string;
* 404: ``{"message": "App '/x' does not exist"}`` -> :class:`NotFoundError`;
* 5xx (and 503 timeouts) -> :class:`ServerError` (retried by the transport).
"""

from __future__ import annotations

import re
from typing import Any

from kolla_mesos import errors
from kolla_mesos.clients.http import body_message

_DEPLOYMENT_URL = re.compile(r"/v2/deployments/([0-9a-fA-F-]{8,})")


def details_of(body: Any) -> list[tuple[str, str]]:
    """(field path, message) pairs of a Marathon validation error body."""
    if not isinstance(body, dict):
        return []
    details = body.get("details")
    if isinstance(details, str):
        return [("/", details)]
    out: list[tuple[str, str]] = []
    for item in details or []:
        if not isinstance(item, dict):
            continue
        path = str(item.get("path") or "/")
        errs = item.get("errors")
        if isinstance(errs, list):
            out.extend((path, str(e)) for e in errs)
        elif errs:
            out.append((path, str(errs)))
    return out


def deployment_ids_of(body: Any) -> list[str]:
    """Deployment ids named by a 409 body (list, or the message's /v2/deployments URL)."""
    ids: list[str] = []
    if isinstance(body, dict):
        for dep in body.get("deployments") or []:
            if isinstance(dep, dict) and dep.get("id"):
                ids.append(str(dep["id"]))
    if not ids:
        ids = _DEPLOYMENT_URL.findall(body_message(body))
    return ids


def map_error(status: int, body: Any, what: str) -> errors.HttpError:
    """The typed error for a Marathon error answer to ``what`` (e.g. ``PUT /v2/groups/x``)."""
    message = body_message(body)
    raw = str(body)[:2000]
    if status == 409:
        ids = deployment_ids_of(body)
        suffix = f" (deployments in progress: {', '.join(ids)})" if ids else ""
        return errors.ConflictError(
            f"Marathon refused {what}: {message or 'conflict'}{suffix}", ids, body=raw)
    if status in (400, 422) and (details := details_of(body)):
        listed = "; ".join(f"{path}: {msg}" for path, msg in details)
        return errors.InvalidDefinitionError(
            f"Marathon rejected {what}: {message or 'invalid definition'}: {listed}",
            details, status=status)
    if status == 404:
        return errors.NotFoundError(f"Marathon: {message or 'not found'} ({what}).",
                                    status=404, body=raw)
    if status >= 500:
        return errors.ServerError(
            f"Marathon answered HTTP {status} to {what}: {message or 'server error'}",
            status=status, body=raw)
    if status == 422:
        return errors.InvalidDefinitionError(
            f"Marathon rejected {what}: {message or 'invalid definition'}", [], status=422)
    return errors.HttpError(f"Marathon answered HTTP {status} to {what}: {message}".rstrip(": "),
                            status=status, body=raw)
