"""Pure parts of prechecks: versions, capacity, the certificate hook."""

from __future__ import annotations

import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

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


def _cert(path: Path, days: int) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=days)).sign(key, hashes.SHA256()))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def test_certificates_hook(tmp_path: Path) -> None:
    assert prechecks.check_certificates(tmp_path, {}).detail == "TLS is off"
    on = {"kolla_enable_tls_external": "yes"}
    missing = prechecks.check_certificates(tmp_path, on)
    assert not missing.ok and "haproxy.pem does not exist" in missing.detail
    _cert(tmp_path / "certificates" / "haproxy.pem", 10)
    soon = prechecks.check_certificates(tmp_path, on)
    assert not soon.ok and "expires in" in soon.detail
    _cert(tmp_path / "certificates" / "haproxy.pem", 90)
    assert prechecks.check_certificates(tmp_path, on).ok
