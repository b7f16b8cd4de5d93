"""The parity reference: render kolla-ansible templates with ansible-core itself.

Builds a real Ansible inventory and VariableManager from the same layers our renderer uses
(role defaults < group_vars < config/ < role vars as ``all`` group vars, the topology's
inventory variables as host vars, synthesized facts as host facts, globals + passwords +
``-e`` as extra vars), so ``hostvars[<other host>]`` is templated for that other host as in
a real play.  ansible-core is a test-only dependency; kolla-ansible's filter plugins are
loaded from the synced distribution.
"""

from __future__ import annotations

import importlib.metadata
import pathlib
from typing import Any

from kolla_mesos.render.templates import find_template
from kolla_mesos.render.topology import Topology, host_facts, host_variables
from kolla_mesos.render.variables import VariableSet

_LOADER_READY = False


def _filter_plugin_dir() -> pathlib.Path:
    dist = importlib.metadata.distribution("kolla-ansible")
    for f in dist.files or []:
        if f.as_posix().endswith("share/kolla-ansible/ansible/filter_plugins/address.py"):
            return pathlib.Path(str(dist.locate_file(f))).resolve().parent
    raise RuntimeError("kolla-ansible's filter plugins are not installed")


def _trust(value: Any) -> Any:
    from ansible.template import trust_as_template

    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, list):
        return [_trust(v) for v in value]
    if isinstance(value, dict):
        return {k: _trust(v) for k, v in value.items()}
    return value


class AnsibleRenderer:
    """Renders (role, template, host) with ansible-core's Templar."""

    def __init__(self, base_dir: pathlib.Path, variables: VariableSet,
                 topology: Topology) -> None:
        import ansible.plugins.loader as pl
        from ansible.inventory.manager import InventoryManager
        from ansible.parsing.dataloader import DataLoader
        from ansible.vars.hostvars import HostVars
        from ansible.vars.manager import VariableManager

        global _LOADER_READY
        if not _LOADER_READY:  # the collection finder may be configured once per process
            pl.init_plugin_loader([str(pathlib.Path(__file__).parent / "data")])
            pl.filter_loader.add_directory(str(_filter_plugin_dir()))
            _LOADER_READY = True
        self.base_dir = base_dir
        self.variables = variables
        self.topology = topology
        self.loader = DataLoader()
        self._managers: dict[str | None, Any] = {}
        self._host_vars: dict[tuple[str, str], dict[str, Any]] = {}
        self._InventoryManager = InventoryManager
        self._VariableManager = VariableManager
        self._HostVars = HostVars

    def _manager(self, role: str | None) -> Any:
        if role in self._managers:
            return self._managers[role]
        inv = self._InventoryManager(self.loader, sources=[])
        for group, hosts in self.topology.groups.items():
            if group != "all":
                inv.add_group(group)
        for host in self.topology.hosts:
            inv.add_host(host)
        for group, hosts in self.topology.groups.items():
            if group != "all":
                for host in hosts:
                    inv.add_host(host, group=group)
        scope = self.variables.scope(role)
        all_group = inv.groups["all"]
        for key, value in scope.low.items():
            all_group.set_variable(key, _trust(value))
        vm = self._VariableManager(loader=self.loader, inventory=inv)
        for host in self.topology.hosts:
            h = inv.get_host(host)
            for key, value in host_variables(self.topology, host).items():
                h.set_variable(key, _trust(value))
            vm.set_host_facts(host, host_facts(self.topology, host))
        vm._extra_vars = {k: _trust(v) for k, v in scope.high.items()}
        vm._hostvars = self._HostVars(inventory=inv, variable_manager=vm, loader=self.loader)
        self._managers[role] = (inv, vm)
        return inv, vm

    def render_template(self, role: str, name: str, host: str,
                        task_vars: dict[str, Any] | None = None,
                        facts: dict[str, Any] | None = None) -> str:
        """Render template NAME of ROLE for HOST; FACTS are set_fact results to add."""
        from ansible.template import Templar, trust_as_template

        inv, vm = self._manager(role)
        key = (role, host)
        if key not in self._host_vars:
            self._host_vars[key] = vm.get_vars(host=inv.get_host(host), include_hostvars=True)
        all_vars = dict(self._host_vars[key])
        all_vars.update({k: _trust(v) for k, v in (task_vars or {}).items()})
        all_vars.update(facts or {})
        all_vars.update(vm._extra_vars)
        trole = role.split("+", 1)[0]  # haproxy-config+keystone: haproxy-config's template
        all_vars["role_name"] = trole
        src = find_template(self.base_dir, trole, name).path.read_text()
        dirs = [str(self.base_dir / "config" / trole / "templates"),
                str(self.base_dir / "common_templates" / "roles" / trole / "templates")]
        templar = Templar(loader=self.loader).copy_with_new_env(
            searchpath=dirs, available_variables=all_vars)
        out = templar.template(trust_as_template(src), escape_backslashes=False)
        return "" if out is None else str(out)
