"""Summaries of a deployment's state for ``kolla-mesos status`` (reads only)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kolla_mesos.apply.clients import Clients
from kolla_mesos.plan.diff import job_failed, job_succeeded


def job_result(job: Mapping[str, Any] | None) -> str:
    """success | failure | running | fresh | missing for one Chronos job."""
    if job is None:
        return "missing"
    if job_succeeded(job):
        return "success"
    if job_failed(job):
        return "failure"
    return "fresh"


def service_status(clients: Clients) -> list[dict[str, Any]]:
    """One row per service of the current generation."""
    generation = clients.store.current_generation()
    if generation is None:
        return []
    manifest = clients.store.read_manifest(generation)
    group = manifest.get("group", {}).get("id", "")
    apps = clients.apps_in_group(group) if group else {}
    jobs = {j["name"]: j for j in clients.chronos.list_jobs()}
    members = clients.store.members()
    rows = []
    for name, info in sorted(manifest.get("services", {}).items()):
        app = apps.get(info.get("app") or "")
        job_names = list((info.get("jobs") or {}).values())
        results = [job_result(jobs.get(j)) for j in job_names]
        if "failure" in results:
            last = "failure"
        elif results and all(r == "success" for r in results):
            last = "success"
        elif results:
            last = ",".join(sorted(set(results)))
        else:
            last = ""
        rows.append({
            "service": name,
            "kind": "app" if info.get("app") else "job",
            "generation": generation,
            "instances": app.get("instances", 0) if app else (0 if info.get("app") else ""),
            "running": app.get("tasksRunning", 0) if app else "",
            "healthy": app.get("tasksHealthy", 0) if app else "",
            "jobs": len(job_names),
            "last job result": last,
            "members": len(members.get(name, {})),
        })
    return rows
