"""TLS inputs through the real CLI: refused before anything is written, expiry warnings."""

from __future__ import annotations

import datetime

import pytest

from kolla_mesos.certificates import generate, model
from tests.functional.deploy_helpers import make_env

pytestmark = pytest.mark.timeout(300)

VIP = "127.0.9.9"
TLS_VARS = ["-e", "kolla_enable_tls_external=yes", "-e", f"kolla_internal_vip_address={VIP}",
            "-e", f"kolla_external_vip_address={VIP}", "-e", f"kolla_internal_fqdn={VIP}",
            "-e", f"kolla_external_fqdn={VIP}"]
SETTINGS = model.TlsSettings(VIP, VIP, VIP, VIP, False, True, False, {})


@pytest.fixture
def env(tmp_path, zk_server, zk_root, sim):
    return make_env(tmp_path, zk_server.hosts, zk_root, sim.urls())


def one_line(proc):
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def test_missing_certificate_refused_before_anything_is_written(env, zk_admin):
    proc = env.run(*TLS_VARS, "deploy", "--no-progress")
    assert proc.returncode == 3, proc.stderr
    assert one_line(proc) == (f"TLS is enabled but {env.etc}/certificates/ca/root.crt does "
                              "not exist; create it with 'kolla-mesos certificates'.")
    assert zk_admin.exists(env.zk_root) is None, "a refused deploy must not write"


def test_mismatched_key_and_expired_certificate_refused(env, zk_admin):
    certs = env.etc / "certificates"
    generate.generate(certs, SETTINGS)
    pem = certs / model.EXTERNAL_PEM
    good = pem.read_text()
    other_key = (certs / model.EXTERNAL_KEY).read_text()
    generate.generate(certs, SETTINGS, renew=True)       # a new key under the same CA
    pem.write_text(good[:good.index("-----BEGIN RSA PRIVATE KEY")] +
                   (certs / model.EXTERNAL_KEY).read_text())
    assert other_key not in pem.read_text()
    proc = env.run(*TLS_VARS, "plan")
    assert proc.returncode == 3
    line = one_line(proc)
    assert line.startswith(f"The key does not match the certificate in {pem}")
    assert "PRIVATE" not in proc.stdout + proc.stderr

    long_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=400)
    generate.generate(certs, SETTINGS, renew=True, now=long_ago)
    proc = env.run(*TLS_VARS, "deploy", "--no-progress")
    assert proc.returncode == 3
    assert f"{pem} expired on" in one_line(proc)
    assert zk_admin.exists(env.zk_root) is None


def test_status_warns_about_certificates_expiring_within_30_days(env):
    certs = env.etc / "certificates"
    soon = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=345)
    generate.generate(certs, SETTINGS, now=soon)
    proc = env.run(*TLS_VARS, "status", "-f", "json")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [f"warning: {certs / model.EXTERNAL_PEM} expires on "
                        f"{(soon + datetime.timedelta(days=365)):%Y-%m-%d} (19 day(s) left); "
                        "renew it with 'kolla-mesos certificates --renew' and deploy (a "
                        "reload picks it up)."], proc.stderr
    generate.generate(certs, SETTINGS, renew=True)
    fresh = env.run(*TLS_VARS, "status")
    assert fresh.returncode == 0 and "warning" not in fresh.stderr
