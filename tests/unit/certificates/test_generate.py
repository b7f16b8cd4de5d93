"""kolla-mesos certificates: kolla-ansible's files, SANs, chain, modes, keep and renew."""

from __future__ import annotations

import datetime
import ipaddress
import os
import stat

import pytest
from cryptography import x509

from kolla_mesos.certificates import check, generate, model

NOW = datetime.datetime(2026, 12, 3, 12, 0, tzinfo=datetime.UTC)


@pytest.fixture(autouse=True)
def _small_root(monkeypatch):
    # a 4096-bit CA key costs ~1 s per test; the CLI test makes a full-size one
    monkeypatch.setattr(generate, "ROOT_BITS", 2048)


def settings(**kw):
    values = dict(internal_vip="127.0.9.9", external_vip="127.0.9.10",
                  internal_fqdn="127.0.9.9", external_fqdn="api.example.test",
                  tls_internal=True, tls_external=True, tls_backend=True,
                  backend_hosts={"ctl1": "127.0.1.1", "ctl2": "127.0.1.2"})
    values.update(kw)
    return model.TlsSettings(**values)


def sans(path):
    cert = check.load_certificate(path)
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return (sorted(ext.get_values_for_type(x509.DNSName)),
            sorted(str(ip) for ip in ext.get_values_for_type(x509.IPAddress)))


def test_makes_kolla_files_with_sans_chain_and_modes(tmp_path):
    written = generate.generate(tmp_path, settings(), now=NOW)
    assert {w.name for w in written} == {
        "private/root/root.key", "private/root/root.crt", "ca/root.crt",
        "private/external/external.key", "private/external/external.crt", "haproxy.pem",
        "private/internal/internal.key", "private/internal/internal.crt",
        "haproxy-internal.pem", "backend-cert.pem", "backend-key.pem",
        "ctl1-cert.pem", "ctl1-key.pem", "ctl2-cert.pem", "ctl2-key.pem"}
    assert {w.action for w in written} == {"created"}
    for w in written:
        mode = stat.S_IMODE(os.stat(tmp_path / w.name).st_mode)
        secret = w.name.endswith((".key", "-key.pem")) or w.name.startswith("haproxy")
        assert mode == (0o600 if secret else 0o644), (w.name, oct(mode))
        assert w.mode == f"{mode:04o}"
    assert stat.S_IMODE(os.stat(tmp_path / "private").st_mode) == 0o700
    assert sans(tmp_path / "haproxy.pem") == (["api.example.test"], ["127.0.9.10"])
    # the internal FQDN is the address: IP only, as kolla's generate.yml
    assert sans(tmp_path / "haproxy-internal.pem") == ([], ["127.0.9.9"])
    assert sans(tmp_path / "ctl2-cert.pem") == (["ctl2"], ["127.0.1.2"])
    assert sans(tmp_path / "backend-cert.pem") == ([], ["127.0.1.1", "127.0.1.2"])
    ca = check.load_certificate(tmp_path / "ca/root.crt")
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.subject == ca.issuer
    for name in ("haproxy.pem", "haproxy-internal.pem", "ctl1-cert.pem", "backend-cert.pem"):
        cert = check.load_certificate(tmp_path / name)
        cert.verify_directly_issued_by(ca)          # raises when it does not chain
        assert cert.issuer == ca.subject
    assert (tmp_path / "ca/root.crt").read_text() == (
        tmp_path / "private/root/root.crt").read_text()
    check.check_certificates(tmp_path, settings(), now=NOW)


def test_only_what_the_switches_need(tmp_path):
    written = generate.generate(tmp_path, settings(tls_internal=False, tls_backend=False),
                                now=NOW)
    names = {w.name for w in written}
    assert "haproxy.pem" in names and "haproxy-internal.pem" not in names
    assert not any(n.endswith("-cert.pem") for n in names)


def test_one_vip_internal_pem_names_it(tmp_path):
    one = settings(external_vip="127.0.9.9", external_fqdn="127.0.9.9", tls_backend=False)
    generate.generate(tmp_path, one, now=NOW)
    assert sans(tmp_path / "haproxy-internal.pem") == ([], ["127.0.9.9"])
    assert sans(tmp_path / "haproxy.pem") == ([], ["127.0.9.9"])


def test_second_run_keeps_renew_reissues_under_the_same_ca(tmp_path):
    generate.generate(tmp_path, settings(), now=NOW)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    again = generate.generate(tmp_path, settings(), now=NOW)
    assert {w.action for w in again} == {"kept"}
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
    renewed = generate.generate(tmp_path, settings(), renew=True, now=NOW)
    actions = {w.name: w.action for w in renewed}
    assert actions["ca/root.crt"] == actions["private/root/root.key"] == "kept"
    assert actions["haproxy.pem"] == actions["ctl1-key.pem"] == "renewed"
    assert (tmp_path / "ca/root.crt").read_bytes() == before[tmp_path / "ca/root.crt"]
    assert (tmp_path / "haproxy.pem").read_bytes() != before[tmp_path / "haproxy.pem"]
    check.check_certificates(tmp_path, settings(), now=NOW)


def test_a_new_ca_reissues_everything(tmp_path):
    generate.generate(tmp_path, settings(), now=NOW)
    (tmp_path / "private/root/root.key").unlink()
    out = {w.name: w.action for w in generate.generate(tmp_path, settings(), now=NOW)}
    assert out["private/root/root.key"] == "created"
    assert out["haproxy.pem"] == "renewed"
    check.check_certificates(tmp_path, settings(), now=NOW)


def test_ip_sans_are_addresses():
    assert model.subject_alt_names("10.0.0.1", "10.0.0.1") == [("IP", "10.0.0.1")]
    assert model.subject_alt_names("10.0.0.1", "x.test") == [("DNS", "x.test"),
                                                              ("IP", "10.0.0.1")]
    assert ipaddress.ip_address(model.subject_alt_names("fd00::1", "fd00::1")[0][1])
