"""The log shipper's deployment file renders kolla-ansible's fluentd.conf (docs/logging.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kolla_mesos.plan.loader import load_plan
from kolla_mesos.plan.model import Plan
from tests.unit.test_deployment_files import _inputs


def _plan(tmp_path: Path, extra: dict[str, Any] | None = None) -> Plan:
    return load_plan(_inputs(tmp_path, "topology.yml", extra), only=["fluentd"])


@pytest.fixture(scope="module")
def default_plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    return _plan(tmp_path_factory.mktemp("fluentd"))


def test_one_shipper_per_agent_reading_kolla_logs_and_sandboxes(default_plan: Plan) -> None:
    svc = default_plan.service("fluentd")
    assert svc.hosts == ("ctl1", "ctl2", "ctl3", "cmp1")  # kolla: fluentd = common = all
    app = svc.app
    assert app is not None and app["instances"] == 4
    volumes = {p["value"] for p in app["container"]["docker"]["parameters"]}
    assert volumes == {"kolla_logs:/var/log/kolla/", "fluentd_data:/var/lib/fluentd/data/",
                       "/var/lib/mesos:/var/lib/mesos:ro"}
    (conf,) = svc.files
    text = conf.content.decode()
    # kolla-ansible's inputs, rendered through the synced templates
    assert "path /var/log/kolla/mariadb/mariadb.log" in text
    assert "/var/log/kolla/keystone/*.log" in text
    # ours: every task's stdout and stderr in the agent's sandboxes
    for stream in ("stdout", "stderr"):
        assert (f"path /var/lib/mesos/slaves/*/frameworks/*/executors/*/runs/latest/{stream}"
                in text)
    # central logging off: nothing is sent anywhere
    assert "@type opensearch" not in text and "@type elasticsearch" not in text


def test_central_logging_sends_to_opensearch(tmp_path: Path) -> None:
    plan = _plan(tmp_path, {"enable_central_logging": True})
    text = plan.service("fluentd").files[0].content.decode()
    assert "@type opensearch" in text
    assert "hosts 10.0.0.11,10.0.0.12,10.0.0.13" in text
