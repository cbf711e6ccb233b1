"""``skiffctl run -i/-t/--attach/--rm`` and ``attach``: the flag checks and the generated pod, in
kubectl 1.32's words (no server needed: these stop before any request)."""

from __future__ import annotations

import pytest
import yaml

from tests.support.cli import skiffctl


@pytest.fixture(autouse=True)
def _no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKIFF_SERVER", "127.0.0.1:1")


def test_stdin_and_tty_reach_the_container(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = skiffctl(["run", "t", "--image=busybox", "-i", "-t", "--attach=false", "--restart=",
                             "--dry-run=client", "-o", "yaml"], capsys)
    pod = yaml.safe_load(out)
    container = pod["spec"]["containers"][0]
    assert code == 0
    assert (container["stdin"], container["stdinOnce"], container["tty"]) == (True, True, True)
    assert pod["spec"]["restartPolicy"] == "OnFailure"  # an empty --restart with -i, as kubectl
    code, out, _ = skiffctl(["run", "t", "--image=busybox", "-i", "--leave-stdin-open", "--attach=false",
                             "--dry-run=client", "-o", "yaml"], capsys)
    container = yaml.safe_load(out)["spec"]["containers"][0]
    assert ("stdinOnce" in container, "tty" in container, yaml.safe_load(out)["spec"]["restartPolicy"]) == (
        False, False, "Always")


@pytest.mark.parametrize(("flags", "message"), [
    (["-t"], "error: -i/--stdin is required for containers with -t/--tty=true"),
    (["--rm"], "error: --rm should only be used for attached containers"),
    (["--attach", "--dry-run=server"], "error: --dry-run=[server|client] can't be used with attached containers "
                                       "options (--attach, --stdin, or --tty)"),
    (["-i", "--pod-running-timeout=0s"], "error: --pod-running-timeout must be higher than zero"),
])
def test_run_refuses_like_kubectl(flags: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = skiffctl(["run", "t", "--image=busybox", *flags], capsys)
    assert (code, out, err) == (1, "", message + "\n")


@pytest.mark.parametrize(("args", "message"), [
    ([], "error: at least 1 argument is required for attach"),
    (["deploy", "web", "x"], "error: expected POD, TYPE/NAME, or TYPE NAME, (at most 2 arguments) saw 3: "
                             "[deploy web x]"),
    (["web", "--pod-running-timeout=0s"], "error: --pod-running-timeout must be higher than zero"),
])
def test_attach_argument_checks(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert skiffctl(["attach", *args], capsys) == (1, "", message + "\n")
