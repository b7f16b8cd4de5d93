"""Masker gaps: JSON keys, multi-host URLs, numeric passwords, short values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kolla_mesos import errors
from kolla_mesos.apply.clients import Clients
from kolla_mesos.secrets import MASK, Masker, secret_values


def test_json_secret_pairs_are_masked_and_the_json_stays_valid():
    definition = {"commands": {"bootstrap": {"command": ["keystone-manage", "bootstrap"],
                                             "env": {"OS_BOOTSTRAP_PASSWORD": 'pw "q" x',
                                                     "OS_BOOTSTRAP_USERNAME": "admin"}}},
                  "user": "keystone"}
    for text in (json.dumps(definition, separators=(",", ":")), json.dumps(definition, indent=2)):
        out = Masker()(text)
        assert json.loads(out)["commands"]["bootstrap"]["env"] == {
            "OS_BOOTSTRAP_PASSWORD": MASK, "OS_BOOTSTRAP_USERNAME": "admin"}
        assert json.loads(out)["user"] == "keystone"


def test_every_password_of_a_multi_host_url_is_masked():
    url = "transport_url = rabbit://openstack:pw1@h1:5672,openstack:pw2@h2:5672//"
    out = Masker()(url.replace("transport_url = ", "url: "))
    assert "pw1" not in out and "pw2" not in out
    assert out.count(MASK) == 2 and "@h1:5672" in out and "@h2:5672//" in out


def test_numeric_passwords_are_masked_by_value():
    values = secret_values({"db_password": 12345678, "enabled": True, "short": 12})
    assert values == ["12345678"]
    assert Masker(values)("connect 127.0.0.1 with 12345678") == f"connect 127.0.0.1 with {MASK}"


def test_values_under_four_characters_are_masked_only_by_their_key():
    masker = Masker(secret_values({"x_password": "abc"}))
    assert masker("x_password = abc") == f"x_password = {MASK}"
    assert masker("tabcd") == "tabcd"


def _clients(config_dir: Path) -> Clients:
    """Clients with no connection: masker() reads only config_dir."""
    return Clients(None, None, None, None, "d", config_dir=str(config_dir))  # type: ignore[arg-type]


def test_a_malformed_passwords_file_is_one_sentence_not_an_unmasked_show(tmp_path: Path):
    (tmp_path / "passwords.yml").write_text("a_password: hunter2-long\nb: [x\nc: s3cr3t-value\n")
    clients = _clients(tmp_path)
    with pytest.raises(errors.PasswordError) as info:
        clients.masker()
    assert "s3cr3t-value" not in str(info.value) and "\n" not in str(info.value)


def test_a_missing_passwords_file_still_masks_by_key(tmp_path: Path):
    clients = _clients(tmp_path)
    assert clients.masker()("password = x") == f"password = {MASK}"


def test_private_key_lines_are_masked_certificates_are_not(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from kolla_mesos.secrets import certificate_key_lines

    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = key.private_bytes(serialization.Encoding.PEM,
                            serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption()).decode()
    cert_line = "MIIDXTCCAkWgAwIBAgIJAKZ" * 2
    bundle = f"-----BEGIN CERTIFICATE-----\n{cert_line}\n-----END CERTIFICATE-----\n{pem}"
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "haproxy.pem").write_text(bundle)
    lines = certificate_key_lines(tmp_path)
    body = [x for x in pem.splitlines() if not x.startswith("-----")]
    assert lines == body
    masked = Masker(lines)(bundle)
    assert cert_line in masked
    assert not any(line in masked for line in body)
    assert certificate_key_lines(tmp_path / "absent") == []


def test_http_basic_credentials_are_masked():
    # HAProxy's RabbitMQ management check (kolla's rabbitmq haproxy dict)
    line = "    http-check send hdr Authorization 'Basic b3BlbnN0YWNrOnNlY3JldC12YWx1ZQ=='"
    masked = Masker([])(line)
    assert masked == f"    http-check send hdr Authorization 'Basic {MASK}'"
