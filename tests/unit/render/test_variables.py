"""Variables: precedence, lazy recursive resolution, cycles, undefined-name messages."""

from __future__ import annotations

import pathlib
import textwrap

import pytest

from kolla_mesos.errors import TemplateError, VariableError
from kolla_mesos.render.templates import Renderer, find_template, list_templates
from kolla_mesos.render.topology import parse_topology
from kolla_mesos.render.variables import VariableSet, parse_extra

TOPOLOGY = {
    "hosts": {"h1": {"addresses": {"api": "10.0.0.1"}},
              "h2": {"addresses": {"api": "10.0.0.2"}, "vars": {"special": "h2-only"}}},
    "groups": {"web": ["h1", "h2"]},
}


def _tree(tmp_path: pathlib.Path, files: dict[str, str]) -> pathlib.Path:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path


def _renderer(base: pathlib.Path, extra: list[str] | None = None) -> Renderer:
    topo, problems = parse_topology(TOPOLOGY)
    assert not problems and topo is not None
    variables = VariableSet.load(base, base / "etc", ["web"], extra or [])
    return Renderer(base, variables, topo)


@pytest.fixture
def base(tmp_path: pathlib.Path) -> pathlib.Path:
    return _tree(tmp_path, {
        "common_templates/roles/web/defaults/main.yml": """
            layer: role-defaults
            only_role_default: rd
            port: 80
            """,
        "common_templates/group_vars/all/a.yml": """
            layer: group-vars
            only_group_vars: gv
            url: "http://{{ address }}:{{ port }}/"
            address: "{{ 'api' | kolla_address }}"
            api_address_family: ipv4
            hosts_csv: "{{ groups['web'] | join(',') }}"
            workers: "{{ [ansible_facts.processor_vcpus, 2] | min }}"
            nested:
              list: ["{{ port }}", "{{ port | int + 1 }}"]
            cyc_a: "{{ cyc_b }}"
            cyc_b: "{{ cyc_c }}"
            cyc_c: "{{ cyc_a }}"
            broken: "x{{ no_such_thing }}"
            uses_broken: "{{ broken }}"
            guarded: "{{ no_such_thing | default('fallback') }}"
            lazy_unused: "{{ 'ok' if true else no_such_thing }}"
            via_special: "<{{ special | default('none') }}>"
            """,
        "config/all.yml": "layer: config-all\nonly_config_all: ca\n",
        "config/web/defaults/main.yml": "layer: config-role\nport: 8080\n",
        "etc/globals.yml": "layer: globals\n",
        "etc/passwords.yml": "layer: passwords\nsecret: s3cret\n",
        "common_templates/roles/web/templates/site.conf.j2": """
            listen {{ address }}:{{ port }}
            peers {{ hosts_csv }}
            {% if missing_var %}x{% endif %}
            """,
        "config/web/templates/override.j2": "override {{ layer }}\n",
        "common_templates/roles/web/templates/override.j2": "synced\n",
    })


def test_precedence_lowest_first(base: pathlib.Path) -> None:
    r = _renderer(base)
    ctx = r.context("h1", "web")
    assert ctx.resolve("layer") == "passwords"
    assert ctx.resolve("only_role_default") == "rd"
    assert ctx.resolve("only_group_vars") == "gv"
    assert ctx.resolve("only_config_all") == "ca"
    assert ctx.resolve("port") == 8080
    assert _renderer(base, ["layer=cli", "port=9"]).context("h1", "web").resolve("layer") == "cli"
    (base / "etc" / "passwords.yml").write_text("secret: x\n")
    assert _renderer(base).context("h1", "web").resolve("layer") == "globals"


def test_lazy_recursive_native_values(base: pathlib.Path) -> None:
    r = _renderer(base)
    h1, h2 = r.context("h1", "web"), r.context("h2", "web")
    assert h1.resolve("url") == "http://10.0.0.1:8080/"
    assert h2.resolve("url") == "http://10.0.0.2:8080/"
    assert h1.resolve("workers") == 2 and isinstance(h1.resolve("workers"), int)
    assert h1.resolve("nested") == {"list": [8080, 8081]}
    assert h1.resolve("guarded") == "fallback"
    assert h1.resolve("lazy_unused") == "ok"
    assert h1.resolve("via_special") == "<none>"
    assert h2.resolve("via_special") == "<h2-only>"
    # host-independent values are shared, host-dependent ones are not
    assert h2.resolve("hosts_csv") == "h1,h2"


def test_cycle_names_the_cycle(base: pathlib.Path) -> None:
    ctx = _renderer(base).context("h1", "web")
    with pytest.raises(VariableError) as err:
        ctx.resolve("cyc_a")
    assert "cyc_a -> cyc_b -> cyc_c -> cyc_a form a reference cycle" in str(err.value)


def test_undefined_names_variable_file_and_line(base: pathlib.Path) -> None:
    ctx = _renderer(base).context("h1", "web")
    with pytest.raises(VariableError) as err:
        ctx.resolve("uses_broken")
    msg = str(err.value)
    assert "'no_such_thing' is undefined" in msg
    assert "in the value of 'broken' from common_templates/group_vars/all/a.yml line 14" in msg
    with pytest.raises(VariableError, match="'nope' is undefined for host 'h1'"):
        ctx.resolve("nope")


def test_template_error_names_template_line_and_name(base: pathlib.Path) -> None:
    r = _renderer(base)
    with pytest.raises(TemplateError) as err:
        r.render_template("web", "site.conf.j2", "h2")
    assert str(err.value) == ("common_templates/roles/web/templates/site.conf.j2 line 4: "
                              "'missing_var' is undefined (rendering for host 'h2').")
    with pytest.raises(TemplateError, match=r"<s> line 1: .*'uses_broken'|<s> line 1: "
                       r"'no_such_thing' is undefined \(in the value of 'broken'"):
        r.render_string("a {{ uses_broken }}", "h1", "<s>", "web")
    with pytest.raises(TemplateError, match=r"<t> line 2: template syntax error"):
        r.render_string("ok\n{% if %}", "h1", "<t>", "web")
    with pytest.raises(TemplateError, match=r"<f> line 1: .*No filter named 'nofilter'"):
        r.render_string("{{ 1 | nofilter }}", "h1", "<f>", "web")


def test_render_and_task_vars(base: pathlib.Path) -> None:
    r = _renderer(base)
    (base / "common_templates/roles/web/templates/site.conf.j2").write_text(
        "listen {{ address }}:{{ port }}\npeers {{ hosts_csv }}\n")
    r = _renderer(base)
    assert r.render_template("web", "site.conf.j2", "h2") == "listen 10.0.0.2:8080\npeers h1,h2\n"
    assert r.render_template("web", "override.j2", "h1") == "override passwords\n"
    out = r.render_string("{{ service_name }}-{{ port }}", "h1", "<s>", "web",
                          {"service_name": "{{ 'svc' }}", "port": 1})
    assert out == "svc-1"
    assert r.render_string("{{ port }}", "h1", "<s>", "web") == "8080"


def test_hostvars_of_other_host_use_that_host(base: pathlib.Path) -> None:
    r = _renderer(base)
    out = r.render_string("{% for h in groups['web'] %}{{ hostvars[h].address }} {% endfor %}"
                          "{{ hostvars['h2']['special'] }}", "h1", "<s>", "web")
    assert out == "10.0.0.1 10.0.0.2 h2-only"


def test_template_origins(base: pathlib.Path) -> None:
    infos = {(t.role, t.name): t for t in list_templates(base)}
    assert infos[("web", "override.j2")].origin == "overridden"
    assert infos[("web", "site.conf.j2")].origin == "synced"
    assert find_template(base, "web", "override.j2").path.parts[-4] == "config"
    with pytest.raises(TemplateError, match="exists neither in config/web/templates/"):
        find_template(base, "web", "nope.j2")


def test_parse_extra() -> None:
    assert parse_extra(["a=1", "b=yes", "c=x=y", "d="]) == {"a": 1, "b": True, "c": "x=y",
                                                           "d": ""}
    with pytest.raises(VariableError, match="must look like key=value"):
        parse_extra(["novalue"])
