"""Topology loading and validation: one sentence per problem, every problem listed."""

from __future__ import annotations

import pathlib

import pytest

from kolla_mesos.errors import TopologyError, YamlError
from kolla_mesos.render.topology import host_facts, host_variables, load_topology

TOP = pathlib.Path(__file__).resolve().parents[3]

GOOD = """
networks: [api, storage]
hosts:
  a: {addresses: {api: 10.0.0.1, storage: 10.1.0.1}, interfaces: {api: eth0}}
  b: {addresses: {api: "fd00::2", storage: 10.1.0.2}, facts: {memtotal_mb: 1024}}
  c: {addresses: {api: 10.0.0.3, storage: 10.1.0.3}, vars: {mariadb_shard_id: 1}}
groups:
  control: [a, b]
  compute: {hosts: [c]}
  mariadb: {children: [control, compute]}
"""


def _write(tmp_path: pathlib.Path, text: str) -> pathlib.Path:
    path = tmp_path / "topology.yml"
    path.write_text(text)
    return path


def test_groups_children_and_shards(tmp_path: pathlib.Path) -> None:
    topo = load_topology(_write(tmp_path, GOOD))
    assert topo.groups["all"] == ["a", "b", "c"]
    assert topo.groups["mariadb"] == ["a", "b", "c"]
    assert topo.groups["mariadb_shard_0"] == ["a", "b"]
    assert topo.groups["mariadb_shard_1"] == ["c"]
    assert topo.group_names("c") == ["compute", "mariadb", "mariadb_shard_1"]
    assert topo.networks == ("api", "storage")


def test_host_variables_and_facts(tmp_path: pathlib.Path) -> None:
    topo = load_topology(_write(tmp_path, GOOD))
    assert host_variables(topo, "a") == {"api_interface": "eth0",
                                         "storage_interface": "storage",
                                         "network_interface": "eth0"}
    b_vars = host_variables(topo, "b")
    assert b_vars["api_address_family"] == "ipv6"
    facts = host_facts(topo, "b")
    assert facts["api"]["ipv6"] == [{"address": "fd00::2", "scope": "global"}]
    assert facts["storage"]["ipv4"] == {"address": "10.1.0.2"}
    assert facts["memtotal_mb"] == 1024 and facts["hostname"] == "b"
    assert host_facts(topo, "a")["memtotal_mb"] != 1024


def test_every_problem_is_one_sentence(tmp_path: pathlib.Path) -> None:
    bad = """
networks: [api, tunnel]
hosts:
  a: {addresses: {api: 10.0.0.1, tunnel: 10.2.0.1}}
  a: {addresses: {api: 10.0.0.9, tunnel: 10.2.0.9}}
  b: {addresses: {api: 10.0.0.300}}
groups:
  control: [a, a, ghost]
  mariadb: {children: [controll]}
"""
    with pytest.raises(TopologyError) as err:
        load_topology(_write(tmp_path, bad))
    problems = err.value.problems
    text = "\n".join(problems)
    assert "the key 'a' appears more than once (line 5)" in text
    assert "'10.0.0.300' as its api address, which is not an IPv4 or IPv6 address" in text
    assert "host 'b' has no address on the tunnel network" in text
    assert "host 'a' is listed twice in group 'control'" in text
    assert "group 'control' lists the unknown host 'ghost'" in text
    assert "group 'mariadb' has the unknown child group 'controll'" in text
    assert len(problems) == 6
    assert all(p.endswith(".") and p.count(". ") == 0 for p in problems)
    assert str(err.value) == " ".join(problems)


def test_group_cycle_and_shape_errors(tmp_path: pathlib.Path) -> None:
    bad = """
hosts:
  a: {addresses: {api: 10.0.0.1}, colour: blue}
groups:
  x: {children: [y]}
  y: {children: [x]}
  z: 5
"""
    with pytest.raises(TopologyError) as err:
        load_topology(_write(tmp_path, bad))
    text = str(err.value)
    assert "form a cycle" in text
    assert "group 'z' must be a list of hosts" in text
    assert "unknown key(s) colour" in text


def test_unreadable_and_invalid_yaml(tmp_path: pathlib.Path) -> None:
    with pytest.raises(YamlError, match="cannot be read"):
        load_topology(tmp_path / "missing.yml")
    with pytest.raises(YamlError, match="not valid YAML"):
        load_topology(_write(tmp_path, "hosts: [a\n"))


@pytest.mark.parametrize("name", ["topology.yml", "topology-single.yml"])
def test_samples_are_valid(name: str) -> None:
    topo = load_topology(TOP / "etc" / "kolla-mesos" / name)
    for group in ("mariadb", "memcached", "rabbitmq", "keystone"):
        assert topo.groups[group], group


def test_kolla_service_groups_are_inherited(tmp_path: pathlib.Path) -> None:
    inv = tmp_path / "common_templates" / "inventory" / "multinode"
    inv.parent.mkdir(parents=True)
    inv.write_text("[control]\ncontrol01\n\n[nova:children]\ncontrol\n\n"
                   "[nova-api:children]\nnova\n\n[openvswitch:children]\nnetwork\ncompute\n"
                   "# comment\n[mariadb:children]\ncontrol\n[deployment]\nlocalhost x=1\n")
    text = """
hosts:
  a: {addresses: {api: 10.0.0.1}}
  b: {addresses: {api: 10.0.0.2}}
groups:
  control: [a]
  compute: [b]
  mariadb: [b]
"""
    topo = load_topology(_write(tmp_path, text), base_dir=tmp_path)
    assert topo.groups["nova-api"] == ["a"]
    assert topo.groups["openvswitch"] == ["b"]  # 'network' is not defined: empty
    assert topo.groups["mariadb"] == ["b"]  # the topology's own definition wins
    assert "deployment" not in topo.groups
    assert "nova-api" in topo.group_names("a")
    plain = load_topology(_write(tmp_path, text))
    assert "nova-api" not in plain.groups
