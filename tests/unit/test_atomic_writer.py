"""kubelet/atomic_writer.py: layout, updates, removals, no-ops, and readers never seeing a mix."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from kubelet.atomic_writer import DATA_DIR_NAME, AtomicWriter, FileProjection, PayloadError, validate_path


def hidden(target: Path) -> list[str]:
    return sorted(p.name for p in target.iterdir() if p.name.startswith(".."))


def test_first_write_builds_the_layout(tmp_path: Path) -> None:
    writer = AtomicWriter(tmp_path)
    assert writer.write({"a": FileProjection(b"1"), "dir/b": FileProjection(b"2", 0o600)}) is True

    data_link = os.readlink(tmp_path / DATA_DIR_NAME)
    assert data_link.startswith("..") and (tmp_path / data_link).is_dir()
    assert os.readlink(tmp_path / "a") == "..data/a"
    assert os.readlink(tmp_path / "dir") == "..data/dir"
    assert (tmp_path / "a").read_bytes() == b"1"
    assert (tmp_path / "dir" / "b").read_bytes() == b"2"
    assert stat.S_IMODE((tmp_path / "dir" / "b").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o644
    assert hidden(tmp_path) == sorted([DATA_DIR_NAME, data_link])


def test_timestamped_dir_name_format(tmp_path: Path) -> None:
    AtomicWriter(tmp_path).write({"a": FileProjection(b"1")})
    name = os.readlink(tmp_path / DATA_DIR_NAME)
    # ..YYYY_MM_DD_HH_MM_SS.<random>
    stamp, _, suffix = name[2:].partition(".")
    assert len(stamp.split("_")) == 6 and all(part.isdigit() for part in stamp.split("_")) and suffix


def test_update_swaps_data_and_removes_the_old_version(tmp_path: Path) -> None:
    writer = AtomicWriter(tmp_path)
    writer.write({"a": FileProjection(b"1"), "gone": FileProjection(b"x"), "d/keep": FileProjection(b"k"),
                  "d/drop": FileProjection(b"d")})
    first = os.readlink(tmp_path / DATA_DIR_NAME)

    assert writer.write({"a": FileProjection(b"2"), "d/keep": FileProjection(b"k"), "new": FileProjection(b"n")})
    second = os.readlink(tmp_path / DATA_DIR_NAME)
    assert second != first
    assert not (tmp_path / first).exists()
    assert (tmp_path / "a").read_bytes() == b"2"
    assert (tmp_path / "new").read_bytes() == b"n"
    assert not os.path.lexists(tmp_path / "gone")
    assert not (tmp_path / "d" / "drop").exists()
    assert (tmp_path / "d" / "keep").read_bytes() == b"k"
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("..")) == ["a", "d", "new"]
    assert hidden(tmp_path) == sorted([DATA_DIR_NAME, second])
    assert writer.read() == {"a": FileProjection(b"2"), "d/keep": FileProjection(b"k"), "new": FileProjection(b"n")}


def test_unchanged_payload_is_a_no_op(tmp_path: Path) -> None:
    writer = AtomicWriter(tmp_path)
    payload = {"a": FileProjection(b"1"), "x/y": FileProjection(b"2", 0o400)}
    assert writer.write(payload) is True
    before = os.readlink(tmp_path / DATA_DIR_NAME)
    assert writer.write(dict(payload)) is False
    assert os.readlink(tmp_path / DATA_DIR_NAME) == before


def test_mode_change_and_removal_alone_are_updates(tmp_path: Path) -> None:
    writer = AtomicWriter(tmp_path)
    writer.write({"a": FileProjection(b"1"), "b": FileProjection(b"2")})
    assert writer.write({"a": FileProjection(b"1", 0o400), "b": FileProjection(b"2")}) is True
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o400
    assert writer.write({"a": FileProjection(b"1", 0o400)}) is True
    assert not os.path.lexists(tmp_path / "b")


def test_empty_payload_leaves_an_empty_volume(tmp_path: Path) -> None:
    writer = AtomicWriter(tmp_path)
    writer.write({"a": FileProjection(b"1")})
    assert writer.write({}) is True
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith("..")] == []
    assert writer.write({}) is False


def test_paths_are_cleaned_and_validated(tmp_path: Path) -> None:
    writer = AtomicWriter(tmp_path)
    writer.write({"a//b/./c": FileProjection(b"1")})
    assert (tmp_path / "a" / "b" / "c").read_bytes() == b"1"
    for bad, message in [("", "must not be empty"), ("/etc/passwd", "must be relative path"),
                         ("a/../b", "must not contain '..'"), ("..x/y", "must not start with '..'"),
                         ("a/" + "x" * 256, "filenames must be less than or equal to 255 characters")]:
        with pytest.raises(PayloadError, match=message):
            validate_path(bad)
    with pytest.raises(PayloadError):
        writer.write({"..data": FileProjection(b"evil")})
    assert (tmp_path / "a" / "b" / "c").read_bytes() == b"1"


def test_missing_target_dir_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        AtomicWriter(tmp_path / "nope")


def test_leftover_timestamped_dirs_are_cleaned(tmp_path: Path) -> None:
    (tmp_path / "..2020_01_01_00_00_00.123").mkdir()
    writer = AtomicWriter(tmp_path)
    writer.write({"a": FileProjection(b"1")})
    assert hidden(tmp_path) == sorted([DATA_DIR_NAME, os.readlink(tmp_path / DATA_DIR_NAME)])


def test_readers_never_see_a_mix(tmp_path: Path) -> None:
    """A reader resolving ..data once sees one whole version; a file is never half written."""
    writer = AtomicWriter(tmp_path)
    big = 64 * 1024

    def payload(version: int) -> dict[str, FileProjection]:
        tag = str(version).encode()
        return {"a": FileProjection(tag * big), "b": FileProjection(tag * big), "sub/c": FileProjection(tag)}

    writer.write(payload(0))
    stop = threading.Event()
    problems: list[str] = []
    snapshots = [0]

    def reader() -> None:
        while not stop.is_set():
            try:
                version_dir = tmp_path / os.readlink(tmp_path / DATA_DIR_NAME)
                contents = [(version_dir / name).read_bytes() for name in ("a", "b", "sub/c")]
                visible = (tmp_path / "a").read_bytes()
            except FileNotFoundError:
                continue  # the version was replaced and removed while we read: read again
            tags = {contents[0][: len(contents[2])], contents[1][: len(contents[2])], contents[2]}
            if len(tags) != 1 or len(contents[0]) != len(contents[2]) * big:
                problems.append(f"mixed or partial snapshot: {[c[:8] for c in contents]}")
            if len(visible) % big or visible != visible[: len(visible) // big] * big:
                problems.append("partial visible file")
            snapshots[0] += 1

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    for version in range(1, 200):
        writer.write(payload(version))
    stop.set()
    for thread in threads:
        thread.join()
    assert problems == []
    assert snapshots[0] > 0
    assert (tmp_path / "sub" / "c").read_bytes() == b"199"
