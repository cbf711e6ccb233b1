"""``skiffctl diff``'s pure parts — file names, managedFields, Secret masking, the diff program's
command line and exit codes — and one whole run against an in-memory client, with the program
swapped (``KUBECTL_EXTERNAL_DIFF``) for one that shows what it was given."""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import sys
from typing import Any

import pytest

from skiff.api import errors
from skiff.api.manifest import from_manifest
from skiff.cli.commands import diff
from skiff.cli.context import Context
from skiff.cli.main import build_parser


def manifest(kind: str, name: str, **extra: Any) -> dict[str, Any]:
    api_version = "apps/v1" if kind == "Deployment" else "v1"
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name}, **extra}


# ---- names ----

def test_file_names_follow_kubectl() -> None:
    assert diff.file_name(from_manifest(manifest("Deployment", "web")), "default") == "apps.v1.Deployment.default.web"
    assert diff.file_name(from_manifest(manifest("ConfigMap", "cm")), "t1") == "v1.ConfigMap.t1.cm"
    assert diff.file_name(from_manifest(manifest("Namespace", "dev")), "") == "v1.Namespace..dev"


# ---- what is printed ----

def test_managed_fields_are_dropped_unless_asked_for() -> None:
    obj = from_manifest(manifest("ConfigMap", "cm"))
    obj.metadata.managed_fields.add(manager="kubectl", operation="Update")
    assert "managedFields" not in diff.printable(obj)["metadata"]  # type: ignore[index]
    kept = diff.printable(obj, show_managed_fields=True)
    assert kept is not None and kept["metadata"]["managedFields"][0]["manager"] == "kubectl"
    assert diff.printable(None) is None


def secret(data: dict[str, str] | None) -> dict[str, Any]:
    return manifest("Secret", "s", **({"data": data} if data is not None else {}))


@pytest.mark.parametrize(("before", "after", "masked_before", "masked_after"), [
    # diff.go's Masker cases: same values, a changed one, one added and one removed, a new Secret.
    ({"a": "YQ==", "b": "Yg=="}, {"a": "YQ==", "b": "Yg=="}, {"a": "***", "b": "***"}, {"a": "***", "b": "***"}),
    ({"a": "YQ==", "b": "Yg=="}, {"a": "YQ==", "b": "Yw=="},
     {"a": "***", "b": "*** (before)"}, {"a": "***", "b": "*** (after)"}),
    ({"a": "YQ==", "gone": "Zw=="}, {"a": "YQ==", "new": "bg=="}, {"a": "***", "gone": "***"},
     {"a": "***", "new": "***"}),
    (None, {"a": "YQ=="}, None, {"a": "***"}),
    ({"a": "YQ=="}, None, {"a": "***"}, None),
])
def test_secret_data_is_masked_as_kubectl_masks_it(before: dict[str, str] | None, after: dict[str, str] | None,
                                                    masked_before: dict[str, str] | None,
                                                    masked_after: dict[str, str] | None) -> None:
    live, merged = secret(before), secret(after)
    got_live, got_merged = diff.mask_secret_data(live, merged)
    assert (got_live or {}).get("data") == masked_before
    assert (got_merged or {}).get("data") == masked_after
    assert live == secret(before) and merged == secret(after)  # the originals are left alone


def test_an_absent_live_version_stays_absent() -> None:
    assert diff.mask_secret_data(None, secret({"a": "YQ=="})) == (None, secret({"a": "***"}))


def test_version_texts_mask_secrets_only() -> None:
    live = from_manifest(secret({"k": "b2xk"}))
    merged = from_manifest(secret({"k": "bmV3"}))
    before, after = diff.version_texts(live, merged)
    assert "k: '*** (before)'" in before and "k: '*** (after)'" in after
    assert "b2xk" not in before + after and "bmV3" not in before + after
    config = from_manifest(manifest("ConfigMap", "cm", data={"k": "v"}))
    before, after = diff.version_texts(None, config)
    assert before == "" and "k: v" in after


# ---- the program ----

def test_default_diff_command() -> None:
    assert diff.diff_command("/t/LIVE-1", "/t/MERGED-2") == ["diff", "-u", "-N", "/t/LIVE-1", "/t/MERGED-2"]


def test_external_diff_is_split_on_spaces_and_unsafe_words_dropped() -> None:
    assert diff.diff_command("L", "M", "colordiff -N -u") == ["colordiff", "L", "M", "-N", "-u"]
    assert diff.diff_command("L", "M", "meld") == ["meld", "L", "M"]
    assert diff.diff_command("L", "M", "diff  --color=always $(rm) -r;x") == ["diff", "L", "M", "--color=always"]


def run(argv: list[str]) -> tuple[int | str, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        code: int | str = asyncio.run(diff.run_program(argv, out=out, err=err))
    except diff.DiffProgramError as exc:
        code = str(exc)
    return code, out.getvalue(), err.getvalue()


def test_program_output_passes_through_and_0_or_1_is_its_answer() -> None:
    assert run([sys.executable, "-c", "print('same')"]) == (0, "same\n", "")
    assert run([sys.executable, "-c", "import sys; print('differs'); sys.exit(1)"]) == (1, "differs\n", "")


def test_program_failures_read_as_kubectl_reports_them() -> None:
    code, _, err = run([sys.executable, "-c", "import sys; sys.stderr.write('bad\\n'); sys.exit(3)"])
    assert code == f'failed to run "{sys.executable}": exit status 3' and err == "bad\n"
    assert run(["no-such-diff-program"])[0] == \
        'failed to run "no-such-diff-program": exec: "no-such-diff-program": executable file not found in $PATH'
    assert run(["", "L", "M"])[0] == 'failed to run "": exec: no command'


# ---- consistency of the two reads ----

def test_the_dry_run_must_start_from_the_live_version() -> None:
    live = from_manifest(manifest("ConfigMap", "cm"))
    live.metadata.resource_version = "7"
    same, newer = from_manifest(manifest("ConfigMap", "cm")), from_manifest(manifest("ConfigMap", "cm"))
    same.metadata.resource_version, newer.metadata.resource_version = "7", "9"
    assert diff.from_same_version(live, "configured", same)
    assert not diff.from_same_version(live, "configured", newer)
    assert diff.from_same_version(None, "created", same)
    assert not diff.from_same_version(None, "configured", same)


# ---- the verb ----

class FakeClient:
    """Just enough of Client for apply: nothing exists yet; a dry-run create returns the object."""

    def __init__(self) -> None:
        self.created: list[tuple[Any, bool]] = []

    async def get(self, cls: Any, name: str, *, namespace: str | None = None) -> Any:
        raise errors.NotFound(f'configmaps "{name}" not found')

    async def create(self, obj: Any, *, namespace: str | None = None, dry_run: bool = False) -> Any:
        self.created.append((obj, dry_run))
        obj.metadata.namespace = namespace or ""
        return obj


def context(argv: list[str]) -> tuple[Context, io.StringIO, io.StringIO]:
    args = build_parser().parse_args(argv)
    out, err = io.StringIO(), io.StringIO()
    ctx = Context(args=args, server="unused:1", namespace="default", namespace_explicit=False, out=out, err=err)
    return ctx, out, err


def test_a_run_writes_live_and_merged_directories_named_as_kubectl(tmp_path: Any,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\ndata: {k: v}\n")
    # The "diff program" (on PATH: kubectl keeps only plain words after the program's name) prints
    # each directory's kind of version with its files and how they start, and exits 0.
    lister = tmp_path / "bin" / "lister"
    lister.parent.mkdir()
    lister.write_text(f"#!{sys.executable}\n"
                      "import pathlib, sys\n"
                      "for d in sys.argv[1:3]:\n"
                      "    for f in sorted(pathlib.Path(d).iterdir()):\n"
                      "        print(pathlib.Path(d).name.split('-')[0], f.name, repr(f.read_text()[:10]))\n")
    lister.chmod(0o755)
    monkeypatch.setenv("PATH", f"{lister.parent}:{os.environ['PATH']}")
    monkeypatch.setenv(diff.EXTERNAL_DIFF, "lister")
    ctx, out, err = context(["diff", "-f", str(tmp_path / "cm.yaml")])
    fake = FakeClient()
    ctx._client = fake  # type: ignore[assignment]
    assert asyncio.run(diff.run_diff(ctx)) == 0, err.getvalue()
    assert out.getvalue() == "LIVE v1.ConfigMap.default.cm ''\nMERGED v1.ConfigMap.default.cm 'apiVersion'\n"
    assert err.getvalue() == ""
    assert [dry for _, dry in fake.created] == [True]  # nothing is written: a server-side dry run


@pytest.mark.parametrize(("argv", "message"), [
    (["diff"], "error: must specify one of -f and -k"),
    (["diff", "-f", "x.yaml", "extra"],
     "error: Unexpected args: [extra]\nSee 'skiffctl diff -h' for help and examples"),
    (["diff", "-f", "x.yaml", "--force-conflicts"], "error: --force-conflicts only works with --server-side"),
    (["diff", "-f", "x.yaml", "--server-side"],
     "error: --server-side is not supported: skiff has no server-side apply"),
    (["diff", "-f", "/no/such/file.yaml"], 'error: the path "/no/such/file.yaml" does not exist'),
])
def test_errors_exit_2_because_1_means_differences(argv: list[str], message: str) -> None:
    ctx, out, err = context(argv)
    assert asyncio.run(diff.run_diff(ctx)) == 2
    assert err.getvalue().startswith(message) and out.getvalue() == ""


def test_flag_errors_exit_2_too(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["diff", "-f", "x", "--bogus"], ["diff", "-f"], ["diff", "-f", "x", "--concurrency", "many"]):
        with pytest.raises(SystemExit) as exited:
            build_parser().parse_args(argv)
        assert exited.value.code == 2, argv
        assert capsys.readouterr().err.startswith("error: ")


def test_the_other_verbs_keep_exit_code_1_for_flag_errors() -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["apply", "-f", "x", "--bogus"])
    assert exited.value.code == 1


def test_parsed_flags() -> None:
    args: argparse.Namespace = build_parser().parse_args(["diff", "-f", "a.yaml", "-f", "b/", "-R", "-l", "app=web"])
    assert (args.filename, args.recursive, args.selector) == (["a.yaml", "b/"], True, "app=web")
    assert not args.server_side
