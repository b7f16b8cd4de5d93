"""passwords.yml: fill it from kolla-ansible's password list, merge two versions.

``genpwd`` does what ``kolla-genpwd`` does, for the keys of the synced list
(``common_templates/passwords.yml``): every empty key gets a strong random value (40
letters and digits from ``secrets``), except uuid keys (a uuid4), HMAC keys (a hex
digest), Fernet keys, bcrypt salts, SSH key pairs (RSA, private key PEM + OpenSSH public
key) and keys kolla leaves blank.  Values already present are kept.

kolla-mesos adds one key of its own (:data:`OWN_KEYS`): ``keystone_fernet_keys``, Keystone's
Fernet key repository (``{0: staged, 1: primary}``).  kolla-ansible generates the
repository on the first keystone host and copies it to the others over SSH
(keystone-ssh/keystone-fernet); kolla-mesos has no SSH between tasks, so the keys are an
input like every other secret: every keystone host gets the same files from the
ACL-protected generation, and ``kolla-mesos fernet rotate`` rotates them as keystone-manage
does (docs/configuration.md, "Keystone's Fernet keys").  The file is written
atomically with mode 0600.  ``mergepwd`` is ``kolla-mergepwd``: values of OLD win over NEW,
and with ``clean`` only NEW's keys are kept.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import pathlib
import secrets
import string
import uuid
from collections.abc import Mapping
from typing import Any

import yaml

from kolla_mesos.errors import PasswordError, yaml_problem
from kolla_mesos.fileio import atomic_write

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
FERNET_REPOSITORY = "keystone_fernet_keys"
#: keys kolla-mesos adds to kolla-ansible's password list (genpwd fills them too), with the
#: service that needs each
OWN_KEYS = {FERNET_REPOSITORY: "keystone"}
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


def fernet_key() -> str:
    """A new Fernet key (URL-safe base64 of 32 random bytes), as keystone-manage makes one."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def new_value(key: str, ssh_bits: int = 4096) -> Any:
    """A fresh value for KEY, of the kind kolla-genpwd generates for it."""
    if key == FERNET_REPOSITORY:
        # what `keystone-manage fernet_setup` creates: a staged key (0) and a primary (1)
        return {0: fernet_key(), 1: fernet_key()}
    if key in SSH_KEYS:
        return ssh_key_pair(ssh_bits)
    if key in BLANK_KEYS:
        return None
    if key in UUID_KEYS:
        return str(uuid.uuid4())
    if key in HMAC_MD5_KEYS:
        return hmac.new(secrets.token_bytes(32), b"", hashlib.md5).hexdigest()
    if key in FERNET_KEYS:
        return fernet_key()
    if key in BCRYPT_SALT_KEYS:
        return "".join(secrets.choice(_BCRYPT_ALPHABET) for _ in range(22))
    return random_password()


def _is_empty(key: str, value: Any) -> bool:
    if key in SSH_KEYS:
        return value is None or (isinstance(value, Mapping) and
                                 value.get("private_key") is None and
                                 value.get("public_key") is None)
    if key == FERNET_REPOSITORY:
        return value is None or value == {}
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
    atomic_write(path, yaml.safe_dump(dict(passwords), default_flow_style=False).encode())


def genpwd(path: str | pathlib.Path, template: str | pathlib.Path,
           ssh_bits: int = 4096) -> list[str]:
    """Fill PATH from the password list TEMPLATE; return the keys that got new values."""
    names = {**read_passwords(template, check_mode=False), **dict.fromkeys(OWN_KEYS)}
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


def check_fernet_repository(value: Any, source: str) -> dict[int, str]:
    """The Fernet key repository of passwords.yml as ``{index: key}``, or one sentence.

    Keystone refuses to start without a staged key 0 and a primary key, and a key that is not
    32 bytes of URL-safe base64 fails every token; both are refused before anything is
    written instead of surfacing as a Keystone that never becomes healthy.
    """
    where = f"{source}: {FERNET_REPOSITORY}"
    if not isinstance(value, Mapping):
        raise PasswordError(f"{where} must be a mapping of key indexes to Fernet keys; run "
                            f"'kolla-mesos genpwd' to create it.")
    keys: dict[int, str] = {}
    for index, key in value.items():
        if isinstance(index, bool) or not isinstance(index, int | str) or \
                not str(index).isdigit():
            raise PasswordError(f"{where} has the index {index!r}; indexes are whole numbers "
                                "(0 is the staged key).")
        try:
            ok = isinstance(key, str) and len(base64.urlsafe_b64decode(key.encode())) == 32
        except ValueError:
            ok = False
        if not ok:  # never quote the value: it is a secret
            raise PasswordError(f"{where}[{index}] is not a Fernet key (32 bytes of URL-safe "
                                "base64).")
        keys[int(index)] = key
    if 0 not in keys or len(keys) < 2:
        raise PasswordError(f"{where} needs a staged key (0) and a primary key; run "
                            "'kolla-mesos fernet rotate' or remove the key and run genpwd.")
    return dict(sorted(keys.items()))


def rotate_fernet_keys(keys: Mapping[int, str], max_active: int) -> dict[int, str]:
    """One rotation, as ``keystone-manage fernet_rotate`` does it.

    The staged key (0) becomes the new primary (the highest index + 1), a new staged key is
    created, and the oldest secondary keys are dropped so that at most MAX_ACTIVE keys
    remain.  Because every keystone host already knew the promoted key as its staged key,
    hosts still running the old repository during a rolling restart decrypt the tokens of
    hosts running the new one.
    """
    if max_active < 2:
        raise PasswordError(f"max_active_keys must be at least 2 (it is {max_active}).")
    out = dict(keys)
    out[max(out) + 1] = out[0]
    out[0] = fernet_key()
    secondaries = sorted(i for i in out if i not in (0, max(out)))
    while len(out) > max_active and secondaries:
        del out[secondaries.pop(0)]
    return dict(sorted(out.items()))
