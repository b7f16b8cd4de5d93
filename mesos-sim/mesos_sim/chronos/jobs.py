"""Chronos job JSON: parsing with Chronos's validation, ISO8601 schedules, serialization.

Pure functions; the service in :mod:`mesos_sim.chronos.service` stores and runs the jobs.
Behaviour follows Chronos 3.0.x (``JobDeserializer``/``JobSerializer``, ``Iso8601JobResource``)
for the ``/v1/scheduler`` prefix and 2.5 for ``/scheduler`` (``legacy=True``).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from mesos_sim.http import HttpProblem

SCHEDULE_RE = re.compile(r"(R[0-9]*)/(.*)/(P.*)")
PERIOD_RE = re.compile(r"P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
                       r"(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?")
NAME_RE = re.compile(r"[\w.-]+", re.ASCII)
LEGACY_NAME_RE = re.compile(r"[\w\s.#_-]+", re.ASCII)
EPOCH = dt.datetime(1970, 1, 1, 0, 0, 1, tzinfo=dt.UTC)
DEFAULT_CPUS, DEFAULT_MEM, DEFAULT_DISK = 0.1, 128.0, 256.0

#: Serializer key order (C3); ``parents`` or ``schedule, scheduleTimeZone`` follow.
FIELDS = ("name", "command", "shell", "executor", "executorFlags", "taskInfoData", "retries",
          "owner", "ownerName", "description", "successCount", "errorCount", "lastSuccess",
          "lastError", "cpus", "disk", "mem", "disabled", "softError",
          "dataProcessingJobType", "errorsSinceLastSuccess", "fetch", "uris",
          "environmentVariables", "arguments", "highPriority", "runAsUser", "concurrent",
          "maxCompletionTime", "container", "constraints")
DEFAULTS: dict[str, Any] = {
    "command": "", "shell": True, "executor": "", "executorFlags": "", "taskInfoData": "",
    "retries": 2, "owner": "", "ownerName": "", "description": "", "successCount": 0,
    "errorCount": 0, "lastSuccess": "", "lastError": "", "cpus": DEFAULT_CPUS,
    "disk": DEFAULT_DISK, "mem": DEFAULT_MEM, "disabled": False, "softError": False,
    "dataProcessingJobType": False, "errorsSinceLastSuccess": 0, "fetch": [], "uris": [],
    "environmentVariables": [], "arguments": [], "highPriority": False, "runAsUser": "root",
    "concurrent": False, "maxCompletionTime": 0, "container": None, "constraints": [],
}


def server_error() -> HttpProblem:
    """What Jetty answers when the deserializer throws: 500 with its HTML page."""
    return HttpProblem(500, b"<html><body><h2>HTTP ERROR 500</h2><p>Problem accessing the "
                       b"request. Reason:<pre>    Server Error</pre></p></body></html>",
                       headers={"Content-Type": "text/html;charset=ISO-8859-1"})


def bad_request(message: str, legacy: bool, java: bool = True, status: int = 400) -> HttpProblem:
    """Chronos's error body: C3 ``ApiResult`` JSON, C2 plain text."""
    if legacy:
        return HttpProblem(status, f"requirement failed: {message}" if java else "")
    reason = "Bad Request" if status == 400 else "Internal Server Error"
    prefix = "java.lang.IllegalArgumentException: requirement failed: " if java else ""
    if status == 500 and java:
        prefix = "java.lang.Exception: "
    return HttpProblem(status, {"message": prefix + message, "status": reason})


def format_time(moment: dt.datetime) -> str:
    """Joda's ``DateTime.toString`` in UTC, e.g. ``2017-03-01T12:00:05.123Z``."""
    moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_time(text: str) -> dt.datetime | None:
    """An ISO 8601 date-time (UTC when it has no zone), or None."""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def period_seconds(text: str) -> float | None:
    """An ISO 8601 period in seconds (months 30 days, years 365 days), or None."""
    match = PERIOD_RE.fullmatch(text)
    if match is None or text in ("P", "PT") or text.endswith("T"):
        return None
    y, mo, w, d, h, mi, s = (float(g) if g else 0.0 for g in match.groups())
    return (((y * 365 + mo * 30 + w * 7 + d) * 24 + h) * 60 + mi) * 60 + s


def parse_schedule(text: str, now: dt.datetime) -> tuple[int, dt.datetime, float] | None:
    """``R[n]/<start>/<period>`` -> (repetitions, -1 = forever; start; period secs), or None."""
    match = SCHEDULE_RE.fullmatch(text)
    if match is None:
        return None
    reps_text, start_text, period_text = match.groups()
    repetitions = int(reps_text[1:]) if len(reps_text) > 1 else -1
    start = now - dt.timedelta(seconds=1) if start_text == "" else parse_time(start_text)
    period = period_seconds(period_text)
    if start is None or period is None:
        return None
    return repetitions, start, period


def format_schedule(repetitions: int, start: dt.datetime, period: str) -> str:
    """The inverse of :func:`parse_schedule` (period kept as its original text)."""
    reps = "R" if repetitions < 0 else f"R{repetitions}"
    return f"{reps}/{format_time(start)}/{period}"


def _number(value: Any, default: float) -> float:
    if value is None:
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise server_error() from None
    return number if number > 0 else default


def parse_job(body: Any, *, dependent: bool, legacy: bool, now: dt.datetime) -> dict[str, Any]:
    """A posted job with defaults filled in, as Chronos's deserializer builds it.

    Raises :class:`HttpProblem` for what the deserializer rejects (500 HTML page).
    """
    if not isinstance(body, dict) or not isinstance(body.get("name"), str):
        raise server_error()
    if legacy and "command" not in body:
        raise server_error()
    job: dict[str, Any] = {"name": body["name"]}
    for key in FIELDS[1:]:
        job[key] = body.get(key, DEFAULTS[key]) if body.get(key) is not None else DEFAULTS[key]
    for key, default in (("cpus", DEFAULT_CPUS), ("mem", DEFAULT_MEM), ("disk", DEFAULT_DISK)):
        job[key] = _number(body.get(key), default)
    for key in ("retries", "successCount", "errorCount", "errorsSinceLastSuccess",
                "maxCompletionTime"):
        try:
            job[key] = int(job[key])
        except (TypeError, ValueError):
            raise server_error() from None
    for env in job["environmentVariables"]:
        if not isinstance(env, dict) or env.get("name") is None or env.get("value") is None:
            raise server_error()
    job["container"] = _container(body.get("container"))
    job["constraints"] = [list(c) for c in job["constraints"]
                          if isinstance(c, list) and len(c) >= 2
                          and str(c[1]).upper() in ("EQUALS", "LIKE", "UNLIKE")]
    if "parents" in body:
        parents = body["parents"]
        job["parents"] = sorted({str(p) for p in parents}) if isinstance(parents, list) else []
    elif "schedule" in body and body["schedule"] is not None:
        job["schedule"] = str(body["schedule"])
        job["scheduleTimeZone"] = str(body.get("scheduleTimeZone") or "")
    else:
        job["schedule"] = ("R1//PT24H" if legacy else f"R1/{format_time(now)}/PT24H")
        job["scheduleTimeZone"] = ""
    if legacy:
        job["async"] = bool(body.get("async", False))
        job["epsilon"] = str(body.get("epsilon") or "PT60S")
    return job


def _container(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict) or not value.get("image"):
        return None
    kind = str(value.get("type", "DOCKER")).upper()
    network = str(value.get("network", "HOST"))
    if kind not in ("DOCKER", "MESOS") or network not in ("HOST", "BRIDGE", "USER"):
        raise server_error()
    volumes = []
    for volume in value.get("volumes") or []:
        if not isinstance(volume, dict) or not volume.get("containerPath"):
            raise server_error()
        mode = str(volume.get("mode", "RW")).upper()
        if mode not in ("RW", "RO"):
            raise server_error()
        volumes.append({**volume, "mode": mode})
    return {"type": kind, "image": value["image"], "network": network,
            "networkInfos": value.get("networkInfos") or [], "volumes": volumes,
            "forcePullImage": str(value.get("forcePullImage", False)).lower() == "true",
            "parameters": value.get("parameters") or []}


def validate_new(job: dict[str, Any], *, legacy: bool, now: dt.datetime) -> None:
    """The checks Chronos runs on a job it does not know yet (name, schedule, uris/fetch)."""
    pattern = LEGACY_NAME_RE if legacy else NAME_RE
    if not pattern.fullmatch(job["name"]):
        raise bad_request("the job's name is invalid. Allowed names: '([\\w\\.-]+)'", legacy)
    validate_schedule(job, legacy=legacy, now=now)
    if job["uris"] and job["fetch"]:
        raise bad_request(f"Tried to add both uri (deprecated) and fetch parameters on "
                          f"{job['name']}", legacy, java=False)


def validate_schedule(job: dict[str, Any], *, legacy: bool, now: dt.datetime) -> None:
    """400 ``Cannot parse schedule '...' (wtf bro)`` and the before-1970 check."""
    if "schedule" not in job:
        return
    parsed = parse_schedule(job["schedule"], now)
    if parsed is None:
        raise bad_request(f"Cannot parse schedule '{job['schedule']}' (wtf bro)", legacy,
                          java=False)
    if parsed[1] < EPOCH and not legacy:
        raise bad_request(f"Scheduled start date '{format_time(parsed[1])}' is before 1970!",
                          legacy, java=False)


def serialize(job: dict[str, Any], *, cross_fill: bool, legacy: bool) -> dict[str, Any]:
    """The job as ``GET /jobs`` shows it (serializer key order)."""
    out: dict[str, Any] = {}
    for key in FIELDS:
        if key == "container" and job.get("container") is None:
            continue
        if legacy and key in ("concurrent", "maxCompletionTime"):
            continue
        out[key] = job.get(key, DEFAULTS.get(key))
    if cross_fill:
        if out["uris"] and not out["fetch"]:
            out["fetch"] = [{"uri": u, "executable": False, "cache": False, "extract": True}
                            for u in out["uris"]]
        elif out["fetch"] and not out["uris"]:
            out["uris"] = [f["uri"] for f in out["fetch"] if isinstance(f, dict)]
    if legacy:
        out["epsilon"] = job.get("epsilon", "PT60S")
        out["async"] = job.get("async", False)
    if "parents" in job:
        out["parents"] = list(job["parents"])
    else:
        out["schedule"] = job["schedule"]
        out["scheduleTimeZone"] = job.get("scheduleTimeZone", "")
    return out


def last_status(job: dict[str, Any]) -> str:
    """``fresh``, ``success`` or ``failure`` (``Exporter.getLastState``)."""
    success, error = job.get("lastSuccess") or "", job.get("lastError") or ""
    if not success and not error:
        return "fresh"
    if success and (not error or success > error):
        return "success"
    return "failure"
