"""``skiffctl completion bash|zsh`` and the hidden ``__complete`` verb its scripts call: verbs,
sub-verbs, flags, types and flag values from the live parser; names through a stub fetcher (and
once from a real apiserver); the bash script run by bash with COMP_WORDS set."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from skiff.cli.commands import completion
from skiff.cli.commands.completion import FILES, NO_SPACE, complete, fetch_names
from skiff.cli.main import build_parser
from tests.support.cli import skiffctl

BIN = Path(sys.executable).parent


class Stub:
    """A NameFetcher that records its calls and answers from a table."""

    def __init__(self, names: dict[str, list[str]] | None = None) -> None:
        self.names = names or {}
        self.calls: list[tuple[str, dict[str, str]]] = []

    async def __call__(self, type_text: str, flags: dict[str, str]) -> list[str]:
        self.calls.append((type_text, flags))
        return self.names.get(type_text, [])


async def cands(*words: str, fetch: Stub | None = None) -> list[str]:
    return (await complete(build_parser(), list(words), fetch or Stub()))[0]


async def directive(*words: str) -> int:
    return (await complete(build_parser(), list(words), Stub()))[1]


# ---- verbs, sub-verbs, flags, types ----

async def test_verbs() -> None:
    verbs = await cands("")
    assert {"get", "rollout", "create", "config", "set", "completion", "port-forward"} <= set(verbs)
    assert "__complete" not in verbs
    assert "svc" not in verbs  # aliases are not offered
    assert await cands("ro") == ["rollout"]
    assert await cands("-n", "team", "ro") == ["rollout"]  # global flags before the verb


async def test_sub_verbs() -> None:
    assert await cands("rollout", "") == ["status", "history", "undo", "pause", "resume", "restart"]
    assert await cands("create", "dep") == ["deployment"]
    assert await cands("create", "secret", "") == ["generic", "docker-registry", "tls"]
    assert await cands("config", "use") == ["use-context"]
    assert await cands("set", "im") == ["image"]


async def test_flags_of_the_verb_being_typed() -> None:
    assert await cands("get", "--sel") == ["--selector"]
    flags = await cands("get", "pods", "-")
    assert {"-o", "--output", "-l", "-A", "-w", "-n", "--namespace", "--context"} <= set(flags)
    assert "--tail" not in flags
    assert await cands("logs", "--ta") == ["--tail"]
    assert await cands("rollout", "undo", "--to") == ["--to-revision"]
    assert "--replicas" in await cands("scale", "-")
    assert await cands("--req") == ["--request-timeout"]  # before any verb: the global flags


async def test_resource_types() -> None:
    assert await cands("get", "deplo") == ["deploy", "deployment", "deployments"]
    types = await cands("delete", "")
    assert {"po", "pod", "pods", "svc", "cm", "ns", "cronjobs"} <= set(types)
    for verb in (["describe"], ["edit"], ["label"], ["annotate"], ["patch"], ["scale"], ["wait"],
                 ["rollout", "status"], ["set", "image"], ["explain"]):
        assert "deployments" in await cands(*verb, ""), verb
    assert await cands("get", "pods,sv") == ["pods,svc"]
    assert await cands("get", "-o", "yaml", "dep") == ["deploy", "deployment", "deployments"]
    assert await cands("port-forward", "sv") == ["svc/"]
    assert await directive("port-forward", "sv") == NO_SPACE


async def test_flag_values() -> None:
    formats = await cands("get", "-o", "")
    assert {"json", "yaml", "wide", "name", "jsonpath", "custom-columns", "go-template"} <= set(formats)
    assert await cands("get", "--output=ya") == ["--output=yaml"]
    assert await cands("get", "pods", "-ojs") == []  # not --flag=: only the value after a space completes
    assert await cands("config", "view", "-o", "") == ["yaml", "json"]  # the flag's choices
    assert await cands("delete", "pods", "--dry-run", "") == ["none", "client", "server"]
    assert await directive("apply", "-f", "") == FILES
    assert await directive("get", "--filename", "") == FILES


async def test_namespace_and_context_values(tmp_path: Path) -> None:
    stub = Stub({"namespaces": ["default", "team-a", "team-b"]})
    assert await cands("get", "pods", "-n", "te", fetch=stub) == ["team-a", "team-b"]
    assert await cands("--namespace", "", fetch=stub) == ["default", "team-a", "team-b"]
    assert await cands("get", "--namespace=t", fetch=stub) == ["--namespace=team-a", "--namespace=team-b"]
    assert stub.calls[0] == ("namespaces", {})

    config = tmp_path / "config"
    config.write_text("current-context: a\ncontexts:\n- {name: a, context: {server: x}}\n"
                      "- {name: b2, context: {server: y}}\n")
    assert await cands("--config", str(config), "get", "--context", "") == ["a", "b2"]
    assert await cands("--config", str(config), "config", "use-context", "") == ["a", "b2"]
    assert await cands("--kubeconfig", str(config), "config", "use-context", "b") == ["b2"]


# ---- names (stub) ----

async def test_names_after_a_type() -> None:
    stub = Stub({"pods": ["web-1", "web-2", "db-0"], "po": ["web-1", "web-2", "db-0"],
                 "deploy": ["web"], "node": ["n1", "n2"], "nodes": ["n1", "n2"]})
    assert await cands("get", "pods", "we", fetch=stub) == ["web-1", "web-2"]
    assert stub.calls[-1] == ("pods", {})
    assert await cands("-n", "team", "--context", "c", "get", "pods", "", fetch=stub) == ["web-1", "web-2", "db-0"]
    assert stub.calls[-1] == ("pods", {"namespace": "team", "context": "c"})
    assert await cands("get", "pods", "-n", "team", "d", fetch=stub) == ["db-0"]
    assert stub.calls[-1] == ("pods", {"namespace": "team"})
    assert await cands("get", "po/w", fetch=stub) == ["po/web-1", "po/web-2"]
    assert await cands("rollout", "status", "deploy", "", fetch=stub) == ["web"]
    assert await cands("set", "image", "deploy/", fetch=stub) == ["deploy/web"]
    assert await cands("logs", "db", fetch=stub) == ["db-0"]  # POD|TYPE/NAME: pods first
    assert await cands("taint", "", fetch=stub) == ["node"]
    assert await cands("taint", "node", "", fetch=stub) == ["n1", "n2"]
    assert await cands("cordon", "n", fetch=stub) == ["n1", "n2"]
    # not a name slot: label's KEY=VAL, an unknown type, several types
    assert await cands("label", "pods", "web-1", "", fetch=stub) == []
    assert await cands("get", "nosuchtype", "", fetch=stub) == []
    assert await cands("get", "pods,svc", "", fetch=stub) == []
    assert await cands("create", "deployment", "", fetch=stub) == []


async def test_fetch_names_without_a_server_is_silent(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("SKIFF_CONFIG", raising=False)
    monkeypatch.setenv("SKIFF_SERVER", "127.0.0.1:1")  # nothing listens there
    assert await fetch_names("pods", {"namespace": "x"}) == []
    assert await fetch_names("nosuchtype", {}) == []


# ---- the verbs as skiffctl runs them ----

def test_complete_verb_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert skiffctl(["__complete", "get", "--sel"], capsys) == (0, "--selector\n:0\n", "")
    # flags in the completed line are not skiffctl's own: `--server` here is a word to complete
    code, out, _ = skiffctl(["__complete", "--ser"], capsys)
    assert (code, out) == (0, "--server\n:0\n")
    code, out, _ = skiffctl(["__complete", "-n", "x", "-h"], capsys)
    assert (code, out) == (0, "-h\n:0\n")


def test_complete_is_hidden(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        skiffctl(["-h"], capsys)
    out = capsys.readouterr().out
    assert "__complete" not in out
    assert "completion" in out


@pytest.mark.parametrize(("argv", "message"), [
    (["completion"], "error: Shell not specified."),
    (["completion", "fish2"], 'error: Unsupported shell type "fish2".'),
    (["completion", "bash", "zsh"], "error: Too many arguments. Expected only the shell type."),
])
def test_completion_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert skiffctl(argv, capsys) == (1, "", f"{message}\nSee 'skiffctl completion -h' for help and examples\n")


def test_completion_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        skiffctl(["completion", "-h"], capsys)
    out = capsys.readouterr().out
    assert "usage: skiffctl completion SHELL [options]" in out
    assert "source <(skiffctl completion bash)" in out
    assert "source <(skiffctl completion zsh)" in out


# ---- the scripts ----

def script(shell: str, capsys: pytest.CaptureFixture[str]) -> str:
    code, out, err = skiffctl(["completion", shell], capsys)
    assert (code, err) == (0, "")
    return out


def test_bash_script_parses(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "skiffctl.bash"
    path.write_text(script("bash", capsys))
    done = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert (done.returncode, done.stderr) == (0, "")


def test_zsh_script_parses(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "_skiffctl"
    path.write_text(script("zsh", capsys))
    assert "compdef _skiffctl skiffctl" in path.read_text()
    if shutil.which("zsh") is None:
        pytest.skip("zsh is not installed")
    done = subprocess.run(["zsh", "-n", str(path)], capture_output=True, text=True)
    assert (done.returncode, done.stderr) == (0, "")


@pytest.fixture
def bash_env(tmp_path: Path) -> dict[str, str]:
    """skiffctl from .venv/bin on PATH, no config, a server that is not there."""
    return {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(tmp_path), "SKIFF_SERVER": "127.0.0.1:1"}


def bash_complete(env: dict[str, str], line: str, words: list[str]) -> tuple[list[str], str]:
    """COMPREPLY (and whether nospace was asked) after sourcing the script and calling _skiffctl
    as bash would for ``line`` split into COMP_WORDS ``words`` (the cursor at the end)."""
    quoted = " ".join("'" + w.replace("'", "'\\''") + "'" for w in words)
    program = f"""
source <(skiffctl completion bash)
complete -p skiffctl >/dev/null || exit 3
COMP_WORDS=({quoted})
COMP_CWORD={len(words) - 1}
COMP_LINE='{line}'
COMP_POINT=${{#COMP_LINE}}
_skiffctl
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    done = subprocess.run(["bash", "-c", program], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    return [w for w in done.stdout.splitlines() if w], done.stderr


def test_bash_end_to_end(bash_env: dict[str, str]) -> None:
    assert bash_complete(bash_env, "skiffctl rollout st", ["skiffctl", "rollout", "st"])[0] == ["status"]
    assert bash_complete(bash_env, "skiffctl config use", ["skiffctl", "config", "use"])[0] == ["use-context"]
    assert bash_complete(bash_env, "skiffctl get --sel", ["skiffctl", "get", "--sel"])[0] == ["--selector"]
    assert bash_complete(bash_env, "skiffctl get deplo", ["skiffctl", "get", "deplo"])[0] == \
        ["deploy", "deployment", "deployments"]
    verbs = bash_complete(bash_env, "skiffctl ", ["skiffctl", ""])[0]
    assert "get" in verbs and "__complete" not in verbs


def test_bash_end_to_end_flag_equals(bash_env: dict[str, str]) -> None:
    """bash splits ``--output=js`` at ``=``; the script joins the words and offers what replaces
    the part after the ``=``."""
    got = bash_complete(bash_env, "skiffctl get pods --output=js",
                        ["skiffctl", "get", "pods", "--output", "=", "js"])[0]
    assert got == ["json", "jsonpath", "jsonpath-as-json", "jsonpath-file"]
    got = bash_complete(bash_env, "skiffctl get pods --output=", ["skiffctl", "get", "pods", "--output", "="])[0]
    assert "yaml" in got and "json" in got
    # words apart in the line are not joined
    got = bash_complete(bash_env, "skiffctl get pods -o js", ["skiffctl", "get", "pods", "-o", "js"])[0]
    assert got == ["json", "jsonpath", "jsonpath-as-json", "jsonpath-file"]


# ---- names from a real apiserver ----

@pytest.fixture(scope="module")
def plane() -> Iterator[object]:
    from tests.support.processes import running_plane

    yield from running_plane()


async def test_names_from_a_real_apiserver(plane: object, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from tests.support.processes import ControlPlane

    assert isinstance(plane, ControlPlane)
    ns = plane.new_namespace()
    plane.ctl("create", "configmap", "alpha", "-n", ns)
    plane.ctl("create", "configmap", "beta", "-n", ns)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("SKIFF_CONFIG", raising=False)
    monkeypatch.setenv("SKIFF_SERVER", plane.server)
    parser = build_parser()
    assert (await complete(parser, ["get", "cm", "-n", ns, ""], fetch_names))[0] == ["alpha", "beta"]
    assert (await complete(parser, ["-n", ns, "describe", "configmap/a"], fetch_names))[0] == ["configmap/alpha"]
    assert ns in (await complete(parser, ["get", "cm", "-n", ""], fetch_names))[0]
    # and through bash, from a skiffctl subprocess
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(tmp_path), "SKIFF_SERVER": plane.server}
    got = bash_complete(env, f"skiffctl delete cm -n {ns} b", ["skiffctl", "delete", "cm", "-n", ns, "b"])[0]
    assert got == ["beta"]


def test_module_registered() -> None:
    from skiff.cli import main

    assert completion in main.COMMAND_MODULES
