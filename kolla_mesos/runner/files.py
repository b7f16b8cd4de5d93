"""Materialize a service's files and directories on the task's disk.

Files are written atomically (temporary file in the same directory, owner and mode set on the
open descriptor, fsync, rename, fsync of the directory), by root, before any privilege drop.
An unchanged file is not rewritten.  ``FileSet`` (name -> spec and content) is what the reload
watcher compares between generations.
"""

from __future__ import annotations

import contextlib
import grp
import logging
import os
import pwd
import threading
from collections.abc import Iterable

from kolla_mesos import errors
from kolla_mesos.definition import Definition, DirectorySpec, FileSpec, dest_problem

LOG = logging.getLogger(__name__)

FileSet = dict[str, tuple[FileSpec, bytes]]


def build_fileset(defn: Definition, contents: dict[str, bytes]) -> FileSet:
    """Pair each fetched content with its spec from the definition."""
    specs = defn.files_dict
    return {name: (specs[name], data) for name, data in sorted(contents.items())}


def changed_files(old: FileSet, new: FileSet) -> list[str]:
    """Names of files whose spec or content differ (added and removed ones included)."""
    return sorted(name for name in set(old) | set(new) if old.get(name) != new.get(name))


def resolve_dest(dest: str, cwd: str) -> str:
    """Absolute destination: relative paths are relative to ``cwd`` (the Mesos sandbox).

    The definition's parser already refused a destination outside the allowed places; this
    checks again right before a root process writes (defence in depth).
    """
    problem = dest_problem(dest)
    if problem is not None:
        raise errors.DefinitionError([f"File destination {dest!r} {problem}; refusing to "
                                      "write it."])
    return os.path.normpath(dest if os.path.isabs(dest) else os.path.join(cwd, dest))


def lookup_ids(owner: str, group: str, what: str) -> tuple[int, int]:
    """uid and gid of ``owner``/``group`` (numeric strings allowed)."""
    try:
        uid = int(owner) if owner.isdigit() else pwd.getpwnam(owner).pw_uid
    except KeyError as exc:
        raise errors.ConfigError(f"{what}: owner {owner!r} is not a user on this host.") from exc
    try:
        gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
    except KeyError as exc:
        raise errors.ConfigError(f"{what}: group {group!r} is not a group on this host.") from exc
    return uid, gid


def _same(path: str, content: bytes, uid: int, gid: int, mode: int) -> bool:
    try:
        st = os.lstat(path)
        if (st.st_uid, st.st_gid, st.st_mode & 0o7777, st.st_size) != (uid, gid, mode,
                                                                         len(content)):
            return False
        with open(path, "rb") as handle:
            return handle.read() == content
    except OSError:
        return False


def write_atomic(path: str, content: bytes, uid: int, gid: int, mode: int) -> bool:
    """Write ``content`` to ``path`` atomically; False when it was already identical."""
    if _same(path, content, uid, gid, mode):
        return False
    directory = os.path.dirname(path) or "."
    tmp = os.path.join(directory,
                       f".{os.path.basename(path)}.tmp-{os.getpid()}-{threading.get_ident()}")
    try:
        os.makedirs(directory, mode=0o755, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW,
                     0o600)
        try:
            view = memoryview(content)
            while view:
                view = view[os.write(fd, view):]
            if (uid, gid) != (os.geteuid(), os.getegid()):
                os.fchown(fd, uid, gid)
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise errors.ConfigError(
            f"Cannot write {path} (owner {uid}:{gid}, mode {mode:04o}): {exc.strerror}."
        ) from exc
    return True


def materialize(fileset: FileSet, cwd: str) -> list[str]:
    """Write every file of ``fileset``; returns the destinations that changed on disk."""
    written = []
    for name, (spec, content) in sorted(fileset.items()):
        dest = resolve_dest(spec.dest, cwd)
        uid, gid = lookup_ids(spec.owner, spec.group, f"file {name!r} ({dest})")
        if write_atomic(dest, content, uid, gid, spec.mode_int):
            LOG.info("Wrote %s (%d bytes, %s:%s, mode %s)", dest, len(content), spec.owner,
                     spec.group, spec.mode)
            written.append(dest)
    return written


def remove_files(fileset: FileSet, names: Iterable[str], cwd: str) -> list[str]:
    """Delete the destinations of ``names`` (a job's own files, once it has ended)."""
    removed = []
    for name in sorted(set(names) & set(fileset)):
        dest = resolve_dest(fileset[name][0].dest, cwd)
        try:
            os.unlink(dest)
        except FileNotFoundError:
            continue
        except OSError as exc:
            LOG.warning("Could not remove %s: %s", dest, exc.strerror)
            continue
        LOG.info("Removed %s", dest)
        removed.append(dest)
    return removed


def make_directories(directories: tuple[DirectorySpec, ...], cwd: str) -> None:
    """Create missing directories and set their owner and mode (kolla's ``permissions``)."""
    for spec in directories:
        path = resolve_dest(spec.path, cwd)
        uid, gid = lookup_ids(spec.owner, spec.group, f"directory {path}")
        try:
            os.makedirs(path, mode=0o755, exist_ok=True)
            st = os.stat(path)
            if (st.st_uid, st.st_gid) != (uid, gid):
                os.chown(path, uid, gid)
            if st.st_mode & 0o7777 != int(spec.mode, 8):
                os.chmod(path, int(spec.mode, 8))
        except OSError as exc:
            raise errors.ConfigError(
                f"Cannot create directory {path} (owner {spec.owner}:{spec.group}, mode "
                f"{spec.mode}): {exc.strerror}."
            ) from exc
