"""Checks of the certificates a deployment needs, before anything is written.

A deploy with TLS refuses (one sentence, exit 3) a missing file (naming it and the command
that makes it), a PEM without its certificate or key, a key that does not match its
certificate, a certificate that has expired or is not yet valid, one that does not chain to
``ca/root.crt``, and a frontend certificate that does not name its VIP.  ``expiring`` lists
the certificates that expire within a number of days (``kolla-mesos status`` warns at 30).
No message ever contains key material: only file names, dates and names.
"""

from __future__ import annotations

import datetime
import ipaddress
import pathlib
import re

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from kolla_mesos.certificates import model
from kolla_mesos.errors import CertificateError

_CERT_BLOCK = re.compile(
    r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)
_KEY_BLOCK = re.compile(
    r"-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----.+?"
    r"-----END (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----", re.S)
RENEW = "kolla-mesos certificates --renew"
MAKE = "kolla-mesos certificates"


def _text(path: pathlib.Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        raise CertificateError(f"{path} does not exist; create it with '{MAKE}'.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CertificateError(f"{path} cannot be read ({exc.__class__.__name__}).") from None


def load_certificate(path: pathlib.Path) -> x509.Certificate:
    """The first certificate of a PEM file (error naming the file if it has none)."""
    cert = first_certificate(path)
    if cert is None:
        raise CertificateError(f"{path} holds no PEM certificate; make it with '{RENEW}'.")
    return cert


def first_certificate(path: pathlib.Path) -> x509.Certificate | None:
    """The first certificate of a PEM file, or None."""
    match = _CERT_BLOCK.search(_text(path))
    if not match:
        return None
    try:
        return x509.load_pem_x509_certificate(match.group(0).encode())
    except ValueError:
        raise CertificateError(f"{path} holds a certificate that cannot be parsed; make it "
                               f"with '{RENEW}'.") from None


def load_key(path: pathlib.Path) -> PrivateKeyTypes:
    """The private key of a PEM file (error naming the file, never its content)."""
    match = _KEY_BLOCK.search(_text(path))
    if not match:
        raise CertificateError(f"{path} holds no PEM private key; make it with '{RENEW}'.")
    try:
        return serialization.load_pem_private_key(match.group(0).encode(), password=None)
    except (ValueError, TypeError):
        raise CertificateError(f"{path} holds a private key that cannot be read (encrypted "
                               f"or damaged); make it with '{RENEW}'.") from None


def _public_der(key: object) -> bytes:
    public = key.public_key()  # type: ignore[attr-defined]
    data: bytes = public.public_bytes(serialization.Encoding.DER,
                                      serialization.PublicFormat.SubjectPublicKeyInfo)
    return data


def check_pair(cert_path: pathlib.Path, key_path: pathlib.Path, ca: x509.Certificate | None,
               now: datetime.datetime, address: str | None = None) -> x509.Certificate:
    """One certificate and its key: matching, valid now, issued by CA, naming ADDRESS."""
    cert = load_certificate(cert_path)
    key = load_key(key_path)
    where = str(cert_path) if cert_path == key_path else f"{cert_path} and {key_path}"
    if _public_der(cert) != _public_der(key):
        raise CertificateError(f"The key does not match the certificate in {where}; make a "
                               f"new pair with '{RENEW}'.")
    if cert.not_valid_after_utc <= now:
        raise CertificateError(f"{cert_path} expired on "
                               f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC; renew it with "
                               f"'{RENEW}'.")
    if cert.not_valid_before_utc > now:
        raise CertificateError(f"{cert_path} is not valid before "
                               f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC (check this "
                               "machine's clock).")
    if ca is not None:
        try:
            cert.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature):
            raise CertificateError(f"{cert_path} is not issued by the deployment's CA "
                                   f"({model.ROOT_CA}); re-issue it with '{RENEW}'.") from None
    if address is not None and address not in ip_sans(cert):
        raise CertificateError(f"{cert_path} does not name {address} (its addresses: "
                               f"{', '.join(ip_sans(cert)) or 'none'}); re-issue it with "
                               f"'{RENEW}'.")
    return cert


def ip_sans(cert: x509.Certificate) -> list[str]:
    """The IP addresses among a certificate's subject alternative names."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return [str(ip) for ip in ext.value.get_values_for_type(x509.IPAddress)]


def check_certificates(directory: pathlib.Path, settings: model.TlsSettings,
                       now: datetime.datetime | None = None) -> None:
    """Every file SETTINGS need exists, matches, is valid now and names its address."""
    if not settings.any_tls:
        return
    now = now or datetime.datetime.now(datetime.UTC)
    for name in settings.required_files():
        if not (directory / name).is_file():
            raise CertificateError(f"TLS is enabled but {directory / name} does not exist; "
                                   f"create it with '{MAKE}'.")
    ca = check_pair(directory / model.ROOT_CA, directory / model.ROOT_KEY, None, now) \
        if (directory / model.ROOT_KEY).is_file() else load_certificate(directory / model.ROOT_CA)
    for pem, vip, _fqdn in settings.frontends():
        check_pair(directory / pem, directory / pem, ca, now, _ip(vip))
    if settings.tls_backend:
        for host, addr in settings.backend_hosts.items():
            check_pair(directory / model.host_cert(host), directory / model.host_key(host), ca,
                       now, _ip(addr))


def expiring(directory: pathlib.Path, settings: model.TlsSettings, days: int = 30,
             now: datetime.datetime | None = None) -> list[str]:
    """One sentence per certificate SETTINGS need that expires within DAYS (or has)."""
    now = now or datetime.datetime.now(datetime.UTC)
    out = []
    for name in settings.required_files():
        if model.is_key_file(name) and name.endswith("-key.pem"):
            continue
        path = directory / name
        try:
            cert = first_certificate(path)
        except CertificateError:
            continue
        if cert is None:
            continue
        left = cert.not_valid_after_utc - now
        if left <= datetime.timedelta(days=days):
            when = "expired" if left.total_seconds() <= 0 else "expires"
            out.append(f"{path} {when} on {cert.not_valid_after_utc:%Y-%m-%d} "
                       f"({max(left.days, 0)} day(s) left); renew it with '{RENEW}' and "
                       "deploy (a reload picks it up).")
    return out


def _ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip("[]")))
    except ValueError:
        return None
