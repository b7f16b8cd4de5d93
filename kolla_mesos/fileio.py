"""Writing a file atomically with its final mode from the first byte.

passwords.yml, certificates and keys, and deployment exports all hold secrets: a reader must
never see them half written or, for a moment, with the umask's mode.
"""

from __future__ import annotations

import os
import pathlib
import tempfile


def atomic_write(path: pathlib.Path, data: bytes, mode: int = 0o600) -> None:
    """Write DATA to PATH through a temporary file in the same directory (created with
    MODE), fsync, rename; nothing is left under either name when it fails."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise
