"""Kubernetes' AtomicWriter: project a set of files into a volume directory in one atomic step.

Layout of a target directory (pkg/volume/util/atomic_writer.go)::

    <target>/..2026_11_27_12_30_05.123456789/   the real files of one version (a "timestamped dir")
    <target>/..data -> ..2026_11_27_12_30_05.123456789
    <target>/key    -> ..data/key               one symlink per top-level user-visible name
    <target>/dir    -> ..data/dir               (a nested path "dir/file" goes through its first part)

A write builds the whole new version in a fresh timestamped directory, points a ``..data_tmp``
symlink at it and renames that over ``..data`` -- ``rename(2)`` replaces a symlink atomically, so
anyone resolving ``..data`` gets either the complete old set or the complete new one, never a
mix. Only then are symlinks for new top-level names created, names no longer in the payload
removed, and the previous timestamped directory deleted.

A payload identical to what is on disk (same paths, same bytes, same modes) writes nothing; every
name beginning with ``..`` is reserved for the writer. Kubernetes compares only the bytes; this
writer also rewrites when a file's mode changed (a changed ``defaultMode`` takes effect).

Like Kubernetes' writer it is synchronous and not safe for concurrent writers on one directory;
the caller (the volume manager) serialises writes per volume.
"""

from __future__ import annotations

import datetime
import os
import shutil
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DATA_DIR_NAME = "..data"
NEW_DATA_DIR_NAME = "..data_tmp"
MAX_FILE_NAME_LENGTH = 255
MAX_PATH_LENGTH = 4096


@dataclass(frozen=True)
class FileProjection:
    """One file of a payload: its content and permission bits."""

    data: bytes
    mode: int = 0o644


class PayloadError(ValueError):
    """A payload path the writer refuses (absolute, with ``..``, too long)."""


def validate_path(path: str) -> None:
    """Kubernetes' ``validatePath``: relative, no ``..`` element, not starting with ``..``, not too long."""
    if path == "":
        raise PayloadError(f'invalid path: must not be empty: "{path}"')
    if os.path.isabs(path):
        raise PayloadError(f"invalid path: must be relative path: {path}")
    if len(path) > MAX_PATH_LENGTH:
        raise PayloadError(f"invalid path: must be less than or equal to {MAX_PATH_LENGTH} characters")
    items = path.split(os.sep)
    for item in items:
        if item == "..":
            raise PayloadError(f"invalid path: must not contain '..': {path}")
        if len(item) > MAX_FILE_NAME_LENGTH:
            raise PayloadError(f"invalid path: filenames must be less than or equal to {MAX_FILE_NAME_LENGTH} "
                               "characters")
    if items[0].startswith("..") and len(items[0]) > 2:
        raise PayloadError(f"invalid path: must not start with '..': {path}")


def clean_payload(payload: Mapping[str, FileProjection]) -> dict[str, FileProjection]:
    """Validate every path and normalise it (``a//b/./c`` -> ``a/b/c``)."""
    cleaned: dict[str, FileProjection] = {}
    for path, projection in payload.items():
        validate_path(path)
        cleaned[os.path.normpath(path)] = projection
    return cleaned


class AtomicWriter:
    """Writes payloads into ``target_dir`` (which must exist) atomically."""

    def __init__(self, target_dir: Path) -> None:
        if not target_dir.is_dir():
            raise FileNotFoundError(f"atomic writer target {target_dir} does not exist")
        self.target_dir = target_dir

    def write(self, payload: Mapping[str, FileProjection]) -> bool:
        """Project ``payload`` (relative path -> file); returns whether anything changed on disk."""
        cleaned = clean_payload(payload)
        old_ts = self._current_ts_dir()
        to_remove: set[str] = set()
        if old_ts is not None:
            to_remove = _paths_to_remove(cleaned, old_ts)
            if not to_remove and not _payload_differs(cleaned, old_ts):
                return False
        ts_dir = self._new_ts_dir()
        try:
            _write_payload(cleaned, ts_dir)
            self._swap_data_dir(ts_dir)
        except BaseException:
            shutil.rmtree(ts_dir, ignore_errors=True)
            raise
        self._create_user_visible_links(cleaned)
        self._remove_user_visible_paths(to_remove)
        if old_ts is not None and old_ts != ts_dir:
            shutil.rmtree(old_ts, ignore_errors=True)
        self._remove_stale_ts_dirs(keep=ts_dir.name)
        return True

    def read(self) -> dict[str, FileProjection]:
        """The payload currently projected (for tests and diagnostics)."""
        current = self._current_ts_dir()
        if current is None:
            return {}
        found: dict[str, FileProjection] = {}
        for path in sorted(current.rglob("*")):
            if path.is_file():
                found[str(path.relative_to(current))] = FileProjection(path.read_bytes(),
                                                                       stat.S_IMODE(path.stat().st_mode))
        return found

    # ---- steps

    def _current_ts_dir(self) -> Path | None:
        try:
            target = os.readlink(self.target_dir / DATA_DIR_NAME)
        except FileNotFoundError:
            return None
        return self.target_dir / target

    def _new_ts_dir(self) -> Path:
        now = datetime.datetime.now(datetime.UTC)
        prefix = now.strftime("..%Y_%m_%d_%H_%M_%S.")
        path = Path(tempfile.mkdtemp(prefix=prefix, dir=self.target_dir))
        # 0755 so that group and other can traverse it whatever the umask.
        path.chmod(0o755)
        return path

    def _swap_data_dir(self, ts_dir: Path) -> None:
        new_link = self.target_dir / NEW_DATA_DIR_NAME
        new_link.unlink(missing_ok=True)
        os.symlink(ts_dir.name, new_link)
        try:
            os.rename(new_link, self.target_dir / DATA_DIR_NAME)
        except BaseException:
            new_link.unlink(missing_ok=True)
            raise

    def _create_user_visible_links(self, payload: Mapping[str, FileProjection]) -> None:
        for path in payload:
            top = path.split(os.sep, 1)[0]
            visible = self.target_dir / top
            if not visible.is_symlink() and not visible.exists():
                os.symlink(os.path.join(DATA_DIR_NAME, top), visible)

    def _remove_user_visible_paths(self, paths: set[str]) -> None:
        for path in paths:
            if os.sep not in path:
                (self.target_dir / path).unlink(missing_ok=True)

    def _remove_stale_ts_dirs(self, *, keep: str) -> None:
        """Timestamped dirs left by an interrupted earlier write."""
        for entry in self.target_dir.iterdir():
            if entry.name.startswith("..") and entry.name not in (keep, DATA_DIR_NAME) \
                    and entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)


def _paths_to_remove(payload: Mapping[str, FileProjection], old_ts: Path) -> set[str]:
    """Paths of the current version that the new payload no longer has (nor has beneath it)."""
    if not old_ts.is_dir():
        return set()
    current = {str(path.relative_to(old_ts)) for path in old_ts.rglob("*")}
    wanted: set[str] = set()
    for path in payload:
        while path:
            wanted.add(path)
            path = os.path.dirname(path)
    return current - wanted


def _payload_differs(payload: Mapping[str, FileProjection], old_ts: Path) -> bool:
    return any(_file_differs(old_ts / path, projection) for path, projection in payload.items())


def _file_differs(path: Path, projection: FileProjection) -> bool:
    try:
        info = path.lstat()
    except FileNotFoundError:
        return True
    if not stat.S_ISREG(info.st_mode) or stat.S_IMODE(info.st_mode) != projection.mode:
        return True
    return path.read_bytes() != projection.data


def _write_payload(payload: Mapping[str, FileProjection], directory: Path) -> None:
    for relative, projection in payload.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, projection.mode)
        try:
            _write_all(fd, projection.data)
        finally:
            os.close(fd)
        # The umask applied at create; the mode asked for must hold regardless.
        os.chmod(path, projection.mode)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
