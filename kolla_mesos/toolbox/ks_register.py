"""Register a service with Keystone, as kolla-ansible's service-ks-register role does.

Usage: ``ks_register.py SPEC.json`` with ``OS_CLIENT_CONFIG_FILE`` naming a clouds.yaml and
``OS_CLOUD`` the cloud in it (the admin's credentials).  The runner writes both files into
the job's sandbox, owner root, mode 0600, and removes them when the job ends; neither the
admin password nor a service user's password is ever on a command line or in the job JSON.

SPEC (rendered from kolla-ansible's ``<project>_ks_services``, ``<project>_ks_users`` and
``<project>_ks_user_roles``)::

    {"region": "RegionOne", "domain": "default",
     "services": [{"name": "glance", "type": "image", "description": "...",
                   "endpoints": [{"interface": "internal", "url": "http://..."}]}],
     "users": [{"project": "service", "user": "glance", "password": "...", "role": "admin"}],
     "roles": ["..."],
     "user_roles": [{"project": "service", "user": "nova", "role": "service"}]}

Idempotent: every object is looked up first and created (or, for an endpoint's URL and a
user's password, updated) only when it differs, so a re-run of the job changes nothing.
Each step retries on a connection error for a bounded time (Keystone may still be starting
behind its health check), like the role's ``until``/``retries``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

T = TypeVar("T")

#: like service_ks_register_retries x service_ks_register_delay (5 x 10 s)
RETRY_FOR = 60.0
RETRY_DELAY = 3.0


def _retry(what: str, action: Callable[[], T]) -> T:
    """Run ACTION, again on a connection-level failure until RETRY_FOR seconds passed."""
    from keystoneauth1 import exceptions as ksa_exc  # (in the toolbox venv only)

    deadline = time.monotonic() + RETRY_FOR
    while True:
        try:
            return action()
        except (ksa_exc.ConnectFailure, ksa_exc.ServiceUnavailable, ksa_exc.GatewayTimeout) \
                as exc:
            if time.monotonic() >= deadline:
                raise SystemExit(f"ks-register: {what}: Keystone did not answer: {exc}") from exc
            time.sleep(RETRY_DELAY)


def _log(message: str) -> None:
    print(f"ks-register: {message}", flush=True)


def register(conn: Any, spec: dict[str, Any]) -> list[str]:
    """Make Keystone hold what SPEC names; return what was changed (for the job's log)."""
    identity = conn.identity
    region = spec["region"]
    domain = identity.find_domain(spec.get("domain", "default"), ignore_missing=False)
    changed: list[str] = []

    for svc in spec.get("services", []):
        if not svc.get("enabled", True):
            continue
        found = [s for s in identity.services(type=svc["type"]) if s.name == svc["name"]]
        service = found[0] if found else None
        if service is None:
            service = identity.create_service(name=svc["name"], type=svc["type"],
                                              description=svc.get("description", ""),
                                              is_enabled=True)
            changed.append(f"service {svc['name']} ({svc['type']})")
        for ep in svc.get("endpoints", []):
            existing = list(identity.endpoints(service_id=service.id,
                                               interface=ep["interface"], region_id=region))
            if not existing:
                identity.create_endpoint(service_id=service.id, interface=ep["interface"],
                                         url=ep["url"], region_id=region, is_enabled=True)
                changed.append(f"endpoint {svc['name']} {ep['interface']} {ep['url']}")
            elif existing[0].url != ep["url"]:
                identity.update_endpoint(existing[0], url=ep["url"])
                changed.append(f"endpoint {svc['name']} {ep['interface']} -> {ep['url']}")

    users = spec.get("users", [])
    projects: dict[str, Any] = {}
    for name in dict.fromkeys(u["project"] for u in users):
        projects[name] = _ensure(
            f"project {name}", changed,
            partial(identity.find_project, name, domain_id=domain.id),
            partial(identity.create_project, name=name, domain_id=domain.id))

    role_names = list(dict.fromkeys([u["role"] for u in users] + list(spec.get("roles", []))
                                    + [r["role"] for r in spec.get("user_roles", [])]))
    roles: dict[str, Any] = {}
    for name in role_names:
        roles[name] = _ensure(f"role {name}", changed,
                              partial(identity.find_role, name),
                              partial(identity.create_role, name=name))

    for item in users:
        project = projects[item["project"]]
        before = len(changed)
        user = _ensure(
            f"user {item['user']}", changed,
            partial(identity.find_user, item["user"], domain_id=domain.id),
            partial(identity.create_user, name=item["user"], password=item["password"],
                    default_project_id=project.id, domain_id=domain.id, is_enabled=True))
        if len(changed) == before and not _password_works(conn, item, domain.id, project.name):
            # update_keystone_service_user_passwords (kolla's default: true)
            identity.update_user(user, password=item["password"])
            changed.append(f"user {item['user']} (password)")
        if _grant(identity, project, user, roles[item["role"]]):
            changed.append(f"{item['user']} has {item['role']} on {item['project']}")

    for item in spec.get("user_roles", []):
        user = identity.find_user(item["user"], domain_id=domain.id, ignore_missing=False)
        project = projects.get(item["project"]) or identity.find_project(
            item["project"], domain_id=domain.id, ignore_missing=False)
        if _grant(identity, project, user, roles[item["role"]]):
            changed.append(f"{item['user']} has {item['role']} on {item['project']}")
    return changed


def _ensure(what: str, changed: list[str], find: Callable[[], Any],
            create: Callable[[], Any]) -> Any:
    """Find an object or create it.  The registration jobs of several services run at once
    and share objects (project ``service``, role ``admin``): when another job created it
    between our look-up and our create (409 Conflict), take theirs."""
    from openstack import exceptions as sdk_exc  # (in the toolbox venv only)

    found = find()
    if found is not None:
        return found
    try:
        created = create()
    except sdk_exc.ConflictException:
        found = find()
        if found is None:
            raise
        return found
    changed.append(what)
    return created


def _password_works(conn: Any, item: dict[str, Any], domain_id: str, project: str) -> bool:
    """Whether the service user's password is the one SPEC names (a token for it)."""
    import openstack  # (in the toolbox venv only)
    from keystoneauth1 import exceptions as ksa_exc

    auth = conn.config.get_auth_args()
    try:
        probe = openstack.connect(auth_url=auth["auth_url"], username=item["user"],
                                  password=item["password"], user_domain_id=domain_id,
                                  project_name=project, project_domain_id=domain_id,
                                  identity_api_version="3")
        probe.authorize()
    except ksa_exc.Unauthorized:
        return False
    return True


def _grant(identity: Any, project: Any, user: Any, role: Any) -> bool:
    """Give USER ROLE on PROJECT unless it has it; whether it was given now."""
    if identity.validate_user_has_project_role(project, user, role):
        return False
    identity.assign_project_role_to_user(project, user, role)
    return True


def main(argv: list[str] | None = None) -> int:
    """Entry point: one argument, the spec file."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: ks_register.py SPEC.json", file=sys.stderr)
        return 2
    try:
        with open(args[0], encoding="utf-8") as handle:
            spec = json.load(handle)
    except (OSError, ValueError) as exc:
        print(f"ks-register: cannot read {args[0]}: {exc}", file=sys.stderr)
        return 2
    import openstack  # (in the toolbox venv only)

    conn = openstack.connect()  # OS_CLOUD / OS_CLIENT_CONFIG_FILE
    changed = _retry("register", lambda: register(conn, spec))
    for line in changed:
        _log(f"created/updated {line}")
    _log(f"{len(changed)} change(s); "
         f"{', '.join(s['name'] for s in spec.get('services', []))} registered")
    return 0


if __name__ == "__main__":
    sys.exit(main())
