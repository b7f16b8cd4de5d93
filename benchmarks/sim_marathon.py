"""Benchmark of the simulated Marathon: N apps with one trivial task each.

Measures, in one run and against a baseline taken in the same run:

* time until every app's task is healthy (HTTP health check on ``python -m http.server``),
  per app, versus the time one app alone takes;
* ``GET /v2/apps`` latency with N apps versus with 1 app (median and p95 of repeated calls).

Usage: ``.venv/bin/python benchmarks/sim_marathon.py [--apps 200] [--samples 50]``.
Prints one JSON document with the measurements and the ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from typing import Any

import requests
from mesos_sim.marathon.service import MarathonService
from mesos_sim.simulator import Simulator

CMD = "exec python3 -m http.server --bind $HOST $PORT0"
TIMEOUT = 600.0


def app_body(app_id: str) -> dict[str, Any]:
    return {"id": app_id, "cmd": CMD, "cpus": 0.01, "mem": 16, "instances": 1,
            "healthChecks": [{"protocol": "HTTP", "path": "/", "intervalSeconds": 1,
                              "timeoutSeconds": 5, "gracePeriodSeconds": 60,
                              "maxConsecutiveFailures": 0}]}


class HealthyCounter:
    """Counts apps whose task turned healthy (from the in-process event bus)."""

    def __init__(self) -> None:
        self.healthy: set[str] = set()
        self.cond = threading.Condition()

    def __call__(self, event: dict[str, Any]) -> None:
        if event["eventType"] == "health_status_changed_event" and event["alive"]:
            with self.cond:
                self.healthy.add(event["appId"])
                self.cond.notify_all()

    def wait(self, count: int) -> None:
        deadline = time.monotonic() + TIMEOUT
        with self.cond:
            while len(self.healthy) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SystemExit(f"only {len(self.healthy)}/{count} apps became healthy")
                self.cond.wait(left)


def deploy_and_wait(url: str, counter: HealthyCounter, prefix: str, count: int,
                    session: requests.Session) -> dict[str, float]:
    start = time.perf_counter()
    for index in range(count):
        response = session.post(f"{url}/v2/apps", json=app_body(f"/{prefix}/app-{index:03d}"),
                                timeout=30)
        response.raise_for_status()
    submitted = time.perf_counter()
    counter.wait(count)
    healthy = time.perf_counter()
    return {"submit_seconds": submitted - start, "healthy_seconds": healthy - start,
            "healthy_seconds_per_app": (healthy - start) / count}


def get_apps_latency(url: str, samples: int, session: requests.Session) -> dict[str, float]:
    timings = []
    for _ in range(samples):
        start = time.perf_counter()
        response = session.get(f"{url}/v2/apps", timeout=30)
        response.raise_for_status()
        timings.append(time.perf_counter() - start)
    timings.sort()
    return {"median_ms": statistics.median(timings) * 1000,
            "p95_ms": timings[int(len(timings) * 0.95) - 1] * 1000,
            "apps": len(response.json()["apps"])}


def run(apps: int, samples: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="sim-bench-") as state:
        sim = Simulator(state)
        sim.start()
        try:
            service = sim.marathon
            assert isinstance(service, MarathonService)
            counter = HealthyCounter()
            service.events.listen(counter)
            session = requests.Session()
            url = sim.marathon_url
            baseline = deploy_and_wait(url, counter, "single", 1, session)
            baseline_latency = get_apps_latency(url, samples, session)
            sim.reset()
            counter.healthy.clear()
            many = deploy_and_wait(url, counter, "many", apps, session)
            many_latency = get_apps_latency(url, samples, session)
        finally:
            sim.stop()
    return {
        "apps": apps,
        "baseline_1_app": {**baseline, "get_v2_apps": baseline_latency},
        f"with_{apps}_apps": {**many, "get_v2_apps": many_latency},
        "ratios": {
            "get_v2_apps_median_latency_N_vs_1": many_latency["median_ms"]
            / baseline_latency["median_ms"],
            "time_to_healthy_per_app_N_vs_1": many["healthy_seconds_per_app"]
            / baseline["healthy_seconds_per_app"],
            "time_to_all_healthy_N_vs_1": many["healthy_seconds"] / baseline["healthy_seconds"],
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=200)
    parser.add_argument("--samples", type=int, default=50)
    args = parser.parse_args()
    print(json.dumps(run(args.apps, args.samples), indent=2))


if __name__ == "__main__":
    main()
