"""A small JSON-over-HTTP transport shared by the Marathon, Chronos and Mesos clients.

Every request has a per-request timeout; connection failures and 5xx answers become
:class:`kolla_mesos.errors.ServerError` and are retried (with backoff, jitter and an overall
deadline, :mod:`kolla_mesos.clients.retry`) only when the request is idempotent.  Any other
error status is turned into a typed error by the API-specific ``mapper``.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

import requests

from kolla_mesos import errors
from kolla_mesos.clients.retry import RetryPolicy, is_transient
from kolla_mesos.secrets import MASK

LOG = logging.getLogger(__name__)

#: (status, parsed body or text, what the request did) -> the error to raise
Mapper = Callable[[int, Any, str], errors.HttpError]


def display_url(url: str) -> str:
    """``url`` fit for a message or a log line: a password in it is masked.

    The settings take Marathon credentials from a file, but ``http://user:pw@host`` in a URL
    is honoured by requests too and must not reach an error message.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{parts.username}:{MASK}@{host}"))


def parse_body(response: requests.Response) -> Any:
    """The JSON body of a response, or its text when it is not JSON."""
    text = response.text
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


#: longest part of an error body quoted in a message
MAX_MESSAGE = 300
_HTML_TITLE = re.compile(r"<title>(.*?)</title>", re.I | re.S)


def body_message(body: Any) -> str:
    """The first line of an error body's ``message`` (or of its text), at most MAX_MESSAGE
    characters: an error sentence quotes no more of what a server sent."""
    text = str((body.get("message") if isinstance(body, dict) else body) or "").strip()
    if text.startswith("<"):  # an HTML error page (a proxy, Jetty): its title at most
        title = _HTML_TITLE.search(text)
        text = title.group(1).strip() if title else ""
    lines = text.splitlines()
    first = lines[0].strip() if lines else ""
    return first if len(first) <= MAX_MESSAGE else first[:MAX_MESSAGE] + "..."


def auth_error(name: str, shown_url: str, status: int, what: str, hint: str = "",
               detail: str = "") -> errors.HttpError:
    """The error for an HTTP 401/403 answer: which server refused, and what to check."""
    if not hint and MASK in shown_url:
        hint = "the credentials in its URL"
    check = (f"check {hint}" if hint else
             "it requires credentials, and kolla-mesos sends it none")
    reason = "unauthorized" if status == 401 else "forbidden"
    said = f", {detail.rstrip('.')}" if detail and reason not in detail.lower() else ""
    return errors.HttpError(
        f"{name} at {shown_url} refused {what} with HTTP {status} ({reason}{said}): {check}.",
        status=status)


def default_mapper(name: str) -> Mapper:
    """A mapper giving 404 -> NotFoundError, 5xx -> ServerError, else HttpError."""
    def mapper(status: int, body: Any, what: str) -> errors.HttpError:
        detail = body_message(body)
        text = f"{name} answered HTTP {status} to {what}" + (f": {detail}" if detail else ".")
        if status == 404:
            return errors.NotFoundError(text, status=404, body=str(body))
        if status >= 500:
            return errors.ServerError(text, status=status, body=str(body))
        return errors.HttpError(text, status=status, body=str(body))
    return mapper


class HttpClient:
    """Requests against one base URL with timeouts, typed errors and bounded retries."""

    def __init__(self, name: str, base_url: str, timeout: float,
                 auth: tuple[str, str] | None = None, retry: RetryPolicy | None = None,
                 mapper: Mapper | None = None, credentials_hint: str = "") -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        #: base_url for messages (no password)
        self.shown_url = display_url(self.base_url)
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.mapper = mapper or default_mapper(name)
        #: the setting to check when the server answers 401/403
        self.credentials_hint = credentials_hint
        self.session = requests.Session()
        self.session.auth = auth
        self.session.headers.update({"Accept": "application/json"})
        #: Requests that change remote state, for idempotence checks (method, path).
        self.writes: list[tuple[str, str]] = []

    def url(self, path: str) -> str:
        """Absolute URL of ``path``."""
        return self.base_url + "/" + path.lstrip("/")

    def _once(self, method: str, path: str, params: Mapping[str, Any] | None,
              body: Any, headers: Mapping[str, str] | None) -> requests.Response:
        what = f"{method} {path}"
        kwargs: dict[str, Any] = {"params": params, "timeout": self.timeout,
                                  "headers": dict(headers or {})}
        if body is not None:
            kwargs["data"] = json.dumps(body, sort_keys=True)
            kwargs["headers"]["Content-Type"] = "application/json"
        try:
            response = self.session.request(method, self.url(path), **kwargs)
        except requests.RequestException as exc:
            raise errors.ServerError(
                f"{self.name} at {self.shown_url} is unreachable ({what}): "
                f"{type(exc).__name__}."
            ) from exc
        if response.status_code in (401, 403):
            raise auth_error(self.name, self.shown_url, response.status_code, what,
                             self.credentials_hint, body_message(parse_body(response)))
        if response.status_code >= 400:
            raise self.mapper(response.status_code, parse_body(response), what)
        return response

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                body: Any = None, headers: Mapping[str, str] | None = None,
                idempotent: bool | None = None) -> requests.Response:
        """Send one request; retry transient failures when it is idempotent.

        ``idempotent`` defaults to True for GET, PUT and DELETE and False for POST.
        """
        if idempotent is None:
            idempotent = method.upper() != "POST"
        if method.upper() != "GET":
            self.writes.append((method.upper(), path))

        def once() -> requests.Response:
            return self._once(method, path, params, body, headers)

        if not idempotent:
            return once()
        return self.retry.call(once, is_transient, what=f"{self.name} {method} {path}")

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET ``path`` and return its JSON body."""
        response = self.request("GET", path, params=params)
        body = parse_body(response)
        if isinstance(body, str):
            raise errors.ServerError(
                f"{self.name} answered GET {path} with a body that is not JSON.",
                status=response.status_code, body=body[:200])
        return body

    def close(self) -> None:
        """Close pooled connections."""
        self.session.close()
