"""passwords.yml: fill it from kolla-ansible's password list, merge two versions.

``genpwd`` does what ``kolla-genpwd`` does, for the keys of the synced list
(``common_templates/passwords.yml``): every empty key gets a strong random value (40
letters and digits from ``secrets``), except uuid keys (a uuid4), HMAC keys (a hex
digest), Fernet keys, bcrypt salts, SSH key pairs (RSA, private key PEM + OpenSSH public
key) and keys kolla leaves blank.  Values already present are kept.  The file is written
atomically with mode 0600.  ``mergepwd`` is ``kolla-mergepwd``: values of OLD win over NEW,
and with ``clean`` only NEW's keys are kept.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import pathlib
import secrets
import string
import tempfile
import uuid
from collections.abc import Mapping
from typing import Any

import yaml

from kolla_mesos.errors import PasswordError, yaml_problem

LOG = logging.getLogger(__name__)

LENGTH = 40
ALPHABET = string.ascii_letters + string.digits
UUID_KEYS = frozenset({"rbd_secret_uuid", "cinder_rbd_secret_uuid", "gnocchi_project_id",
                       "gnocchi_resource_id", "gnocchi_user_id", "designate_pool_id"})
SSH_KEYS = frozenset({"kolla_ssh_key", "nova_ssh_key", "keystone_ssh_key", "bifrost_ssh_key",
                      "octavia_amp_ssh_key", "neutron_ssh_key", "haproxy_ssh_key"})
BLANK_KEYS = frozenset({"docker_registry_password"})
HMAC_MD5_KEYS = frozenset({"designate_rndc_key", "osprofiler_secret"})
FERNET_KEYS = frozenset({"barbican_crypto_key"})
BCRYPT_SALT_KEYS = frozenset({"prometheus_bcrypt_salt"})
_BCRYPT_ALPHABET = "./" + string.ascii_letters + string.digits


def random_password(length: int = LENGTH) -> str:
    """A random password of letters and digits."""
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def ssh_key_pair(bits: int = 4096) -> dict[str, str]:
    """A new RSA key pair: ``private_key`` (PKCS8 PEM) and ``public_key`` (OpenSSH)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode()
    return {"private_key": private, "public_key": public}


def new_value(key: str, ssh_bits: int = 4096) -> Any:
    """A fresh value for KEY, of the kind kolla-genpwd generates for it."""
    if key in SSH_KEYS:
        return ssh_key_pair(ssh_bits)
    if key in BLANK_KEYS:
        return None
    if key in UUID_KEYS:
        return str(uuid.uuid4())
    if key in HMAC_MD5_KEYS:
        return hmac.new(secrets.token_bytes(32), b"", hashlib.md5).hexdigest()
    if key in FERNET_KEYS:
        return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    if key in BCRYPT_SALT_KEYS:
        return "".join(secrets.choice(_BCRYPT_ALPHABET) for _ in range(22))
    return random_password()


def _is_empty(key: str, value: Any) -> bool:
    if key in SSH_KEYS:
        return value is None or (isinstance(value, Mapping) and
                                 value.get("private_key") is None and
                                 value.get("public_key") is None)
    return value is None


def fill(template: Mapping[str, Any], existing: Mapping[str, Any],
         ssh_bits: int = 4096) -> tuple[dict[str, Any], list[str]]:
    """Pure part of genpwd: (passwords, names of the keys that got a new value)."""
    out = dict(existing)
    generated = []
    for key in template:
        if not _is_empty(key, out.get(key)):
            continue
        if key in BLANK_KEYS:
            out.setdefault(key, None)
            continue
        out[key] = new_value(key, ssh_bits)
        generated.append(key)
    return out, generated


def read_passwords(path: str | pathlib.Path, must_exist: bool = True,
                   check_mode: bool = True) -> dict[str, Any]:
    """Load a passwords file as a dict (empty if it is missing and MUST_EXIST is false);
    with CHECK_MODE, warn when other users may read it."""
    path = pathlib.Path(path)
    if not path.exists():
        if must_exist:
            raise PasswordError(f"The passwords file {path} does not exist.")
        return {}
    try:
        raw = path.read_bytes()
        data = yaml.safe_load(raw.decode("utf-8"))
    except OSError as exc:
        raise PasswordError(f"The passwords file {path} cannot be read: {exc.strerror}.") from exc
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1  # never quote the bytes: they are secrets
        raise PasswordError(f"The passwords file {path} is not UTF-8 text (invalid byte at "
                            f"line {line}); save it as UTF-8.") from exc
    except yaml.YAMLError as exc:
        # yaml_problem never quotes the file's lines: they hold the passwords.
        raise PasswordError(f"The passwords file {path} cannot be parsed: "
                            f"{yaml_problem(exc)}.") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise PasswordError(f"The passwords file {path} must be a mapping of names to values.")
    if check_mode and path.stat().st_mode & 0o007:
        LOG.warning("The passwords file %s is accessible by other users; it will be "
                    "written with mode 0600.", path)
    return data


def empty_keys(passwords: Mapping[str, Any]) -> list[str]:
    """Keys without a value (``key:`` or ``key: ""``), except those kolla leaves blank.

    A service configured with an empty password fails in ways that look like a hang (a
    database that refuses every login, a health check that never passes), so the deployer
    refuses them before anything is written.
    """
    return sorted(key for key, value in passwords.items()
                  if key not in BLANK_KEYS and (_is_empty(key, value) or value == ""))


def write_passwords(path: str | pathlib.Path, passwords: Mapping[str, Any]) -> None:
    """Write PASSWORDS to PATH atomically (temp file in the same dir, mode 0600, rename)."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as f:
            yaml.safe_dump(dict(passwords), f, default_flow_style=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise


def genpwd(path: str | pathlib.Path, template: str | pathlib.Path,
           ssh_bits: int = 4096) -> list[str]:
    """Fill PATH from the password list TEMPLATE; return the keys that got new values."""
    names = read_passwords(template, check_mode=False)
    existing = read_passwords(path, must_exist=False)
    passwords, generated = fill(names, existing, ssh_bits)
    write_passwords(path, passwords)
    LOG.debug("%d new values written to %s", len(generated), path)
    return generated


def merge(old: Mapping[str, Any], new: Mapping[str, Any], clean: bool = False) -> dict[str, Any]:
    """Pure part of mergepwd: OLD's values win; with CLEAN only NEW's keys remain."""
    merged = dict(new)
    if clean:
        for key in merged:
            if key in old:
                merged[key] = old[key]
    else:
        merged.update(old)
    return merged


def mergepwd(old: str | pathlib.Path, new: str | pathlib.Path,
             final: str | pathlib.Path | None = None, clean: bool = False) -> dict[str, Any]:
    """Merge the files OLD and NEW into FINAL (default: NEW) like kolla-mergepwd."""
    merged = merge(read_passwords(old), read_passwords(new), clean)
    write_passwords(final if final is not None else new, merged)
    return merged
