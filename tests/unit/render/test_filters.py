"""Filters and tests of the rendering environment (Ansible/kolla-ansible behaviours)."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest

from kolla_mesos.errors import TemplateError
from kolla_mesos.render import filters, kolla_filters
from kolla_mesos.render.jinja_env import KollaEnvironment


def render(src: str, **variables: Any) -> Any:
    return KollaEnvironment().render_native(src, "<test>", variables)


@pytest.mark.parametrize("value,expected", [
    ("yes", True), ("On", True), ("TRUE", True), ("1", True), (1, True), (True, True),
    ("no", False), ("off", False), ("False", False), ("0", False), (0, False), (None, False),
    ("maybe", False), (2, False),
])
def test_bool(value: Any, expected: bool) -> None:
    assert filters.to_bool(value) is expected


def test_native_results_and_concat() -> None:
    assert render("{{ [1, 2] }}") == [1, 2]
    assert render("{{ x }}", x={"a": 1}) == {"a": 1}
    assert render("a{{ none }}b") == "ab"
    assert render("{{ 'x' if false }}y") == "y"
    assert render("line\n\n") == "line\n\n"
    assert render("{% if true %}\nx\n{% endif %}\n") == "x\n"
    assert render("#jinja2: trim_blocks: False\n{% if true %}\nx\n{% endif %}\n") == "\nx\n"


def test_ansible_filters() -> None:
    assert render("{{ {'b': 1, 'a': [1]} | to_nice_json }}") == \
        '{\n    "a": [\n        1\n    ],\n    "b": 1\n}'
    assert render("{{ {'a': 1} | to_json }}") == '{"a": 1}'
    assert render("{{ {'a': {'x': 1}} | combine({'a': {'y': 2}}, recursive=True) }}") == \
        {"a": {"x": 1, "y": 2}}
    assert render("{{ {'a': 1} | combine({'a': 2}) }}") == {"a": 2}
    assert render("{{ {'a': 1} | dict2items }}") == [{"key": "a", "value": 1}]
    assert render("{{ [{'key': 'a', 'value': 1}] | items2dict }}") == {"a": 1}
    assert render("{{ [1, [2, [3, None]]] | flatten }}") == [1, 2, 3]
    assert render("{{ [1, [2, [3]]] | flatten(levels=1) }}") == [1, 2, [3]]
    assert render("{{ [3, 1, 3] | unique }}") == [3, 1]
    assert render("{{ [1, 2] | union([2, 3]) }}") == [1, 2, 3]
    assert render("{{ [1, 2, 3] | difference([2]) }}") == [1, 3]
    assert render("{{ [1, 2, 3] | intersect([3, 2, 9]) }}") == [2, 3]
    assert render("{{ 'a-b-c' | regex_replace('-', '_') }}") == "a_b_c"
    assert render("{{ 'v1.2' | regex_search('[0-9.]+') }}") == "1.2"
    assert render("{{ true | ternary('y', 'n') }}") == "y"
    assert render("{{ '/a/b/c.conf' | basename }}/{{ '/a/b/c.conf' | dirname }}") == \
        "c.conf//a/b"
    assert render("{{ 'user:pw' | b64encode }}") == "dXNlcjpwdw=="
    assert render("{{ 'a b' | quote }}") == "'a b'"
    assert render("{{ 'x' | hash('sha256') }}")[:8] == "2d711642"
    assert render("{{ {'a': [1]} | to_nice_yaml }}") == "a:\n- 1\n"
    assert render("{{ '10.0.0.1/24' | ansible.utils.ipaddr('address') }}") == "10.0.0.1"
    assert render("{{ ['a', 'b', 'c'] | random(seed='h1') }}") == \
        render("{{ ['a', 'b', 'c'] | random(seed='h1') }}")
    with pytest.raises(TemplateError, match="needs a seed"):
        render("{{ [1, 2] | random }}")


def test_tests() -> None:
    assert render("{{ '3.10.1' is version('3.9', '>=') }}") is True
    assert render("{{ '3.10.1' is version_compare('3.10.1', 'eq') }}") is True
    assert render("{{ 'abc' is match('a') }} {{ 'abc' is search('c') }}") == "True True"
    assert render("{{ x is defined }}") is False


def test_mandatory_and_undefined() -> None:
    with pytest.raises(TemplateError, match="Mandatory variable 'x' not defined"):
        render("{{ x | mandatory }}")
    import jinja2

    with pytest.raises(jinja2.UndefinedError, match="'x' is undefined"):
        render("{{ x }}")
    with pytest.raises(jinja2.UndefinedError, match="has no attribute 'b'"):
        render("{{ d.b }}", d={"a": 1})


def test_put_address_in_context_and_kolla_url() -> None:
    assert kolla_filters.put_address_in_context("10.0.0.1", "url") == "10.0.0.1"
    assert kolla_filters.put_address_in_context("fd00::1", "url") == "[fd00::1]"
    assert kolla_filters.put_address_in_context("fd00::1", "memcache") == "inet6:[fd00::1]"
    assert kolla_filters.put_address_in_context("10.0.0.1", "rabbitmq") == "10,0,0,1"
    assert kolla_filters.put_address_in_context("fd00::1", "rabbitmq") == \
        "16#fd00,16#0,16#0,16#0,16#0,16#0,16#0,16#1"
    with pytest.raises(TemplateError, match="Unknown context 'dns'"):
        kolla_filters.put_address_in_context("10.0.0.1", "dns")
    assert kolla_filters.kolla_url("10.0.0.1", "http", 80, "/v3") == "http://10.0.0.1/v3"
    assert kolla_filters.kolla_url("fd00::1", "https", "5000") == "https://[fd00::1]:5000"


def _hv(**hosts: dict[str, Any]) -> dict[str, Any]:
    return {"hostvars": hosts, "inventory_hostname": next(iter(hosts))}


def test_kolla_address() -> None:
    h1 = {"api_interface": "br-ex", "api_address_family": "ipv4",
          "ansible_facts": {"br_ex": {"ipv4": {"address": "10.0.0.1"}}}}
    h2 = {"api_interface": "eth0", "api_address_family": "ipv6", "enable_haproxy": "yes",
          "kolla_internal_vip_address": "fd00::99", "kolla_external_vip_address": "fd00::99",
          "ansible_facts": {"eth0": {"ipv6": [
              {"address": "fd00::99", "scope": "global"},
              {"address": "fe80::1", "scope": "link"},
              {"address": "fd00::2", "scope": "global"}]}}}
    vars_ = _hv(h1=h1, h2=h2)
    assert render("{{ 'api' | kolla_address }}", **vars_) == "10.0.0.1"
    assert render("{{ 'api' | kolla_address('h2') }}", **vars_) == "fd00::2"
    with pytest.raises(TemplateError, match="Interface name undefined for network 'tunnel'"):
        render("{{ 'tunnel' | kolla_address }}", **vars_)
    with pytest.raises(TemplateError, match="'h9' not in 'hostvars'"):
        render("{{ 'api' | kolla_address('h9') }}", **vars_)


def test_service_filters() -> None:
    services = {"a": {"enabled": "yes", "group": "web"}, "b": {"enabled": False, "group": "web"},
                "c": {"enabled": True, "group": "db"}, "d": {"enabled": True,
                                                             "host_in_groups": "yes"}}
    out = render("{{ s | select_services_enabled_and_mapped_to_host }}", s=services,
                 group_names=["web"])
    assert sorted(out) == ["a", "d"]
    with pytest.raises(TemplateError, match="does not have an 'enabled' attribute"):
        render("{{ {'container_name': 'x'} | service_enabled }}")


def test_error_lines_count_the_jinja2_header() -> None:
    import jinja2

    from kolla_mesos.render.jinja_env import error_location

    env = KollaEnvironment()
    with pytest.raises(jinja2.UndefinedError) as err:
        env.render_native("#jinja2: trim_blocks: False\nok\n{{ nope }}\n", "h.j2", {})
    assert error_location(err.value, "h.j2") == 3
    with pytest.raises(TemplateError, match="s.j2 line 3: template syntax error"):
        env.render_native("#jinja2: trim_blocks: False\nok\n{% if %}\n", "s.j2", {})


def test_lookups(tmp_path: pathlib.Path) -> None:
    (tmp_path / "motd.txt").write_text("hello\n")
    env = KollaEnvironment([tmp_path])
    assert env.render_native("{{ lookup('vars', 'a') }}", "<l>", {"a": [1]}) == [1]
    assert env.render_native("{{ lookup('vars', 'zz', default='d') }}", "<l>", {}) == "d"
    assert env.render_native("{{ query('vars', 'a', 'b') }}", "<l>", {"a": 1, "b": 2}) == [1, 2]
    assert env.render_native("{{ lookup('file', 'motd.txt') }}", "<l>", {}) == "hello"
    with pytest.raises(TemplateError, match="No variable named 'zz'"):
        env.render_native("{{ lookup('vars', 'zz') }}", "<l>", {})
    with pytest.raises(TemplateError, match="the file 'nope' was not found"):
        env.render_native("{{ lookup('file', 'nope') }}", "<l>", {})
    with pytest.raises(TemplateError, match="lookup plugin 'pipe' is not supported"):
        env.render_native("{{ lookup('pipe', 'date') }}", "<l>", {})
