"""kolla-ansible's Jinja2 filters, reimplemented without importing kolla-ansible or Ansible.

``kolla_address``, ``kolla_url``, ``put_address_in_context``, the service selection filters
and ``database_shards_info`` behave as kolla-ansible's filter plugins do (written from their
documented behaviour; the parity tests compare the rendered files with ansible-core running
kolla-ansible's real plugins).  Filters that need the template context (the host being
rendered, ``hostvars``, ``group_names``) take it as first argument (``pass_context``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context, Undefined

from kolla_mesos.render.filters import FilterError, to_bool


def put_address_in_context(address: str, context: str) -> str:
    """kolla-ansible's ``put_address_in_context``: bracket IPv6 for url/memcache/rabbitmq."""
    if context not in ("url", "memcache", "rabbitmq"):
        raise FilterError(f"Unknown context '{context}' for put_address_in_context.")
    if ":" not in address and context != "rabbitmq":
        return address
    if context == "url":
        return f"[{address}]"
    if context == "memcache":
        return f"inet6:[{address}]"
    ip = ipaddress.ip_address(address)
    if ip.version == 6:
        return ",".join(f"16#{int(x, 16):x}" for x in ip.exploded.split(":"))
    return address.replace(".", ",")


def kolla_url(fqdn: str, protocol: str, port: Any, path: str = "",
              context: str = "url") -> str:
    """kolla-ansible's ``kolla_url``: omit the default port of the protocol."""
    host = put_address_in_context(fqdn, context)
    port = int(port)
    if (protocol, port) in (("http", 80), ("https", 443), ("ws", 80), ("wss", 443)):
        return f"{protocol}://{host}{path}"
    return f"{protocol}://{host}:{port}{path}"


def _hostvars(context: Context) -> Any:
    hv = context.get("hostvars")
    if hv is None or isinstance(hv, Undefined):
        raise FilterError("'hostvars' variable is unavailable.")
    return hv


@pass_context
def kolla_address(context: Context, network_name: str, hostname: str | None = None,
                  override_var: str | None = None) -> str:
    """kolla-ansible's ``kolla_address``: the host's address on a network (``api``...)."""
    if hostname is None:
        hostname = context.get("inventory_hostname")
    host = _hostvars(context).get(hostname)
    if host is None or isinstance(host, Undefined):
        raise FilterError(f"'{hostname}' not in 'hostvars'.")
    if override_var is not None and override_var in host:
        try:
            return format(ipaddress.ip_address(host[override_var]))
        except ValueError as exc:
            raise FilterError(f"variable '{override_var}' for host '{hostname}' is not a "
                              "valid IPv4 or IPv6 address.") from exc
    iface = host.get(network_name + "_interface")
    if iface is None:
        raise FilterError(f"Interface name undefined for network '{network_name}' "
                          f"(set '{network_name}_interface').")
    family = host.get(network_name + "_address_family")
    if family is None or str(family).lower() not in ("ipv4", "ipv6"):
        raise FilterError(f"Address family for network '{network_name}' must be ipv4 or "
                          f"ipv6 (set '{network_name}_address_family').")
    family = str(family).lower()
    entry = host["ansible_facts"].get(iface.replace("-", "_"))
    if entry is None:
        raise FilterError(f"Interface '{iface}' not present on host '{hostname}'.")
    af = entry.get(family)
    if af is None:
        raise FilterError(f"Address family '{family}' undefined on interface '{iface}' for "
                          f"host '{hostname}'.")
    address: Any
    if family == "ipv4":
        address = af.get("address")
        if address and ipaddress.ip_address(address).is_loopback:
            for sec in entry.get("ipv4_secondaries", []):
                if not ipaddress.ip_address(sec["address"]).is_loopback:
                    address = sec["address"]
                    break
    else:
        vips = []
        if to_bool(host.get("enable_haproxy")):
            vips = [host.get("kolla_internal_vip_address"),
                    host.get("kolla_external_vip_address")]
        glob = [x["address"] for x in af if x["scope"] == "global" and x["address"] not in vips]
        address = glob[0] if glob else None
    if address is None:
        raise FilterError(f"{family} address missing on interface '{iface}' for host "
                          f"'{hostname}'.")
    return str(address)


@pass_context
def service_enabled(context: Context, service: Mapping[str, Any]) -> bool:
    """kolla-ansible's ``service_enabled``."""
    if service.get("enabled") is None:
        raise FilterError(f"Service definition for '{service.get('container_name')}' does "
                          "not have an 'enabled' attribute.")
    return to_bool(service["enabled"])


@pass_context
def service_mapped_to_host(context: Context, service: Mapping[str, Any]) -> bool:
    """kolla-ansible's ``service_mapped_to_host``: ``host_in_groups`` or ``group``."""
    if service.get("host_in_groups") is not None:
        return to_bool(service["host_in_groups"])
    group = service.get("group")
    if group is not None:
        return bool(group in context.get("group_names") or group == "all")
    raise FilterError(f"Service definition for '{service.get('container_name')}' does not "
                      "have a 'group' or 'host_in_groups' attribute.")


@pass_context
def service_enabled_and_mapped_to_host(context: Context, service: Mapping[str, Any]) -> bool:
    """kolla-ansible's ``service_enabled_and_mapped_to_host``."""
    return bool(service_enabled(context, service) and service_mapped_to_host(context, service))


@pass_context
def select_services_enabled_and_mapped_to_host(
        context: Context, services: Mapping[str, Any]) -> dict[str, Any]:
    """kolla-ansible's ``select_services_enabled_and_mapped_to_host``."""
    return {name: svc for name, svc in services.items()
            if service_enabled_and_mapped_to_host(context, svc)}


@pass_context
def extract_haproxy_services(context: Context, services: Mapping[str, Any]) -> dict[str, Any]:
    """kolla-ansible's ``extract_haproxy_services``."""
    out: dict[str, Any] = {}
    for svc in services.values():
        if service_enabled(context, svc) and svc.get("haproxy"):
            if set(out) & set(svc["haproxy"]):
                raise FilterError("haproxy service names should be unique.")
            out.update(svc["haproxy"])
    return out


@pass_context
def database_shards_info(context: Context, hostnames: Iterable[str]) -> dict[str, Any]:
    """kolla-ansible's ``database_shards_info``: shards and their root/backup users."""
    hostvars = _hostvars(context)
    info: dict[str, Any] = {"shards": {}, "users": []}
    for name in hostnames:
        host = hostvars[name]
        shard = str(host["mariadb_shard_id"])
        if shard in info["shards"]:
            info["shards"][shard]["hosts"].append(name)
            continue
        info["shards"][shard] = {"hosts": [name]}
        info["users"].append({"password": host["database_password"], "shard_id": shard,
                              "user": f"{host['mariadb_shard_root_user_prefix']}{shard}"})
        if to_bool(host["enable_mariabackup"]):
            info["users"].append({
                "password": host.get("mariadb_backup_database_password"), "shard_id": shard,
                "user": f"{host['mariadb_shard_backup_user_prefix']}{shard}"})
    return info


KOLLA_FILTERS: dict[str, Callable[..., Any]] = {
    "kolla_address": kolla_address, "kolla_url": kolla_url,
    "put_address_in_context": put_address_in_context,
    "service_enabled": service_enabled, "service_mapped_to_host": service_mapped_to_host,
    "service_enabled_and_mapped_to_host": service_enabled_and_mapped_to_host,
    "select_services_enabled_and_mapped_to_host": select_services_enabled_and_mapped_to_host,
    "extract_haproxy_services": extract_haproxy_services,
    "database_shards_info": database_shards_info,
}
