"""Jinja2 filters and tests that kolla-ansible templates use, without importing Ansible.

Each function reproduces the behaviour of the Ansible core filter or the kolla-ansible
filter plugin of the same name (written from their documented behaviour); the parity tests
compare our output with ansible-core's.  Filters that need the template context (the host
being rendered, ``hostvars``) take it as first argument (``pass_context``).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import itertools
import json
import ntpath
import posixpath
import random
import re
import shlex
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import yaml
from jinja2 import pass_context, pass_environment
from jinja2.runtime import Context, Undefined

from kolla_mesos.errors import TemplateError

_TRUE = {"yes", "on", "true", "1"}
_FALSE = {"no", "off", "false", "0"}


class FilterError(TemplateError):
    """A filter was used with a value it cannot handle."""


def to_bool(value: Any) -> bool:
    """Ansible's ``bool``: yes/on/true/1 and no/off/false/0 (any case), else ``== 1``."""
    check: Any = value.lower() if isinstance(value, str) else (
        str(value).lower() if isinstance(value, int) else value)
    try:
        if check in _TRUE:
            return True
        if check in _FALSE:
            return False
        return bool(check == 1)
    except TypeError:
        return False


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def to_json(value: Any, **kw: Any) -> str:
    """``to_json``: json.dumps with Ansible's defaults."""
    return json.dumps(value, **kw)


def to_nice_json(value: Any, indent: int = 4, sort_keys: bool = True, **kw: Any) -> str:
    """``to_nice_json``: indented, sorted JSON."""
    kw.pop("separators", None)
    return json.dumps(value, indent=indent, sort_keys=sort_keys, separators=(",", ": "), **kw)


def to_yaml(value: Any, *_a: Any, default_flow_style: bool | None = None, **kw: Any) -> str:
    """``to_yaml``."""
    out: str = yaml.safe_dump(value, allow_unicode=True,
                              default_flow_style=default_flow_style, **kw)
    return out


def to_nice_yaml(value: Any, indent: int = 4, *_a: Any, **kw: Any) -> str:
    """``to_nice_yaml``."""
    kw.setdefault("default_flow_style", False)
    return to_yaml(value, indent=indent, **kw)


def from_json(value: str) -> Any:
    """``from_json``."""
    return json.loads(value)


def from_yaml(value: Any) -> Any:
    """``from_yaml``."""
    return yaml.safe_load(value) if isinstance(value, str) else value


def ternary(value: Any, true_val: Any, false_val: Any, none_val: Any = None) -> Any:
    """``ternary``."""
    if value is None and none_val is not None:
        return none_val
    return true_val if value else false_val


def _merge(a: dict[Any, Any], b: Mapping[Any, Any], recursive: bool,
           list_merge: str) -> dict[Any, Any]:
    out = dict(a)
    for k, v in b.items():
        old = out.get(k)
        if recursive and isinstance(old, Mapping) and isinstance(v, Mapping):
            out[k] = _merge(dict(old), v, recursive, list_merge)
        elif isinstance(old, list) and isinstance(v, list) and list_merge != "replace":
            if list_merge == "keep":
                continue
            if list_merge in ("append", "append_rp"):
                out[k] = old + ([x for x in v if x not in old] if list_merge == "append_rp"
                                else v)
            else:
                out[k] = v + ([x for x in old if x not in v] if list_merge == "prepend_rp"
                              else old)
        else:
            out[k] = v
    return out


def combine(*terms: Any, recursive: bool = False, list_merge: str = "replace") -> Any:
    """``combine``: merge dicts left to right (``recursive``, ``list_merge``)."""
    dicts = flatten(list(terms), levels=1)
    if len(dicts) == 1:
        return dicts[0]
    out: dict[Any, Any] = {}
    for d in dicts:
        out = _merge(out, d, recursive, list_merge)
    return out


def dict2items(value: Mapping[Any, Any], key_name: str = "key",
               value_name: str = "value") -> list[dict[str, Any]]:
    """``dict2items``."""
    if not isinstance(value, Mapping):
        raise FilterError(f"dict2items requires a dictionary, got {type(value).__name__}.")
    return [{key_name: k, value_name: v} for k, v in value.items()]


def items2dict(value: Iterable[Mapping[str, Any]], key_name: str = "key",
               value_name: str = "value") -> dict[Any, Any]:
    """``items2dict``."""
    return {item[key_name]: item[value_name] for item in value}


def flatten(value: Any, levels: int | None = None, skip_nulls: bool = True) -> list[Any]:
    """``flatten``: flatten nested lists (``levels`` deep), dropping None."""
    out: list[Any] = []
    for item in value:
        if skip_nulls and item in (None, "None", "null"):
            continue
        if isinstance(item, list | tuple) and (levels is None or levels > 0):
            out.extend(flatten(item, None if levels is None else levels - 1, skip_nulls))
        else:
            out.append(item)
    return out


def unique(value: Iterable[Any], *_a: Any, **_k: Any) -> list[Any]:
    """``unique``: first occurrences, order kept."""
    out: list[Any] = []
    for x in value:
        if x not in out:
            out.append(x)
    return out


def union(a: Iterable[Any], b: Iterable[Any]) -> list[Any]:
    """``union``."""
    return unique(list(a) + list(b))


def intersect(a: Iterable[Any], b: Iterable[Any]) -> list[Any]:
    """``intersect``."""
    bl = list(b)
    return unique(x for x in a if x in bl)


def difference(a: Iterable[Any], b: Iterable[Any]) -> list[Any]:
    """``difference``."""
    bl = list(b)
    return unique(x for x in a if x not in bl)


def symmetric_difference(a: Iterable[Any], b: Iterable[Any]) -> list[Any]:
    """``symmetric_difference``."""
    al, bl = list(a), list(b)
    return unique([x for x in al if x not in bl] + [x for x in bl if x not in al])


def zip_lists(*lists: Iterable[Any]) -> list[tuple[Any, ...]]:
    """``zip``: a list of tuples (Ansible returns a list, not an iterator)."""
    return list(zip(*lists, strict=False))


def zip_longest(*lists: Iterable[Any], fillvalue: Any = None) -> list[tuple[Any, ...]]:
    """``zip_longest``."""
    return list(itertools.zip_longest(*lists, fillvalue=fillvalue))


def regex_replace(value: Any = "", pattern: str = "", replacement: str = "",
                  ignorecase: bool = False, multiline: bool = False, count: int = 0) -> str:
    """``regex_replace``."""
    flags = (re.I if ignorecase else 0) | (re.M if multiline else 0)
    return re.sub(pattern, replacement, _text(value), count=count, flags=flags)


def regex_search(value: Any, regex: str, *groups: str, ignorecase: bool = False,
                 multiline: bool = False) -> Any:
    """``regex_search`` (whole match, or the listed ``\\N``/``\\g<name>`` groups)."""
    flags = (re.I if ignorecase else 0) | (re.M if multiline else 0)
    m = re.search(regex, _text(value), flags)
    if m is None:
        return None
    if not groups:
        return m.group(0)
    out = []
    for g in groups:
        name = g[3:-1] if g.startswith("\\g<") else g[1:]
        out.append(m.group(int(name) if name.isdigit() else name))
    return out


def regex_findall(value: Any, regex: str, multiline: bool = False,
                  ignorecase: bool = False) -> list[Any]:
    """``regex_findall``."""
    flags = (re.I if ignorecase else 0) | (re.M if multiline else 0)
    return re.findall(regex, _text(value), flags)


def b64encode(value: Any, encoding: str = "utf-8") -> str:
    """``b64encode``."""
    return base64.b64encode(_text(value).encode(encoding)).decode(encoding)


def b64decode(value: Any, encoding: str = "utf-8") -> str:
    """``b64decode``."""
    return base64.b64decode(_text(value).encode(encoding)).decode(encoding)


def get_hash(value: Any, hashtype: str = "sha1") -> str:
    """``hash``."""
    return hashlib.new(hashtype, _text(value).encode("utf-8")).hexdigest()


def quote(value: Any) -> str:
    """``quote``: shell-quote."""
    return shlex.quote(_text(value))


def basename(value: Any) -> str:
    """``basename``."""
    return posixpath.basename(_text(value))


def dirname(value: Any) -> str:
    """``dirname``."""
    return posixpath.dirname(_text(value))


def win_basename(value: Any) -> str:
    """``win_basename``."""
    return ntpath.basename(_text(value))


def mandatory(value: Any, msg: str | None = None) -> Any:
    """``mandatory``: fail on an undefined value."""
    if isinstance(value, Undefined):
        name = getattr(value, "_undefined_name", None)
        raise FilterError(msg or f"Mandatory variable {name!r} not defined.")
    return value


@pass_environment
def rand(env: Any, end: Any, start: int | None = None, step: int | None = None,
         seed: Any = None) -> Any:
    """``random``: only with ``seed`` (rendering must be deterministic)."""
    if seed is None:
        raise FilterError("the random filter needs a seed: rendering must be deterministic.")
    r = random.Random(seed)
    if isinstance(end, int):
        return r.randrange(start or 0, end, step or 1)
    return r.choice(list(end))


def ipaddr(value: Any, query: str = "") -> Any:
    """A small ``ansible.utils.ipaddr``: validate, or return the ``address`` part."""
    text = _text(value)
    try:
        iface = ipaddress.ip_interface(text)
    except ValueError:
        return False
    if query == "":
        return text
    if query == "address":
        net = iface.network
        if net.num_addresses == 1 or iface.ip != net.network_address:
            return str(iface.ip)
        return False
    raise FilterError(f"ipaddr query '{query}' is not supported.")


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


def _version_key(v: Any) -> list[Any]:
    return [int(p) if p.isdigit() else p for p in re.split(r"[.\-+]", _text(v))]


def version_compare(value: Any, version: Any, operator: str = "eq", strict: bool = False,
                    version_type: str | None = None) -> bool:
    """Ansible's ``version`` test (loose comparison)."""
    a, b = _version_key(value), _version_key(version)
    ops: dict[str, Callable[[Any, Any], bool]] = {
        "lt": lambda x, y: x < y, "<": lambda x, y: x < y,
        "le": lambda x, y: x <= y, "<=": lambda x, y: x <= y,
        "gt": lambda x, y: x > y, ">": lambda x, y: x > y,
        "ge": lambda x, y: x >= y, ">=": lambda x, y: x >= y,
        "eq": lambda x, y: x == y, "==": lambda x, y: x == y, "=": lambda x, y: x == y,
        "ne": lambda x, y: x != y, "!=": lambda x, y: x != y, "<>": lambda x, y: x != y,
    }
    if operator not in ops:
        raise FilterError(f"version test: unknown operator '{operator}'.")
    try:
        return ops[operator](a, b)
    except TypeError:
        return ops[operator](str(value), str(version))


def _regex_test(value: Any, pattern: str, ignorecase: bool = False, multiline: bool = False,
                match_type: str = "search") -> bool:
    flags = (re.I if ignorecase else 0) | (re.M if multiline else 0)
    fn = {"search": re.search, "match": re.match, "fullmatch": re.fullmatch}[match_type]
    return fn(pattern, _text(value), flags) is not None


FILTERS: dict[str, Callable[..., Any]] = {
    "bool": to_bool, "to_json": to_json, "to_nice_json": to_nice_json, "to_yaml": to_yaml,
    "to_nice_yaml": to_nice_yaml, "from_json": from_json, "from_yaml": from_yaml,
    "ternary": ternary, "combine": combine, "dict2items": dict2items,
    "items2dict": items2dict, "flatten": flatten, "unique": unique, "union": union,
    "intersect": intersect, "difference": difference,
    "symmetric_difference": symmetric_difference, "regex_replace": regex_replace,
    "regex_search": regex_search, "regex_findall": regex_findall, "b64encode": b64encode,
    "b64decode": b64decode, "hash": get_hash, "quote": quote, "basename": basename,
    "dirname": dirname, "win_basename": win_basename, "mandatory": mandatory,
    "random": rand, "ipaddr": ipaddr, "kolla_address": kolla_address,
    "kolla_url": kolla_url, "put_address_in_context": put_address_in_context,
    "service_enabled": service_enabled, "service_mapped_to_host": service_mapped_to_host,
    "service_enabled_and_mapped_to_host": service_enabled_and_mapped_to_host,
    "select_services_enabled_and_mapped_to_host": select_services_enabled_and_mapped_to_host,
    "extract_haproxy_services": extract_haproxy_services,
    "database_shards_info": database_shards_info, "version_compare": version_compare,
    "zip": zip_lists, "zip_longest": zip_longest,
}

TESTS: dict[str, Callable[..., Any]] = {
    "version": version_compare, "version_compare": version_compare,
    "match": lambda v, p, **k: _regex_test(v, p, match_type="match", **k),
    "search": lambda v, p, **k: _regex_test(v, p, **k),
    "regex": _regex_test,
    "truthy": lambda v, convert_bool=False: to_bool(v) if convert_bool else bool(v),
    "falsy": lambda v, convert_bool=False: not (to_bool(v) if convert_bool else bool(v)),
    "subset": lambda a, b: set(a) <= set(b), "superset": lambda a, b: set(a) >= set(b),
    "contains": lambda seq, v: v in seq, "any": any, "all": all,
}


def all_filters() -> dict[str, Callable[..., Any]]:
    """Our filters under their short and fully qualified (``ansible.builtin.x``) names."""
    out = dict(FILTERS)
    for name, fn in FILTERS.items():
        out[f"ansible.builtin.{name}"] = fn
    out["ansible.utils.ipaddr"] = ipaddr
    out["ansible.netcommon.ipaddr"] = ipaddr
    return out


def all_tests() -> dict[str, Callable[..., Any]]:
    """Our tests under their short and ``ansible.builtin.`` names."""
    out = dict(TESTS)
    out.update({f"ansible.builtin.{k}": v for k, v in TESTS.items()})
    return out
