"""The generated code in skiff/api/v1 is exactly what the .proto sources produce.

The test regenerates every proto with the same command as the Makefile's ``proto`` target
(``grpc_tools.protoc -I proto --python_out --grpc_python_out --mypy_out``, with the virtualenv's
``bin`` first on PATH so protoc finds ``protoc-gen-mypy``) into a temporary directory, and compares
the result byte for byte with the committed files. A .proto edited without ``make proto`` (or a
generated file edited by hand, or one left behind by a deleted .proto) fails here.
"""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROTO_ROOT = ROOT / "proto"
PACKAGE = Path("skiff") / "api" / "v1"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")
HINT = "the generated code in skiff/api/v1 is out of date with proto/: run `make proto` and commit the result"


def _generated_files(directory: Path) -> dict[str, bytes]:
    if not directory.is_dir():
        return {}
    return {
        p.name: p.read_bytes()
        for p in sorted(directory.iterdir())
        if p.is_file() and p.name.endswith(GENERATED_SUFFIXES)
    }


def _regenerate(out: Path) -> None:
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    assert shutil.which("protoc-gen-mypy", path=env["PATH"]), (
        "protoc-gen-mypy not found next to the interpreter: install the dev extras (pip install -e '.[dev]')"
    )
    protos = sorted(str(p.relative_to(ROOT)) for p in (PROTO_ROOT / PACKAGE).glob("*.proto"))
    assert protos, "no .proto sources found"
    result = subprocess.run(
        [
            sys.executable, "-m", "grpc_tools.protoc", "-I", "proto",
            f"--python_out={out}", f"--grpc_python_out={out}", f"--mypy_out={out}",
            *protos,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"protoc failed:\n{result.stderr}"


def _diff(name: str, committed: bytes, fresh: bytes, *, limit: int = 40, width: int = 160) -> str:
    lines = difflib.unified_diff(
        committed.decode(errors="replace").splitlines(),
        fresh.decode(errors="replace").splitlines(),
        fromfile=f"committed/{name}",
        tofile=f"regenerated/{name}",
        lineterm="",
    )
    return "\n".join(line if len(line) <= width else line[: width - 3] + "..." for line in list(lines)[:limit])


def test_generated_code_matches_proto_sources(tmp_path: Path) -> None:
    _regenerate(tmp_path)
    fresh = _generated_files(tmp_path / PACKAGE)
    committed = _generated_files(ROOT / PACKAGE)

    sources = {p.stem for p in (PROTO_ROOT / PACKAGE).glob("*.proto")}
    expected_names = {f"{stem}{suffix}" for stem in sources for suffix in GENERATED_SUFFIXES}
    assert set(fresh) == expected_names, f"protoc produced {sorted(fresh)}, expected {sorted(expected_names)}"

    missing = sorted(set(fresh) - set(committed))
    stale = sorted(set(committed) - set(fresh))
    changed = sorted(name for name in set(fresh) & set(committed) if fresh[name] != committed[name])
    problems = []
    if missing:
        problems.append(f"not generated yet: {missing}")
    if stale:
        problems.append(f"left over with no .proto source: {stale}")
    if changed:
        problems.append(f"differ from their .proto source: {changed}")
        # the .pyi stubs show the change readably; the _pb2.py holds a serialized descriptor
        shown = next((name for name in changed if name.endswith(".pyi")), changed[0])
        problems.append(_diff(shown, committed[shown], fresh[shown]))
    if problems:
        pytest.fail(HINT + "\n" + "\n".join(problems), pytrace=False)
