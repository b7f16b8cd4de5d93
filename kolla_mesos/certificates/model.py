"""What TLS needs: the settings that decide it and kolla-ansible's certificate file names.

Pure data, no I/O.  The file names are those of kolla-ansible's ``certificates`` role and
``service-cert-copy`` role (relative to ``kolla_certificates_dir``, which is
``<config_dir>/certificates`` here), so an operator's kolla-ansible certificate directory
works unchanged and the other way round.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping

#: kolla_certificates_dir relative to the operator's config dir (kolla: node_config).
DIRECTORY = "certificates"

ROOT_CA = "ca/root.crt"                      # the CA bundle services and clients trust
ROOT_CERT = "private/root/root.crt"
ROOT_KEY = "private/root/root.key"
EXTERNAL_CERT = "private/external/external.crt"
EXTERNAL_KEY = "private/external/external.key"
EXTERNAL_PEM = "haproxy.pem"                 # kolla_external_fqdn_cert: certificate + key
INTERNAL_CERT = "private/internal/internal.crt"
INTERNAL_KEY = "private/internal/internal.key"
INTERNAL_PEM = "haproxy-internal.pem"        # kolla_internal_fqdn_cert: certificate + key
BACKEND_CERT = "backend-cert.pem"            # kolla_tls_backend_cert (every backend host)
BACKEND_KEY = "backend-key.pem"              # kolla_tls_backend_key


def host_cert(host: str) -> str:
    """A host's own backend certificate (service-cert-copy looks for it first)."""
    return f"{host}-cert.pem"


def host_key(host: str) -> str:
    """A host's own backend key."""
    return f"{host}-key.pem"


def is_key_file(name: str) -> bool:
    """Whether a file holds a private key (written 0600, never shown)."""
    return name.endswith((".key", "-key.pem")) or name in (EXTERNAL_PEM, INTERNAL_PEM)


@dataclasses.dataclass(frozen=True)
class TlsSettings:
    """The variables that decide which certificates a deployment needs (kolla's names)."""

    internal_vip: str                      # kolla_internal_vip_address
    external_vip: str                      # kolla_external_vip_address
    internal_fqdn: str                     # kolla_internal_fqdn
    external_fqdn: str                     # kolla_external_fqdn
    tls_internal: bool                     # kolla_enable_tls_internal
    tls_external: bool                     # kolla_enable_tls_external
    tls_backend: bool                      # kolla_enable_tls_backend
    backend_hosts: Mapping[str, str]       # tls-backend group: host -> api address

    @property
    def same_vip(self) -> bool:
        """kolla_same_external_internal_vip: one address serves both endpoints."""
        return _address(self.internal_vip) == _address(self.external_vip)

    @property
    def any_tls(self) -> bool:
        """Whether any endpoint (and so the CA bundle) is needed."""
        return self.tls_internal or self.tls_external or self.tls_backend

    def frontends(self) -> list[tuple[str, str, str]]:
        """The HAProxy certificates to make: (PEM file, VIP, FQDN), as kolla's generate.yml.

        The external one when external TLS is on; the internal one when internal TLS is on
        and the VIPs differ (with one VIP, haproxy-internal.pem is a copy of haproxy.pem).
        """
        out = []
        if self.tls_external:
            out.append((EXTERNAL_PEM, self.external_vip, self.external_fqdn))
        if self.tls_internal:
            if self.same_vip and self.tls_external:
                out.append((INTERNAL_PEM, self.external_vip, self.external_fqdn))
            else:
                out.append((INTERNAL_PEM, self.internal_vip, self.internal_fqdn))
        return out

    def required_files(self) -> list[str]:
        """Every file the deployment reads, in the order a check should name them."""
        out = [ROOT_CA] if self.any_tls else []
        out += [pem for pem, _vip, _fqdn in self.frontends()]
        if self.tls_backend:
            for host in self.backend_hosts:
                out += [host_cert(host), host_key(host)]
        return out


def subject_alt_names(vip: str, fqdn: str) -> list[tuple[str, str]]:
    """kolla's SANs of a frontend certificate: DNS:<fqdn> (when not the address), IP:<vip>."""
    sans = [] if fqdn == vip or _is_ip(fqdn) else [("DNS", fqdn)]
    return [*sans, ("IP", _address(vip))]


def _address(value: str) -> str:
    try:
        return str(ipaddress.ip_interface(value.strip("[]")).ip)
    except ValueError:
        return value


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        return False
    return True
