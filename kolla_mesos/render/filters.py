"""Ansible's Jinja2 filters and tests that kolla-ansible templates use, without Ansible.

Each function reproduces the behaviour of the Ansible core filter of the same name (written
from its documented behaviour); the parity tests compare our output with ansible-core's.
kolla-ansible's own filters are in :mod:`kolla_mesos.render.kolla_filters`.
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
from jinja2 import pass_environment
from jinja2.runtime import Undefined

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
    "random": rand, "ipaddr": ipaddr, "version_compare": version_compare,
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
    """Ansible's filters under their short and fully qualified (``ansible.builtin.x``)
    names, plus kolla-ansible's (:mod:`kolla_mesos.render.kolla_filters`)."""
    from kolla_mesos.render.kolla_filters import KOLLA_FILTERS

    out = dict(FILTERS)
    for name, fn in FILTERS.items():
        out[f"ansible.builtin.{name}"] = fn
    out.update(KOLLA_FILTERS)
    out["ansible.utils.ipaddr"] = ipaddr
    out["ansible.netcommon.ipaddr"] = ipaddr
    return out


def all_tests() -> dict[str, Callable[..., Any]]:
    """Our tests under their short and ``ansible.builtin.`` names."""
    out = dict(TESTS)
    out.update({f"ansible.builtin.{k}": v for k, v in TESTS.items()})
    return out
