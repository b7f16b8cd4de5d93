"""Pure text decisions of ``kolla-mesos logs``: durations, tails, time filters, prefixes.

Nothing here reads a file or talks to Mesos; :mod:`kolla_mesos.apply.logs` feeds it the
bytes it read through the agents' ``/files/read``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable

_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
#: the timestamp kolla-mesos-start's log lines and oslo.log's lines begin with
_STAMP = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})")


def parse_duration(text: str) -> float:
    """``90s``, ``10m``, ``2h``, ``1d`` or a sum such as ``1h30m`` as seconds.

    ValueError (with the sentence to show) for anything else, e.g. ``10`` or ``-5m``.
    """
    raw = text.strip().lower()
    if not raw or _DURATION.sub("", raw):
        raise ValueError(f"--since {text!r} is not a duration: use a number followed by "
                         "s, m, h or d, e.g. 30s, 10m, 2h or 1h30m.")
    return float(sum(int(n) * _UNITS[u] for n, u in _DURATION.findall(raw)))


def line_time(line: str) -> float | None:
    """The epoch time a log line starts with (local time, as the loggers write it)."""
    match = _STAMP.match(line)
    if not match:
        return None
    try:
        return time.mktime(time.strptime(f"{match[1]} {match[2]}", "%Y-%m-%d %H:%M:%S"))
    except ValueError:
        return None


def since_filter(lines: Iterable[str], since: float, keep_leading: bool) -> list[str]:
    """The lines written at or after ``since``.

    A line without a timestamp (a traceback, a continuation) follows the decision of the
    timestamped line before it; lines before the first timestamp are kept when
    ``keep_leading`` (the task started after ``since``).
    """
    keep = keep_leading
    out: list[str] = []
    for line in lines:
        stamp = line_time(line)
        if stamp is not None:
            keep = stamp >= since
        if keep:
            out.append(line)
    return out


def last_lines(text: str, count: int) -> list[str]:
    """The last ``count`` lines of ``text`` (a final line without newline counts)."""
    lines = text.splitlines()
    return lines[-count:] if count > 0 else []


def newlines_in(data: str) -> int:
    """How many complete lines ``data`` ends."""
    return data.count("\n")


class LineBuffer:
    """Splits a stream of chunks into complete lines, keeping the unfinished one."""

    def __init__(self) -> None:
        self.rest = ""

    def feed(self, data: str) -> list[str]:
        """Complete lines in ``data`` (after what was left from the previous chunk)."""
        text = self.rest + data
        *lines, self.rest = text.split("\n")
        return lines

    def flush(self) -> list[str]:
        """The unfinished line, if any (at the end of a non-following read)."""
        rest, self.rest = self.rest, ""
        return [rest] if rest else []


def prefixed(lines: Iterable[str], prefix: str) -> list[str]:
    """``lines`` each preceded by ``prefix`` (empty: unchanged)."""
    return [f"{prefix}{line}" for line in lines] if prefix else list(lines)
