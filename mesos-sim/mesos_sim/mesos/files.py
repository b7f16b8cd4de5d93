"""The Mesos ``/files`` API (``browse``, ``read``, ``download``) over task sandboxes.

Semantics of Mesos ``src/files/files.cpp`` (identical at 0.28 and 1.x):

* only *attached* paths are served: each executor's sandbox under its real path, under
  ``.../runs/latest`` and under the virtual ``/frameworks/<fw>/executors/<ex>/runs/latest``;
  anything else is 404;
* ``read``: ``path`` is required (400 ``Expecting 'path=value' in query.``); a missing ``offset``
  is ``-1``, which answers ``{"offset": <size>, "data": ""}``; ``offset >= size`` answers
  ``{"offset": offset, "data": ""}``; ``length`` absent or -1 reads to EOF; every read is capped
  at 16 pages (64 KiB); offset or length below -1 or not a number is 400; a directory is 400
  ``Cannot read a directory.``;
* ``browse`` lists a directory as ``[{path, nlink, size, mtime, mode, uid, gid}]`` sorted by path.

The ``.json`` aliases (removed in Mesos 1.7, still called by 2016-era clients) are served too.
"""

from __future__ import annotations

import grp
import json
import os
import posixpath
import pwd
import stat
from collections.abc import Callable, Iterable
from pathlib import Path

from mesos_sim.http import HttpProblem, Request, Response, Router

READ_CAP = 16 * 4096


def _owner(uid: int, gid: int) -> tuple[str, str]:
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    try:
        group = grp.getgrgid(gid).gr_name
    except KeyError:
        group = str(gid)
    return user, group


def file_info(shown: str, real: Path) -> dict[str, object]:
    """One ``browse`` entry (Mesos ``FileInfo`` JSON)."""
    st = real.stat()
    user, group = _owner(st.st_uid, st.st_gid)
    return {"path": shown, "nlink": st.st_nlink, "size": st.st_size, "mtime": int(st.st_mtime),
            "mode": stat.filemode(st.st_mode), "uid": user, "gid": group}


def _number(request: Request, name: str) -> int:
    raw = request.arg(name)
    if raw is None:
        return -1
    try:
        value = int(raw)
    except ValueError:
        raise HttpProblem(400, f"Failed to parse {name}: Failed to convert '{raw}' to number"
                          ) from None
    if value < -1:
        raise HttpProblem(400, f"Failed to parse {name}: Negative {name} provided: {value}")
    return value


def _jsonp(request: Request, body: object) -> Response:
    callback = request.arg("jsonp")
    if callback:
        return Response(200, f"{callback}({json.dumps(body)});",
                        content_type="text/javascript")
    return Response(200, body)


class SandboxFiles:
    """Serves ``/files/*`` for the sandboxes that ``roots()`` attaches.

    ``roots()`` returns ``(attached path, real directory)`` pairs; it is called per request so
    that new tasks' sandboxes appear at once.
    """

    def __init__(self, roots: Callable[[], Iterable[tuple[str, Path]]]) -> None:
        self._roots = roots

    def resolve(self, request: Request) -> tuple[str, Path]:
        """The requested path (normalised) and the real path it stands for; 400/404 problems."""
        raw = request.arg("path")
        if not raw:
            raise HttpProblem(400, "Expecting 'path=value' in query.\n")
        shown = posixpath.normpath("/" + raw.lstrip("/")) if raw.startswith("/") else raw
        for attached, real in self._roots():
            if shown == attached:
                return shown, real
            if shown.startswith(attached.rstrip("/") + "/"):
                rest = shown[len(attached.rstrip("/")) + 1:]
                candidate = real / rest
                try:
                    inside = candidate.resolve().is_relative_to(real.resolve())
                except OSError:
                    inside = False
                if inside and candidate.exists():
                    return shown, candidate
                raise HttpProblem(404, "")
        raise HttpProblem(404, "")

    def read(self, request: Request) -> Response:
        """``GET /files/read``."""
        shown, real = self.resolve(request)
        offset = _number(request, "offset")
        length = _number(request, "length")
        if real.is_dir():
            raise HttpProblem(400, "Cannot read a directory.\n")
        size = real.stat().st_size
        if offset == -1:
            return _jsonp(request, {"offset": size, "data": ""})
        if offset >= size:
            return _jsonp(request, {"offset": offset, "data": ""})
        count = READ_CAP if length == -1 else min(length, READ_CAP)
        with open(real, "rb") as handle:
            handle.seek(offset)
            data = handle.read(count)
        return _jsonp(request, {"offset": offset,
                                "data": data.decode("utf-8", errors="replace")})

    def browse(self, request: Request) -> Response:
        """``GET /files/browse``."""
        shown, real = self.resolve(request)
        if not real.is_dir():
            return _jsonp(request, [file_info(shown, real)])
        entries = [file_info(posixpath.join(shown, name), real / name)
                   for name in sorted(os.listdir(real))]
        return _jsonp(request, sorted(entries, key=lambda e: str(e["path"])))

    def download(self, request: Request) -> Response:
        """``GET /files/download``: the raw bytes."""
        shown, real = self.resolve(request)
        if real.is_dir():
            raise HttpProblem(400, "Cannot download a directory.\n")
        return Response(200, real.read_bytes(), content_type="application/octet-stream",
                        headers={"Content-Disposition":
                                 f'attachment; filename="{posixpath.basename(shown)}"'})

    def add_routes(self, router: Router) -> None:
        """Register ``/files/{browse,read,download}`` and their ``.json`` aliases."""
        for name, handler in (("browse", self.browse), ("read", self.read),
                              ("download", self.download)):
            router.add("GET", rf"/files/{name}(\.json)?", handler)
