"""The parts of ``skiffctl edit`` that need no server: the patch from the object as fetched to the
object as saved, comment stripping and change detection, the header, the editor's command line,
and one edit session against a fake client with shell-script editors."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import Message

from skiff.api import errors
from skiff.api.manifest import LAST_APPLIED, from_manifest, to_manifest
from skiff.cli.applying import apply_object
from skiff.cli.commands import edit
from skiff.cli.context import Context, UsageError
from tests.support.samples import sample

# ---- the patch ----


def test_patch_of_a_changed_scalar() -> None:
    assert edit.edit_patch({"spec": {"replicas": 1, "paused": False}},
                           {"spec": {"replicas": 3, "paused": False}}) == {"spec": {"replicas": 3}}


def test_patch_of_an_added_key() -> None:
    before = {"metadata": {"name": "web", "labels": {"app": "web"}}}
    after = {"metadata": {"name": "web", "labels": {"app": "web", "tier": "db"}}}
    assert edit.edit_patch(before, after) == {"metadata": {"labels": {"tier": "db"}}}


def test_patch_of_a_removed_key_is_null() -> None:
    before = {"metadata": {"labels": {"app": "web", "tier": "db"}}, "spec": {"paused": True}}
    after = {"metadata": {"labels": {"app": "web"}}}
    assert edit.edit_patch(before, after) == {"metadata": {"labels": {"tier": None}}, "spec": None}


def test_patch_replaces_a_changed_list_whole() -> None:
    before = {"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}}
    after = {"spec": {"containers": [{"name": "a", "image": "x2"}]}}
    assert edit.edit_patch(before, after) == {"spec": {"containers": [{"name": "a", "image": "x2"}]}}


def test_patch_of_nothing_changed_is_empty() -> None:
    doc = to_manifest(from_manifest(sample("Deployment", name="web")))
    assert edit.edit_patch(doc, json.loads(json.dumps(doc))) == {}


def test_identity_changes() -> None:
    assert edit.changes_identity({"kind": "ReplicaSet"})
    assert edit.changes_identity({"apiVersion": "apps/v2"})
    assert edit.changes_identity({"metadata": {"name": "other"}})
    assert not edit.changes_identity({"metadata": {"labels": {"a": "b"}}, "spec": {"replicas": 2}})


def test_save_config_records_the_object_without_the_annotation() -> None:
    doc: dict[str, Any] = {"kind": "ConfigMap",
                           "metadata": {"name": "c", "annotations": {LAST_APPLIED: "old", "x": "y"}}}
    out = edit.with_last_applied(doc)
    assert json.loads(out["metadata"]["annotations"][LAST_APPLIED]) == {
        "kind": "ConfigMap", "metadata": {"name": "c", "annotations": {"x": "y"}}}
    assert out["metadata"]["annotations"]["x"] == "y"
    assert doc["metadata"]["annotations"][LAST_APPLIED] == "old"  # the input is left alone


class CreatingClient:
    """Just enough of Client for apply to create: nothing exists, a create returns the object."""

    async def get(self, cls: Any, name: str, *, namespace: str | None = None) -> Any:
        raise errors.NotFound(f'configmaps "{name}" not found')

    async def create(self, obj: Message, *, namespace: str | None = None, dry_run: bool = False) -> Message:
        return obj


async def test_save_config_writes_the_annotation_as_apply_does() -> None:
    """Non-ASCII values too: a later apply compares the annotation's text, so both must write the same."""
    doc: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "caf\u00e9"},
                           "metadata": {"name": "c", "namespace": "default", "labels": {"app": "web"},
                                        "annotations": {"note": "\u65e5\u672c"}}}
    _, applied = await apply_object(CreatingClient(), from_manifest(doc), namespace="default")  # type: ignore[arg-type]
    edited = edit.with_last_applied(doc)
    assert edited["metadata"]["annotations"][LAST_APPLIED] == applied.metadata.annotations[LAST_APPLIED]  # type: ignore[attr-defined]


# ---- comments and changes ----


def test_manual_strip_drops_comment_lines_only() -> None:
    text = "# header\n#\na: 1\n  # indented comment\nb: '#not a comment'\n"
    assert edit.manual_strip(text) == "a: 1\nb: '#not a comment'\n"


def test_strip_comments_compares_content_not_layout() -> None:
    original = edit.HEADER + "a: 1\nb:\n  c: [1, 2]\n"
    assert edit.strip_comments(original) == edit.strip_comments("b: {c: [1, 2]}\n# later\na: 1\n")
    assert edit.strip_comments(original) != edit.strip_comments("a: 2\nb: {c: [1, 2]}\n")


def test_strip_comments_of_text_that_does_not_parse() -> None:
    broken = "# header\nfoo: [\n"
    assert edit.strip_comments(broken) == "foo: [\n"
    assert edit.strip_comments(broken) == edit.strip_comments("# another header\n# reason\nfoo: [\n")


def test_has_lines() -> None:
    assert not edit.has_lines(edit.HEADER + "\n   \n")
    assert edit.has_lines("# c\nkind: Pod\n")


def test_header_with_reasons() -> None:
    reasons = [edit.Reason("The edited file had a syntax error: line 1\nline 2"),
               edit.Reason('deployments.apps "web" was not valid', ("spec.replicas: Invalid value: -1: bad",))]
    assert edit.header(reasons) == edit.HEADER + (
        "# The edited file had a syntax error: line 1\n# line 2\n#\n"
        '# deployments.apps "web" was not valid:\n# * spec.replicas: Invalid value: -1: bad\n#\n')


def test_invalid_causes() -> None:
    one = 'Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be >= 0'
    assert edit.invalid_causes(one) == ("spec.replicas: Invalid value: -1: must be >= 0",)
    many = ('Pod "p" is invalid: [metadata.labels[a/b]: Invalid value: "x, y": bad, '
            'spec.containers[0].image: Required value]')
    assert edit.invalid_causes(many) == ('metadata.labels[a/b]: Invalid value: "x, y": bad',
                                         "spec.containers[0].image: Required value")
    assert edit.invalid_causes("something else") == ()


def test_render_one_object_or_a_list() -> None:
    a, b = (from_manifest(sample("ConfigMap", name=n)) for n in ("a", "b"))
    assert edit.render([a], "yaml").startswith("apiVersion: v1\ndata:\n  k: v\nkind: ConfigMap\n")
    listed = edit.render([a, b], "yaml")
    assert listed.startswith("apiVersion: v1\nitems:\n- apiVersion: v1\n")
    assert listed.endswith("kind: List\nmetadata: {}\n")
    assert json.loads(edit.render([a], "json"))["metadata"]["name"] == "a"


# ---- the editor ----


@pytest.mark.parametrize(("env", "args", "shell"), [
    ({}, ("vi",), False),
    ({"EDITOR": "nano"}, ("nano",), False),
    ({"EDITOR": "nano", "KUBE_EDITOR": "vim"}, ("vim",), False),
    ({"KUBE_EDITOR": "", "EDITOR": "code --wait"}, ("code", "--wait"), False),
    ({"EDITOR": "emacs -nw 'x'", "SHELL": "/bin/zsh"}, ("/bin/zsh", "-c", "emacs -nw 'x'"), True),
    ({"EDITOR": 'my\\ editor'}, ("/bin/bash", "-c", 'my\\ editor'), True),
])
def test_editor_from_env(env: dict[str, str], args: tuple[str, ...], shell: bool) -> None:
    assert edit.Editor.from_env(env) == edit.Editor(args, shell)


def test_editor_command_line() -> None:
    assert edit.Editor(("code", "--wait")).command("/tmp/f.yaml") == ["code", "--wait", "/tmp/f.yaml"]
    shell = edit.Editor(("/bin/sh", "-c", "ed 'x'"), shell=True)
    assert shell.command("/tmp/f.yaml") == ["/bin/sh", "-c", "ed 'x' \"/tmp/f.yaml\""]


def test_arguments_checked_before_anything_is_fetched() -> None:
    def check(*argv: str, output: str = "", subresource: str = "", filename: tuple[str, ...] = ()) -> None:
        edit.check_args(argparse.Namespace(targets=list(argv), filename=list(filename), output=output,
                                           subresource=subresource))

    with pytest.raises(UsageError, match="You must provide one or more resources by argument or filename"):
        check()
    with pytest.raises(UsageError, match='output format "wide", allowed formats are: json,yaml'):
        check("pod/x", output="wide")
    with pytest.raises(UsageError, match=r'invalid subresource value: "scale". Must be one of \[status\]'):
        check("deploy/x", subresource="scale")
    check("deploy/x", output="json", subresource="status")


# ---- a session against a fake client ----


class FakeClient:
    def __init__(self, obj: Message, fail: errors.StatusError | None = None) -> None:
        self.obj, self.fail = obj, fail
        self.patches: list[dict[str, Any]] = []

    async def patch(self, cls: type[Message], name: str, patch: dict[str, Any], **kw: Any) -> Message:
        self.patches.append(patch)
        if self.fail:
            raise self.fail
        return self.obj


def session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str,
            fail: errors.StatusError | None = None) -> tuple[edit.Session, FakeClient, Context]:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    editor = tmp_path / "ed.sh"
    editor.write_text("#!/bin/sh\n" + script + "\n")
    editor.chmod(0o755)
    doc = sample("ConfigMap", name="c")
    doc["metadata"].update(namespace="default", uid="u-1")
    obj = from_manifest(doc)
    client = FakeClient(obj, fail)
    args = argparse.Namespace(output="", output_patch=True, save_config=False, subresource="")
    ctx = Context(args=args, server="x", namespace="default", namespace_explicit=False, out=io.StringIO(),
                  err=io.StringIO(), _client=client)  # type: ignore[arg-type]
    return edit.Session(ctx, [obj], "yaml", edit.Editor((str(editor),))), client, ctx


async def test_session_unchanged_sends_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s, client, ctx = session(tmp_path, monkeypatch, 'printf "# a new comment\\n" >> "$1"')
    assert await s.run() == 0
    assert client.patches == [] and ctx.err.getvalue() == "Edit cancelled, no changes made.\n"  # type: ignore[attr-defined]
    assert list(tmp_path.glob("skiffctl-edit-*")) == []


async def test_session_patches_only_the_change(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s, client, ctx = session(tmp_path, monkeypatch, 'sed -i "s/  k: v/  k: w/" "$1"')
    assert await s.run() == 0
    assert client.patches == [{"data": {"k": "w"}}]
    assert ctx.out.getvalue() == 'Patch: {"data":{"k":"w"}}\nconfigmap/c edited\n'  # type: ignore[attr-defined]


async def test_session_other_errors_keep_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s, _, ctx = session(tmp_path, monkeypatch, 'sed -i "s/  k: v/  k: w/" "$1"', fail=errors.Conflict("stale"))
    assert await s.run() == 1
    [kept] = tmp_path.glob("skiffctl-edit-*.yaml")
    assert ctx.err.getvalue() == ('error: configmaps "c" could not be patched: stale\n'  # type: ignore[attr-defined]
                                  f"You can run `skiffctl replace -f {kept}` to try this update again.\n")
