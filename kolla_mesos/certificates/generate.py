"""``kolla-mesos certificates``: the deployment's CA and certificates, as kolla-ansible makes them.

kolla-ansible's ``certificates`` role (read for its facts, not copied) creates a root CA
(RSA 4096, CN KollaTestCA, CA:TRUE critical, keyCertSign, 1024 days), an external and an
internal HAProxy certificate (RSA 2048, SANs ``DNS:<fqdn>`` unless the FQDN is the address,
and ``IP:<vip>``, 365 days, assembled with their keys into ``haproxy.pem`` and
``haproxy-internal.pem``) and backend certificates (500 days).  Here every host of the
``tls-backend`` group also gets its own certificate and key (``<host>-cert.pem``,
``<host>-key.pem``, SANs its API address and name), which kolla's ``service-cert-copy``
prefers over the shared ``backend-cert.pem``.

Existing files are kept: a second run changes nothing.  ``renew`` issues new keys and
certificates for every server certificate, signed by the existing CA (so clients that trust
``ca/root.crt`` keep trusting); a missing CA is created, and then every certificate is
re-issued because the old ones no longer chain to it.  Keys are written 0600, certificates
0644, each file atomically.  X.509 comes from ``cryptography``.
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import os
import pathlib
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kolla_mesos.certificates import model
from kolla_mesos.certificates.check import first_certificate, load_certificate, load_key
from kolla_mesos.errors import CertificateError
from kolla_mesos.fileio import atomic_write

ROOT_BITS = 4096
SERVER_BITS = 2048
ROOT_DAYS = 1024
FRONTEND_DAYS = 365
BACKEND_DAYS = 500
ROOT_NAME = "KollaTestCA"


@dataclasses.dataclass(frozen=True)
class Written:
    """One file and what happened to it: ``created``, ``renewed`` or ``kept``."""

    name: str
    action: str
    mode: str
    not_after: str


def generate(directory: pathlib.Path, settings: model.TlsSettings, renew: bool = False,
             now: datetime.datetime | None = None) -> list[Written]:
    """Make every missing file SETTINGS needs under DIRECTORY (all server files: RENEW)."""
    now = now or datetime.datetime.now(datetime.UTC)
    out: list[Written] = []
    ca_new = not (directory / model.ROOT_CERT).is_file() or not (
        directory / model.ROOT_KEY).is_file()
    if ca_new:
        ca_key = _new_key(ROOT_BITS)
        ca_cert = _root_certificate(ca_key, now)
        out += [_write(directory, model.ROOT_KEY, _key_pem(ca_key), "created"),
                _write(directory, model.ROOT_CERT, _cert_pem(ca_cert), "created")]
    else:
        ca_key, ca_cert = _load_root(directory)
        out += [_kept(directory, model.ROOT_KEY), _kept(directory, model.ROOT_CERT)]
    ca_pem = _cert_pem(ca_cert)
    if ca_new or not _same(directory / model.ROOT_CA, ca_pem):
        out.append(_write(directory, model.ROOT_CA, ca_pem, "created"))
    else:
        out.append(_kept(directory, model.ROOT_CA))
    reissue = renew or ca_new
    for pem, vip, fqdn in settings.frontends():
        cert_name, key_name = _frontend_parts(pem)
        out += _server(directory, (cert_name, key_name), pem, model.subject_alt_names(vip, fqdn),
                       FRONTEND_DAYS, ca_cert, ca_key, now, reissue)
    if settings.tls_backend:
        everyone = [("IP", addr) for addr in settings.backend_hosts.values()]
        out += _server(directory, (model.BACKEND_CERT, model.BACKEND_KEY), None, everyone,
                       BACKEND_DAYS, ca_cert, ca_key, now, reissue)
        for host, addr in settings.backend_hosts.items():
            out += _server(directory, (model.host_cert(host), model.host_key(host)), None,
                           [("IP", addr), ("DNS", host)], BACKEND_DAYS, ca_cert, ca_key, now,
                           reissue)
    return out


def _frontend_parts(pem: str) -> tuple[str, str]:
    if pem == model.EXTERNAL_PEM:
        return model.EXTERNAL_CERT, model.EXTERNAL_KEY
    return model.INTERNAL_CERT, model.INTERNAL_KEY


def _server(directory: pathlib.Path, parts: tuple[str, str], bundle: str | None,
            sans: Sequence[tuple[str, str]], days: int, ca_cert: x509.Certificate,
            ca_key: rsa.RSAPrivateKey, now: datetime.datetime, reissue: bool) -> list[Written]:
    """A server key and certificate (and, for HAProxy, the PEM with both), unless present."""
    cert_name, key_name = parts
    names = [cert_name, key_name] + ([bundle] if bundle else [])
    if not reissue and all((directory / n).is_file() for n in names):
        return [_kept(directory, n) for n in names]
    action = "renewed" if (directory / cert_name).is_file() else "created"
    key = _new_key(SERVER_BITS)
    cert = _server_certificate(key, sans, days, ca_cert, ca_key, now)
    out = [_write(directory, key_name, _key_pem(key), action),
           _write(directory, cert_name, _cert_pem(cert), action)]
    if bundle:
        # kolla's assemble: <name>.crt then <name>.key
        out.append(_write(directory, bundle, _cert_pem(cert) + _key_pem(key), action))
    return out


def _new_key(bits: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def _root_certificate(key: rsa.RSAPrivateKey, now: datetime.datetime) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ROOT_NAME)])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    return (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=ROOT_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256()))


def _server_certificate(key: rsa.RSAPrivateKey, sans: Sequence[tuple[str, str]], days: int,
                        ca_cert: x509.Certificate, ca_key: rsa.RSAPrivateKey,
                        now: datetime.datetime) -> x509.Certificate:
    subject = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "NC"),
        x509.NameAttribute(NameOID.LOCALITY_NAME, "RTP"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "kolla"),
    ])
    general: list[x509.GeneralName] = []
    for kind, value in sans:
        if kind == "IP":
            general.append(x509.IPAddress(ipaddress.ip_address(value.strip("[]"))))
        else:
            general.append(x509.DNSName(value))
    return (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(general), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                  ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))


def _load_root(directory: pathlib.Path) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = load_key(directory / model.ROOT_KEY)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CertificateError(f"{directory / model.ROOT_KEY} is not an RSA key; move it "
                               "away to create a new CA.")
    return key, load_certificate(directory / model.ROOT_CERT)


def _key_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption()).decode()


def _cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _same(path: pathlib.Path, text: str) -> bool:
    try:
        return path.read_text() == text
    except OSError:
        return False


def _expiry(directory: pathlib.Path, name: str) -> str:
    if model.is_key_file(name) and not name.endswith(".pem"):
        return ""
    cert = first_certificate(directory / name)
    return cert.not_valid_after_utc.strftime("%Y-%m-%d") if cert else ""


def _kept(directory: pathlib.Path, name: str) -> Written:
    mode = f"{os.stat(directory / name).st_mode & 0o777:04o}"
    return Written(name, "kept", mode, _expiry(directory, name))


def _write(directory: pathlib.Path, name: str, text: str, action: str) -> Written:
    """Write one file atomically: keys 0600 in 0700 directories, certificates 0644."""
    path = directory / name
    secret = model.is_key_file(name)
    if name.startswith("private/"):
        (directory / "private").mkdir(parents=True, exist_ok=True, mode=0o700)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700 if "private" in name else 0o755)
    atomic_write(path, text.encode(), 0o600 if secret else 0o644)
    return Written(name, action, "0600" if secret else "0644", _expiry(directory, name))
