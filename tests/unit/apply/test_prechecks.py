"""Pure parts of prechecks: versions, capacity, the certificate hook."""

from __future__ import annotations

import datetime
from pathlib import Path

from kolla_mesos.apply import prechecks
from kolla_mesos.plan import capacity


def test_versions() -> None:
    assert prechecks.version_check("marathon", "1.10.26", (1, 5, 0)).ok
    old = prechecks.version_check("marathon", "1.4.12", (1, 5, 0))
    assert not old.ok and "older than 1.5.0" in old.detail


def test_shortfall() -> None:
    needs = capacity.Needs(cpus=0.2, mem=192, ports={5000}, largest_job=(0.1, 128))
    assert capacity.shortfall(needs, {"cpus": 1, "mem": 1024, "ports": "[4000-6000]"}) == []
    assert capacity.shortfall(needs, {"cpus": 0.25, "mem": 300, "ports": "[31000-32000]"}) == [
        "0.3 cpus needed, 0.25 offered", "320 MB needed, 300 MB offered",
        "ports 5000 not in [31000-32000]"]


def test_certificates_hook(tmp_path: Path) -> None:
    from kolla_mesos.certificates import generate, model

    off = model.TlsSettings("10.0.0.9", "10.0.0.9", "10.0.0.9", "10.0.0.9", False, False,
                            False, {})
    assert prechecks.check_certificates(tmp_path, off).detail == "TLS is off"
    on = model.TlsSettings("10.0.0.9", "10.0.0.9", "10.0.0.9", "10.0.0.9", False, True,
                           False, {})
    missing = prechecks.check_certificates(tmp_path, on)
    assert not missing.ok and "ca/root.crt does not exist" in missing.detail
    made = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=350)
    generate.generate(tmp_path, on, now=made)
    soon = prechecks.check_certificates(tmp_path, on)
    assert not soon.ok and "haproxy.pem expires on" in soon.detail, soon.detail
    generate.generate(tmp_path, on, renew=True)
    fine = prechecks.check_certificates(tmp_path, on)
    assert fine.ok, fine.detail
