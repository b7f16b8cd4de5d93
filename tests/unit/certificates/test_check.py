"""Certificate checks before a deploy: one sentence naming the file, never key material."""

from __future__ import annotations

import datetime
import shutil

import pytest

from kolla_mesos import errors
from kolla_mesos.certificates import check, generate, model
from tests.unit.certificates.test_generate import NOW, settings


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """One set of files for the module (key generation dominates the time)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(generate, "ROOT_BITS", 2048)
        directory = tmp_path_factory.mktemp("made")
        generate.generate(directory, settings(), now=NOW)
        foreign = tmp_path_factory.mktemp("foreign")
        generate.generate(foreign, settings(tls_internal=False, tls_backend=False), now=NOW)
    return directory, foreign


@pytest.fixture
def certs(made, tmp_path):
    shutil.copytree(made[0], tmp_path / "certificates")
    return tmp_path / "certificates"


def refused(directory, tls=None, now=NOW):
    with pytest.raises(errors.CertificateError) as info:
        check.check_certificates(directory, tls or settings(), now=now)
    message = str(info.value)
    assert info.value.exit_code == errors.ExitCode.CONFIG
    assert "PRIVATE KEY" not in message and "BEGIN" not in message
    assert message.count(". ") == 0 and message.endswith("."), message  # one sentence
    return message


def test_nothing_needed_without_tls(tmp_path):
    check.check_certificates(tmp_path / "absent", settings(
        tls_internal=False, tls_external=False, tls_backend=False), now=NOW)


def test_missing_file_names_it_and_the_command(certs):
    (certs / "haproxy-internal.pem").unlink()
    message = refused(certs)
    assert str(certs / "haproxy-internal.pem") in message
    assert "'kolla-mesos certificates'" in message


def test_key_not_matching(certs):
    other = (certs / "ctl2-key.pem").read_text()
    (certs / "ctl1-key.pem").write_text(other)
    message = refused(certs)
    assert "does not match" in message and "ctl1-cert.pem" in message
    assert "--renew" in message


def test_expired(certs):
    later = NOW + datetime.timedelta(days=400)
    message = refused(certs, now=later)
    assert "haproxy.pem expired on 2027-12-03" in message


def test_not_from_the_ca(certs, made):
    shutil.copy(made[1] / "haproxy.pem", certs / "haproxy.pem")
    assert "not issued by the deployment's CA" in refused(certs)


def test_vip_changed(certs):
    message = refused(certs, settings(external_vip="127.0.9.11"))
    assert "does not name 127.0.9.11" in message and "127.0.9.10" in message


def test_pem_without_key(certs):
    pem = certs / "haproxy.pem"
    text = pem.read_text()
    pem.write_text(text[:text.index("-----BEGIN RSA PRIVATE KEY")])
    assert "holds no PEM private key" in refused(certs)


def test_expiring_within_30_days(certs):
    assert check.expiring(certs, settings(), 30, now=NOW) == []
    soon = NOW + datetime.timedelta(days=350)
    warnings = check.expiring(certs, settings(), 30, now=soon)
    names = sorted(w.split(" ")[0].rsplit("/", 1)[-1] for w in warnings)
    assert names == sorted([model.EXTERNAL_PEM, model.INTERNAL_PEM])
    assert all("15 day(s) left" in w and "--renew" in w for w in warnings)
