"""Masking secrets in text shown to operators (config show, plan diffs, logs).

Five rules, all applied: every value from passwords.yml (at least 4 characters), and every
line of the private keys under ``<config_dir>/certificates`` (TLS), is replaced wherever it
appears; the value of any ``key = value`` / ``key: value`` line and of any JSON
``"key": "value"`` pair whose key looks secret (password, secret, token, key, pass,
credential) is replaced; the password of every ``scheme://user:password@host`` (each
host of a multi-host URL); and HTTP basic credentials (``Basic <base64>``).

Values shorter than 4 characters are not masked by value: replacing every occurrence of a
2-character string would garble the text, and genpwd writes 40-character values (only an
operator's hand-written passwords.yml can hold such a value; the key rule still masks it on
its own line).
"""

from __future__ import annotations

import pathlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "********"
_KEY_WORDS = r"[\w.\-]*(?:password|passwd|secret|token|_key|pass|credential)[\w.\-]*"
_SECRET_KEY = re.compile(
    r"(?im)^(?P<lead>\s*" + _KEY_WORDS + r"\s*[=:]\s*)(?P<value>\S.*?)\s*$"
)
# "key": "value" anywhere, e.g. a stored definition (compact JSON, one line) whose command
# env holds a password: the value is masked inside its quotes, so the JSON stays valid.
_JSON_SECRET = re.compile(r'(?i)(?P<lead>"' + _KEY_WORDS + r'"\s*:\s*)"(?:[^"\\]|\\.)*"')
# HTTP basic credentials (base64 of user:password), e.g. HAProxy's RabbitMQ health check
# `http-check send hdr Authorization 'Basic ...'` in its services.d/rabbitmq.cfg.
_BASIC_AUTH = re.compile(r"(?i)(?P<lead>\bBasic\s+)[A-Za-z0-9+/]{8,}={0,2}")
# user:password@ after "://", and after "," in multi-host URLs (rabbit://u:p@h1,u:p@h2//).
_URL_PASSWORD = re.compile(r"(?P<lead>(?:://|,)[^:/@\s,]+:)(?P<value>[^@/\s,]+)(?=@)")


def secret_values(passwords: Mapping[str, Any]) -> list[str]:
    """Every string leaf of a passwords mapping long enough to mask safely."""
    out: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # an unquoted numeric password is still a password
        if isinstance(value, str) and len(value) >= 4:
            out.append(value)
        elif isinstance(value, Mapping):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    walk(passwords)
    return sorted(set(out), key=len, reverse=True)


_PEM_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----(?P<body>.+?)-----END [A-Z ]*PRIVATE "
                      r"KEY-----", re.S)


def private_key_lines(text: str) -> list[str]:
    """The base64 lines of every PEM private key in TEXT (each is secret on its own).

    Lines rather than whole blocks: a key that reaches JSON or an argv is escaped or split,
    and any one of its lines there is already a leak.
    """
    return [line.strip() for match in _PEM_KEY.finditer(text)
            for line in match.group("body").splitlines() if len(line.strip()) >= 16]


def certificate_key_lines(directory: pathlib.Path) -> list[str]:
    """The private key lines of every file under a certificates directory (unreadable
    files are skipped: the certificate checks name them)."""
    out: list[str] = []
    if not directory.is_dir():
        return out
    for path in sorted(directory.rglob("*")):
        try:
            if path.is_file() and path.stat().st_size < 1_000_000:
                out += private_key_lines(path.read_text())
        except (OSError, UnicodeDecodeError):
            continue
    return out


class Masker:
    """Callable that masks secrets in text."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self.values = sorted({v for v in values if len(v) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        """Return ``text`` with secrets replaced by ``********``."""
        for value in self.values:
            text = text.replace(value, MASK)
        text = _URL_PASSWORD.sub(lambda m: m.group("lead") + MASK, text)
        text = _BASIC_AUTH.sub(lambda m: m.group("lead") + MASK, text)
        text = _JSON_SECRET.sub(lambda m: f'{m.group("lead")}"{MASK}"', text)
        return _SECRET_KEY.sub(lambda m: m.group("lead") + MASK, text)
