"""Marathon client: the deployment group, apps, deployments and waiting for health.

Where the ``marathon`` PyPI client (marathon-python 0.13) is used and where it is not:

* used for ``GET /v2/deployments``, ``DELETE /v2/deployments/{id}`` and ``GET /ping``: its
  deployment model parses every key Marathon 1.x sends there and it handles the 202/no-body
  answer of a forced cancel.  It shares our ``requests`` session (auth, connection pool).
* not used for groups and apps: its ``update_group``/``update_app`` return only the JSON body
  and drop the ``Marathon-Deployment-Id`` header; its models (``MarathonApp.from_json``) raise
  TypeError on any key they do not know (``tasksStats``, ``tty``, ``check``, ...), so they cannot
  round-trip our app JSON or newer AppInfo; and its errors are coarse: a 409's
  ``deployments`` list is dropped and a 422 becomes a generic MarathonHttpError.  Those calls
  use plain ``requests`` through :class:`kolla_mesos.clients.http.HttpClient`, which maps
  409/422/404/5xx to typed errors (:mod:`kolla_mesos.clients.marathon_errors`).

Idempotent requests (GET, PUT, DELETE) are retried on connection errors and 5xx under an
overall deadline; POSTs (restart) never are.  A 409 is never retried.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import marathon as marathon_python
from marathon import exceptions as mp_errors

from kolla_mesos import errors
from kolla_mesos.clients import marathon_errors
from kolla_mesos.clients.http import HttpClient, auth_error, body_message, display_url
from kolla_mesos.clients.marathon_events import EventWaker
from kolla_mesos.clients.marathon_progress import (
    AppProgress,
    FailureTracker,
    app_progress,
    deployment_summary,
    gone,
    marathon_timestamp,
    queue_reasons,
)
from kolla_mesos.clients.retry import RetryPolicy

LOG = logging.getLogger(__name__)
#: While the event stream is up, re-read anyway this often (a missed event costs no more).
EVENT_FALLBACK_INTERVAL = 5.0

ProgressCallback = Callable[[dict[str, AppProgress]], None]
APP_EMBED = ["apps.counts", "apps.lastTaskFailure", "apps.deployments"]


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _app_path(app_id: str) -> str:
    return "/" + app_id.strip("/")


class MarathonClient:
    """Thin client of the Marathon v2 API with typed errors and bounded retries."""

    def __init__(self, url: str, timeout: float = 10.0,
                 credentials: tuple[str, str] | None = None, deadline: float = 60.0,
                 poll_interval: float = 0.5) -> None:
        #: the URL for messages (no password)
        self.url = display_url(url.rstrip("/"))
        self.http = HttpClient("Marathon", url, timeout, auth=credentials,
                               retry=RetryPolicy(max_tries=6, deadline=deadline),
                               mapper=marathon_errors.map_error,
                               credentials_hint="[marathon] credentials_file")
        self.poll_interval = poll_interval
        self._mp = marathon_python.MarathonClient(
            url, username=credentials[0] if credentials else None,
            password=credentials[1] if credentials else None, timeout=timeout,
            session=self.http.session)
        self._stop = threading.Event()
        #: set by the event stream (or interrupt) to make a wait re-read at once
        self._changed = threading.Event()

    @property
    def writes(self) -> list[tuple[str, str]]:
        """State-changing requests sent so far (method, path)."""
        return self.http.writes

    def close(self) -> None:
        """Release connections."""
        self.http.close()

    def interrupt(self) -> None:
        """Make a running :meth:`wait_for_deployments` return early (Ctrl-C handling)."""
        self._stop.set()
        self._changed.set()

    # --- marathon-python calls ----------------------------------------------------------

    def _mp_call(self, what: str, func: Callable[[], Any], idempotent: bool = True) -> Any:
        def once() -> Any:
            try:
                return func()
            except mp_errors.MarathonHttpError as exc:
                if exc.status_code in (401, 403):
                    raise auth_error("Marathon", self.url, exc.status_code, what,
                                     self.http.credentials_hint,
                                     body_message(exc.error_message)) from exc
                body = {"message": exc.error_message,
                        "details": getattr(exc, "error_details", None)}
                raise marathon_errors.map_error(exc.status_code, body, what) from exc
            except mp_errors.MarathonError as exc:
                raise errors.ServerError(
                    f"Marathon at {self.url} is unreachable ({what}).") from exc

        if not idempotent:
            return once()
        return self.http.retry.call(once, lambda e: isinstance(e, errors.ServerError),
                                    what=f"Marathon {what}")

    def ping(self) -> bool:
        """True when Marathon answers ``/ping``."""
        try:
            self._mp_call("GET /ping", self._mp.ping, idempotent=False)
        except errors.HttpError:
            return False
        return True

    def list_deployments(self) -> list[dict[str, Any]]:
        """Running deployments: id, affectedApps, currentStep, totalSteps, currentActions."""
        deps = self._mp_call("GET /v2/deployments", self._mp.list_deployments)
        out = []
        for dep in deps:
            actions = [{"action": a.action, "app": a.app} for a in dep.current_actions]
            out.append({"id": dep.id, "version": dep.version,
                        "affectedApps": list(dep.affected_apps or []),
                        "currentStep": dep.current_step, "totalSteps": dep.total_steps,
                        "currentActions": actions})
        return out

    def delete_deployment(self, deployment_id: str, force: bool = False) -> str | None:
        """Cancel a deployment: roll it back (new deployment id) or, with force, just stop."""
        self.http.writes.append(("DELETE", f"/v2/deployments/{deployment_id}"))
        result = self._mp_call(
            f"DELETE /v2/deployments/{deployment_id}",
            lambda: self._mp.delete_deployment(deployment_id, force=force))
        return str(result["deploymentId"]) if result and "deploymentId" in result else None

    # --- groups and apps (plain requests) ------------------------------------------------

    def get_group(self, group_id: str) -> dict[str, Any]:
        """A group with its apps and subgroups (NotFoundError when absent)."""
        body = self.http.get_json(
            f"/v2/groups{_app_path(group_id)}",
            params={"embed": ["group.groups", "group.apps"]})
        return dict(body)

    def put_group(self, group: Mapping[str, Any], force: bool = False) -> str:
        """Create or update a group (structural PUT); return the deployment id."""
        path = f"/v2/groups{_app_path(str(group['id']))}"
        response = self.http.request("PUT", path, params={"force": _bool(force)},
                                     body=dict(group))
        return self._deployment_id(response)

    @staticmethod
    def _deployment_id(response: Any) -> str:
        header = response.headers.get("Marathon-Deployment-Id")
        if header:
            return str(header)
        body = response.json() if response.text else {}
        if isinstance(body, dict) and body.get("deploymentId"):
            return str(body["deploymentId"])
        if isinstance(body, dict) and body.get("deployments"):
            return str(body["deployments"][0]["id"])
        raise errors.ServerError(
            f"Marathon answered {response.request.method} {response.request.path_url} "
            "without a deployment id.", status=response.status_code)

    def get_app(self, app_id: str) -> dict[str, Any]:
        """One app with counts, tasks, lastTaskFailure and deployments."""
        body = self.http.get_json(f"/v2/apps{_app_path(app_id)}")
        return dict(body["app"])

    def list_apps(self, group: str | None = None,
                  embed: Iterable[str] = APP_EMBED) -> list[dict[str, Any]]:
        """Apps, optionally only those under ``group``, with the embedded fields."""
        params: dict[str, Any] = {"embed": list(embed)}
        if group:
            params["id"] = _app_path(group)
        apps = self.http.get_json("/v2/apps", params=params).get("apps", [])
        if group:
            prefix = _app_path(group).rstrip("/") + "/"
            apps = [a for a in apps if str(a.get("id", "")).startswith(prefix)]
        return [dict(a) for a in apps]

    def delete_group(self, group_id: str, force: bool = False) -> str:
        """Stop and remove a group; return the deployment id."""
        response = self.http.request("DELETE", f"/v2/groups{_app_path(group_id)}",
                                     params={"force": _bool(force)})
        return self._deployment_id(response)

    def delete_app(self, app_id: str, force: bool = False) -> str:
        """Stop and remove an app; return the deployment id (force defaults to false here)."""
        response = self.http.request("DELETE", f"/v2/apps{_app_path(app_id)}",
                                     params={"force": _bool(force)})
        return self._deployment_id(response)

    def restart_app(self, app_id: str, force: bool = False) -> str:
        """Rolling restart of an app; return the deployment id (never retried)."""
        response = self.http.request("POST", f"/v2/apps{_app_path(app_id)}/restart",
                                     params={"force": _bool(force)})
        return self._deployment_id(response)

    def scale_apps(self, instances: Mapping[str, int]) -> str:
        """Set the instances of existing apps in one deployment (``PUT /v2/apps`` with
        partial apps: only ``instances`` changes, so Marathon restarts nothing)."""
        body = [{"id": _app_path(app_id), "instances": count}
                for app_id, count in sorted(instances.items())]
        response = self.http.request("PUT", "/v2/apps", params={"partialUpdate": "true"},
                                     body=body)
        return self._deployment_id(response)

    def group_deployments(self, group_id: str) -> list[dict[str, Any]]:
        """Deployments in flight that touch an app of ``group_id``."""
        prefix = _app_path(group_id).rstrip("/") + "/"
        return [d for d in self.list_deployments()
                if any(str(a).startswith(prefix) for a in d["affectedApps"])]

    # --- waiting ---------------------------------------------------------------------------

    def _poll(self, wanted: set[str], watched: set[str],
              ) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]],
                         dict[str, AppProgress]]:
        """One look at the deployments ``wanted`` and the apps: (active deployments, apps by
        id, progress of the watched apps by id).

        The launch queue is read only while a watched app is not ready: it says why
        Marathon cannot place a task (shown with the app's progress).
        """
        active = [d for d in self.list_deployments() if d["id"] in wanted]
        for dep in active:
            watched.update(dep["affectedApps"])
            LOG.debug("Deployment %s: %s", dep["id"], deployment_summary(dep))
        apps = {str(a["id"]): a for a in self.list_apps()} if watched else {}
        progress = {a: app_progress(apps[a]) if a in apps else gone(a) for a in sorted(watched)}
        if any(not p.ready for p in progress.values()):
            reasons = self.queue_reasons()
            progress = {a: app_progress(apps[a], reasons.get(a)) if a in apps else p
                        for a, p in progress.items()}
        return active, apps, progress

    def queue_reasons(self) -> dict[str, str]:
        """App id -> why Marathon's launch queue cannot place its tasks (empty if unknown)."""
        try:
            queue = self.http.get_json("/v2/queue")
        except errors.HttpError as exc:
            LOG.debug("No launch queue: %s", exc)
            return {}
        return queue_reasons(queue) if isinstance(queue, Mapping) else {}

    def wait_for_deployments(self, ids: Iterable[str], deadline: float,
                             progress_callback: ProgressCallback | None = None,
                             app_ids: Iterable[str] = (), max_failures: int = 3,
                             settle: bool = False) -> dict[str, AppProgress]:
        """Wait until the deployments ``ids`` are gone and their apps are healthy.

        With ``settle``, apps that are not healthy once the deployments are gone are waited
        for until the deadline instead of failing at once (a redeploy that changed no app
        while the apps still wait for re-run jobs).

        ``deadline`` is the time allowed, in seconds.  Apps watched are ``app_ids`` plus
        every ``affectedApps`` of the deployments seen.  ``progress_callback`` receives
        app id -> :class:`AppProgress` whenever a count changes.  Raises DeployFailed (app
        id and last task failure) when an app's new version failed ``max_failures`` tasks,
        or when the deployments went away while an app is not healthy; DeadlineExceeded
        when time runs out or :meth:`interrupt` was called.
        """
        wanted = set(ids)
        names = ", ".join(sorted(wanted)) or "(none)"
        watched = {_app_path(a) for a in app_ids}
        tracker = FailureTracker(since=marathon_timestamp())
        end = time.monotonic() + deadline
        last: dict[str, AppProgress] = {}
        # Re-read on every relevant event from /v2/events; poll only while the stream is
        # down (and every few seconds anyway, in case an event was missed).
        waker = self._waker()
        try:
            while True:
                active, apps, progress = self._poll(wanted, watched)
                if progress != last:
                    last = progress
                    if progress_callback:
                        progress_callback(dict(progress))
                for app_id in sorted(set(apps) & watched):
                    if tracker.observe(apps[app_id]) >= max_failures:
                        raise errors.DeployFailed(
                            f"Marathon app {app_id} failed {max_failures} tasks of its new "
                            f"version; last failure: {progress[app_id].last_failure}.")
                bad = [p for p in progress.values() if not p.ready]
                if not active:
                    if not bad:
                        return progress
                    if not settle:  # with settle, the deadline below still bounds the wait
                        raise errors.DeployFailed(
                            f"Marathon deployment {names} ended but app {bad[0].app_id} is "
                            f"not healthy ({bad[0].summary()}); last failure: "
                            f"{bad[0].last_failure or 'none recorded'}.")
                if time.monotonic() >= end:
                    detail = "; ".join(f"{p.app_id} {p.summary()}" + (
                        f" (last failure: {p.last_failure})" if p.last_failure else "")
                        for p in bad) or "no app progress"
                    raise errors.DeadlineExceeded(
                        f"Marathon deployment {names} did not finish within {deadline:g} s: "
                        f"{detail}.")
                self._nap(waker, end)
                if self._stop.is_set():
                    raise errors.WaitInterrupted(
                        f"Waiting for Marathon deployment {names} was interrupted.")
        finally:
            waker.stop()
            self._stop.clear()

    def wait_group_settled(self, group_id: str, deadline: float) -> None:
        """Wait until no Marathon deployment touches ``group_id`` (woken by /v2/events).

        A rollback ends only here: a superseded deployment left in ``/v2/deployments`` would
        lock the group's apps against the next deploy.
        """
        end = time.monotonic() + deadline
        waker = self._waker()
        try:
            while True:
                left = self.group_deployments(group_id)
                if not left:
                    return
                if time.monotonic() >= end:
                    raise errors.DeadlineExceeded(
                        f"Marathon deployment {', '.join(d['id'] for d in left)} of "
                        f"{group_id} did not end within {deadline:g} s.")
                self._nap(waker, end)
        finally:
            waker.stop()

    def _waker(self) -> EventWaker:
        """A started listener on /v2/events that wakes the current wait."""
        self._changed.clear()
        return EventWaker(self.http.base_url, self.http.session.auth, self.http.timeout,
                          self._changed).start()

    def _nap(self, waker: EventWaker, end: float) -> None:
        """Sleep until Marathon reports a change, the fallback interval passes (a missed
        event, or polling while the stream is down), or the deadline ``end``."""
        interval = EVENT_FALLBACK_INTERVAL if waker.connected.is_set() else self.poll_interval
        self._changed.wait(min(interval, max(0.0, end - time.monotonic())))
        self._changed.clear()
