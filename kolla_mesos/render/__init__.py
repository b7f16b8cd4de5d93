"""Pure rendering: topology, variables, the Jinja environment and filters, templates.

Public API (see docs/rendering.md)::

    topo = topology.load_topology(path, base_dir=None)        # -> Topology
    variables = variables.VariableSet.load(base_dir, config_dir, roles, extra)
    renderer = templates.Renderer(base_dir, variables, topo, config_dir=None)
    renderer.render_template(role, name, host, task_vars=None)  # -> str
    renderer.render_string(text, host, source, role=None, task_vars=None)  # -> str
    renderer.context(host, role=None, task_vars=None)          # lazy Mapping of variables
    templates.list_templates(base_dir)  # -> [TemplateInfo(role, name, origin, sha256, path)]
"""
