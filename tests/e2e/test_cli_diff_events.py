"""``skiffctl diff``, ``events`` and ``cluster-info`` as a person runs them, against real etcd +
apiserver processes.

diff compares through the real ``diff -u -N`` (and the exit codes a script relies on: 0 same, 1
different, 2 error); Events are written the way components write them, through the client
library's EventRecorder (whose ``stop`` waits until the queue is written); ``events -w`` runs in the
background and its lines are read with a deadline, never a sleep.
"""

from __future__ import annotations

import asyncio
import os
import pty
import re
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from skiff.api.manifest import from_manifest
from skiff.api.timestamps import rfc3339
from skiff.api.v1 import core_pb2
from skiff.client.client import Client
from skiff.client.events import EventRecorder
from tests.support.plane_client import create
from tests.support.processes import BIN, ControlPlane
from tests.support.samples import sample
from tests.support.waiting import OutputLines


def _cm(value: str, name: str = "cm") -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{k: '{value}'}}\n"


def _diff_body(stdout: str) -> list[str]:
    """The hunk lines of a unified diff (headers and their temporary paths left out)."""
    return [line for line in stdout.splitlines() if not line.startswith(("diff ", "--- ", "+++ ", "@@ "))]


# ---- diff ----

def test_diff_of_a_new_object_shows_all_of_it_added(plane: ControlPlane, ns: str) -> None:
    r = plane.ctl("diff", "-n", ns, "-f", "-", stdin=_cm("1"), check=False)
    assert r.returncode == 1, r.stderr
    assert r.stderr == ""
    header = r.stdout.splitlines()[0]
    assert re.fullmatch(rf"diff -u -N /\S+/LIVE-\S+/v1\.ConfigMap\.{ns}\.cm /\S+/MERGED-\S+/v1\.ConfigMap\.{ns}\.cm",
                        header), header
    added = _diff_body(r.stdout)
    assert all(line.startswith("+") for line in added)
    # The server's dry run filled it in (uid, creationTimestamp) but stored nothing.
    assert {"+kind: ConfigMap", '+  k: "1"', "+  name: cm", f"+  namespace: {ns}"} <= set(added)
    assert any(line.startswith("+  uid: ") for line in added)
    assert plane.ctl("get", "cm", "cm", "-n", ns, check=False).returncode == 1


def test_diff_of_an_unchanged_object_is_silent(plane: ControlPlane, ns: str) -> None:
    plane.ctl("apply", "-n", ns, "-f", "-", stdin=_cm("1"))
    r = plane.ctl("diff", "-n", ns, "-f", "-", stdin=_cm("1"), check=False)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")


def test_diff_of_a_changed_object_shows_the_change(plane: ControlPlane, ns: str) -> None:
    plane.ctl("apply", "-n", ns, "-f", "-", stdin=_cm("1"))
    r = plane.ctl("diff", "-n", ns, "-f", "-", stdin=_cm("2"), check=False)
    assert r.returncode == 1, r.stderr
    changed = [line for line in _diff_body(r.stdout) if line.startswith(("-", "+"))]
    assert changed[:2] == ['-  k: "1"', '+  k: "2"']
    # The last-applied annotation changes with it, as in kubectl; nothing else does.
    assert len(changed) == 4 and all("last-applied-configuration" in line for line in changed[2:])
    assert plane.ctl("get", "cm", "cm", "-n", ns, "-o", "jsonpath={.data.k}").stdout == "1"


def test_diff_masks_secret_values(plane: ControlPlane, ns: str) -> None:
    def secret(b: str) -> str:
        return f"apiVersion: v1\nkind: Secret\nmetadata: {{name: s}}\ndata: {{a: YWFh, b: {b}}}\n"

    plane.ctl("apply", "-n", ns, "-f", "-", stdin=secret("YmJi"))
    r = plane.ctl("diff", "-n", ns, "-f", "-", stdin=secret("Y2Nj"), check=False)
    assert r.returncode == 1, r.stderr
    body = _diff_body(r.stdout)
    assert "   a: '***'" in body
    assert "-  b: '*** (before)'" in body and "+  b: '*** (after)'" in body
    # Only the annotation kubectl also shows carries the values; data never does.
    assert not [line for line in body if ("YmJi" in line or "Y2Nj" in line) and "last-applied" not in line]


def test_diff_of_a_directory_with_several_objects(plane: ControlPlane, ns: str, tmp_path: object) -> None:
    plane.ctl("apply", "-n", ns, "-f", "-", stdin=_cm("1", name="same"))
    plane.ctl("apply", "-n", ns, "-f", "-", stdin=_cm("1", name="old"))
    folder = os.path.join(str(tmp_path), "manifests")
    os.makedirs(folder)
    for name, value in (("same", "1"), ("old", "9"), ("new", "1")):
        with open(os.path.join(folder, f"{name}.yaml"), "w") as f:
            f.write(_cm(value, name=name))
    r = plane.ctl("diff", "-n", ns, "-f", folder, check=False)
    assert r.returncode == 1, r.stderr
    compared = re.findall(rf"^diff -u -N \S+/(v1\.ConfigMap\.{ns}\.\S+) ", r.stdout, re.MULTILINE)
    assert compared == [f"v1.ConfigMap.{ns}.new", f"v1.ConfigMap.{ns}.old"]


def test_diff_errors_exit_2(plane: ControlPlane, ns: str, monkeypatch: pytest.MonkeyPatch) -> None:
    r = plane.ctl("diff", "-n", ns, "-f", "-", "--server-side", stdin=_cm("1"), check=False)
    assert r.returncode == 2 and "skiff has no server-side apply" in r.stderr
    bad = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Not_A_Name}\n"
    r = plane.ctl("diff", "-n", ns, "-f", "-", stdin=bad, check=False)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith('The ConfigMap "Not_A_Name" is invalid: metadata.name: Invalid value: "Not_A_Name"')
    # The program's own answer: 1 is "differences" (silently); above 1 is an error, exit 2.
    monkeypatch.setenv("KUBECTL_EXTERNAL_DIFF", "false")
    r = plane.ctl("diff", "-n", ns, "-f", "-", stdin=_cm("1"), check=False)
    assert (r.returncode, r.stderr) == (1, "")
    monkeypatch.setenv("KUBECTL_EXTERNAL_DIFF", "diff --no-such-option")
    r = plane.ctl("diff", "-n", ns, "-f", "-", stdin=_cm("1"), check=False)
    assert r.returncode == 2
    assert r.stderr.splitlines()[-1] == 'error: failed to run "diff": exit status 2'


# ---- events ----

def _record(plane: ControlPlane, ns: str, *happenings: tuple[str, str, str, str]) -> None:
    """Create a pod per name mentioned and record (pod, type, reason, message) Events about them."""
    async def go() -> None:
        async with Client(plane.server) as client:
            pods = {}
            for name in dict.fromkeys(h[0] for h in happenings):
                pods[name] = await client.create(from_manifest(sample("Pod", name=name)), namespace=ns)
            recorder = EventRecorder(client, "e2e-test", host="node-1")
            recorder.start()
            for pod, event_type, reason, message in happenings:
                recorder.event(pods[pod], event_type, reason, message)
            await recorder.stop()

    asyncio.run(go())


def test_events_table(plane: ControlPlane, ns: str) -> None:
    _record(plane, ns, ("web", "Normal", "Scheduled", "Successfully assigned"),
            ("web", "Warning", "BackOff", "Back-off restarting failed container"),
            ("web", "Warning", "BackOff", "Back-off restarting failed container"),
            ("db", "Normal", "Pulled", "Container image pulled"))
    lines = plane.ctl("events", "-n", ns).stdout.splitlines()
    assert re.fullmatch(r"LAST SEEN +TYPE +REASON +OBJECT +MESSAGE", lines[0])
    rows = [re.split(r"\s{3,}", line) for line in lines[1:]]
    assert sorted(row[1:] for row in rows) == [
        ["Normal", "Pulled", "Pod/db", "Container image pulled"],
        ["Normal", "Scheduled", "Pod/web", "Successfully assigned"],
        ["Warning", "BackOff", "Pod/web", "Back-off restarting failed container"],
    ]
    backoff = next(row for row in rows if row[2] == "BackOff")
    assert re.fullmatch(r"\d+s \(x2 over \d+s\)", backoff[0])  # one Event, seen twice
    assert all(re.fullmatch(r"\d+s", row[0]) for row in rows if row[2] != "BackOff")
    bare = plane.ctl("events", "-n", ns, "--no-headers").stdout.splitlines()
    assert [re.split(r"\s{3,}", line)[1:] for line in bare] == [row[1:] for row in rows]  # ages may have moved on


def test_events_are_listed_oldest_first(plane: ControlPlane, ns: str) -> None:
    now = datetime.now(UTC)

    async def go() -> None:
        async with Client(plane.server) as client:
            for name, seconds in (("recent", 10), ("oldest", 3600), ("middle", 185)):
                event = from_manifest(sample("Event", name=name))
                assert isinstance(event, core_pb2.Event)
                event.reason, event.message, event.count = "Tested", name, 1
                event.involved_object.namespace = ns
                event.first_timestamp = event.last_timestamp = rfc3339(now - timedelta(seconds=seconds))
                await client.create(event, namespace=ns)

    asyncio.run(go())
    rows = [re.split(r"\s{3,}", line) for line in plane.ctl("events", "-n", ns).stdout.splitlines()[1:]]
    assert [row[-1] for row in rows] == ["oldest", "middle", "recent"]
    # Ages of whole-second stamps, a few seconds later: 60m, 3m5s (+ a second or so), 10s (+ ...).
    assert rows[0][0] == "60m"
    assert re.fullmatch(r"3m[5-9]s", rows[1][0]) and re.fullmatch(r"1\ds", rows[2][0]), rows


def test_events_for_an_object_and_of_some_types(plane: ControlPlane, ns: str) -> None:
    _record(plane, ns, ("a", "Normal", "Pulled", "pulled a"), ("a", "Warning", "Failed", "failed a"),
            ("b", "Warning", "Failed", "failed b"))

    def messages(*flags: str) -> list[str]:
        return [re.split(r"\s{3,}", line)[-1] for line in plane.ctl("events", "-n", ns, *flags).stdout.splitlines()[1:]]

    assert sorted(messages("--for", "pod/a")) == ["failed a", "pulled a"]
    assert sorted(messages("--types", "Warning")) == ["failed a", "failed b"]
    assert messages("--for", "po/a", "--types=warning") == ["failed a"]
    assert sorted(messages("--types", "Normal,Warning")) == ["failed a", "failed b", "pulled a"]
    r = plane.ctl("events", "-n", ns, "--for", "pod/nobody")
    assert (r.stdout, r.stderr) == ("", f"No events found in {ns} namespace.\n")
    r = plane.ctl("events", "-n", ns, "--types", "Error", check=False)
    assert (r.returncode, r.stderr) == (1, "error: valid --types are Normal or Warning\n")


def test_events_all_namespaces_and_formats(plane: ControlPlane, ns: str) -> None:
    _record(plane, ns, ("p", "Normal", "Started", "Started container app"))
    lines = plane.ctl("events", "-A", "--for", "pod/p").stdout.splitlines()
    assert re.fullmatch(r"NAMESPACE +LAST SEEN +TYPE +REASON +OBJECT +MESSAGE", lines[0])
    assert any(re.fullmatch(rf"{ns} +\d+s +Normal +Started +Pod/p +Started container app", line) for line in lines)
    listed = plane.ctl("events", "-n", ns, "-o", "yaml").stdout
    assert listed.startswith("apiVersion: v1\nitems:\n") and listed.endswith("kind: EventList\nmetadata: {}\n")
    assert plane.ctl("events", "-n", ns, "-o", "jsonpath={.items[*].involvedObject.name}").stdout == "p"


def test_no_events_in_a_namespace(plane: ControlPlane, ns: str) -> None:
    r = plane.ctl("events", "-n", ns)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", f"No events found in {ns} namespace.\n")


def test_events_watch_prints_existing_then_new_events(plane: ControlPlane, ns: str) -> None:
    _record(plane, ns, ("w", "Normal", "Pulled", "first"))
    proc = plane.popen("events", "-n", ns, "-w")
    try:
        out = OutputLines(proc)
        assert re.fullmatch(r"LAST SEEN +TYPE +REASON +OBJECT +MESSAGE", out.next())
        assert re.fullmatch(r"\d+s +Normal +Pulled +Pod/w +first", out.next())
        _record(plane, ns, ("w2", "Warning", "Failed", "second"))
        assert re.fullmatch(r"\d+s +Warning +Failed +Pod/w2 +second", out.until("second"))
    finally:
        proc.terminate()
        proc.wait(10)


# ---- cluster-info ----

def test_cluster_info(plane: ControlPlane) -> None:
    r = plane.ctl("cluster-info")
    assert r.stdout == (f"Skiff control plane is running at {plane.server}\n\n"
                        "To further debug and diagnose cluster problems, use 'skiffctl get nodes' and "
                        "'skiffctl events -A'.\n")


def test_cluster_info_lists_cluster_services(plane: ControlPlane, ns: str) -> None:
    svc = sample("Service", name="dns")
    svc["metadata"]["labels"] = {"kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS"}
    create(plane, ns, svc)

    async def cluster_ip() -> str:
        async with Client(plane.server) as client:
            found = await client.get(core_pb2.Service, "dns", namespace=ns)
            return f"{found.spec.cluster_ip}:{found.spec.ports[0].port}"

    lines = plane.ctl("cluster-info", "-n", ns).stdout.splitlines()
    assert lines[:2] == [f"Skiff control plane is running at {plane.server}",
                         f"CoreDNS is running at {asyncio.run(cluster_ip())}"]


def _drain(fd: int) -> bytes:
    """What a finished process wrote to a terminal (read until the closed terminal says EIO)."""
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            return b"".join(chunks)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def test_cluster_info_colours_names_on_a_terminal(plane: ControlPlane) -> None:
    controller, terminal = pty.openpty()
    try:
        done = subprocess.run([str(BIN / "skiffctl"), "cluster-info"], stdout=terminal, stderr=subprocess.PIPE,
                              env={**plane.env(), "TERM": "xterm"}, timeout=60, check=True)
    finally:
        os.close(terminal)
    seen = _drain(controller)
    os.close(controller)
    assert done.stderr == b""
    assert seen.startswith(f"\x1b[0;32mSkiff control plane\x1b[0m is running at \x1b[0;33m{plane.server}\x1b[0m"
                           .encode())
    assert b"'skiffctl events -A'." in seen


def test_cluster_info_when_nothing_answers(plane: ControlPlane) -> None:
    r = plane.ctl("--server", "127.0.0.1:1", "cluster-info", check=False)
    assert r.returncode == 1
    assert r.stdout == "\nTo further debug and diagnose cluster problems, use 'skiffctl get nodes' and " \
                       "'skiffctl events -A'.\n"
    assert r.stderr.startswith("error: unable to connect to the server at 127.0.0.1:1")
