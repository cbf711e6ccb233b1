"""``skiffctl wait`` without an apiserver: ``--for`` and ``--timeout`` parsing (messages checked
against kubectl 1.32), the condition and jsonpath predicates on manifest dicts, the delete check,
the argument checks, and the watch loop on a scripted client (relist after Expired and after a
stream that ends, timeouts)."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from skiff.api import errors, kinds
from skiff.api.v1 import core_pb2
from skiff.cli import following
from skiff.cli.commands import wait
from skiff.cli.commands.label import Target, VerbError
from skiff.cli.context import Context, UsageError
from skiff.cli.flags import go_duration
from skiff.cli.printers import OutputFormat
from skiff.client.client import ObjectList, WatchEvent

# ---- --timeout ----


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30), ("1m", 60), ("500ms", 0.5), ("0", 0), ("-0", 0), ("+5s", 5), ("1h30m", 5400), ("1.5h", 5400),
    (".5s", 0.5), ("1.s", 1), ("250us", 0.00025), ("3\u00b5s", 0.000003), ("7ns", 7e-9), ("-1s", -1),
])
def test_go_duration(text: str, seconds: float) -> None:
    assert go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(("text", "message"), [
    ("abc", 'time: invalid duration "abc"'),
    ("", 'time: invalid duration ""'),
    ("-", 'time: invalid duration "-"'),
    (".s", 'time: invalid duration ".s"'),
    ("1", 'time: missing unit in duration "1"'),
    ("00", 'time: missing unit in duration "00"'),
    ("1x", 'time: unknown unit "x" in duration "1x"'),
    ("1e3s", 'time: unknown unit "e" in duration "1e3s"'),
    ("99999999999999999999s", 'time: invalid duration "99999999999999999999s"'),
    ("\u00b5s", 'time: invalid duration "\\xc2\\xb5s"'),
])
def test_go_duration_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError) as exc:
        go_duration(text)
    assert str(exc.value) == message


def test_timeout_flag() -> None:
    assert wait.parse_timeout("30s") == 30
    assert wait.parse_timeout("0") == 0
    assert wait.parse_timeout("-1s") == wait.parse_timeout("-5m") == 168 * 3600
    with pytest.raises(UsageError) as exc:
        wait.parse_timeout("1")
    assert str(exc.value) == 'error: invalid argument "1" for "--timeout" flag: time: missing unit in duration "1"'


# ---- --for ----


def test_parse_for_keywords_and_conditions() -> None:
    assert wait.parse_for("delete") == wait.parse_for("Delete") == wait.DELETE
    assert wait.parse_for("CREATE") == wait.CREATE
    assert wait.parse_for("condition=Ready") == wait.Condition("Ready", "true")
    assert wait.parse_for("condition=Ready=false") == wait.Condition("Ready", "false")
    assert wait.parse_for("condition=a=b=c") == wait.Condition("a", "b=c")
    assert wait.parse_for("condition=Ready=") == wait.Condition("Ready", "")


def test_parse_for_jsonpath() -> None:
    match = wait.parse_for("jsonpath={.status.phase}=Running")
    assert isinstance(match, wait.JSONPathMatch)
    assert (match.path.template, match.value) == ("{.status.phase}", "Running")
    match = wait.parse_for("jsonpath={.status.conditions[?(@.type==\"Ready\")].status}='True'")
    assert isinstance(match, wait.JSONPathMatch) and match.value == "True"
    for relaxed in ("jsonpath=.status.podIP", "jsonpath=status.podIP", "jsonpath={status.podIP}"):
        match = wait.parse_for(relaxed)
        assert isinstance(match, wait.JSONPathMatch)
        assert (match.path.template, match.value) == ("{.status.podIP}", "")


def test_split_jsonpath_input_keeps_double_equals() -> None:
    assert wait.split_jsonpath_input("a.b.c====d.e.f===g.h.i===") == ["a.b.c====d.e.f==", "g.h.i==", ""]
    assert wait.split_jsonpath_input("{.a}") == ["{.a}"]


@pytest.mark.parametrize(("text", "message"), [
    ("foo", 'error: unrecognized condition: "foo"'),
    ("", 'error: unrecognized condition: ""'),
    ("Condition=Ready", 'error: unrecognized condition: "Condition=Ready"'),
    ("jsonpath=", "error: jsonpath expression cannot be empty"),
    ("jsonpath={.a}=", "error: jsonpath wait has to have a value after equal sign, like "
                       "--for=jsonpath='{.status.readyReplicas}'=3"),
    ("jsonpath={.a}=''", "error: jsonpath wait has to have a value after equal sign, like "
                         "--for=jsonpath='{.status.readyReplicas}'=3"),
    ("jsonpath={.a}=b=c", "error: jsonpath wait format must be --for=jsonpath='{.status.readyReplicas}'=3 or "
                          "--for=jsonpath='{.status.readyReplicas}'"),
    ("jsonpath='{.a}'=x", "error: unexpected path string, expected a 'name1.name2' or '.name1.name2' or "
                      "'{name1.name2}' or '{.name1.name2}'"),
])
def test_parse_for_errors(text: str, message: str) -> None:
    with pytest.raises(UsageError) as exc:
        wait.parse_for(text)
    assert str(exc.value) == message


# ---- the predicates ----


def pod(name: str, *, uid: str = "u1", rv: str = "1", ready: str = "") -> core_pb2.Pod:
    p = core_pb2.Pod()
    p.metadata.name, p.metadata.namespace, p.metadata.uid, p.metadata.resource_version = name, "ns", uid, rv
    if ready:
        p.status.conditions.add(type="Ready", status=ready)
    return p


def doc(*conditions: dict[str, Any], generation: int = 0, observed: int = 0, **status: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                           "status": {**status, "conditions": list(conditions)}}
    if generation:
        out["metadata"]["generation"] = generation
    if observed:
        out["status"]["observedGeneration"] = observed
    return out


def test_condition_status_true_by_default_and_case_folded() -> None:
    ready = doc({"type": "Ready", "status": "True"})
    assert wait.Condition("Ready").holds(ready)
    assert wait.Condition("ready", "TRUE").holds(ready)
    assert not wait.Condition("Ready", "false").holds(ready)
    assert wait.Condition("Ready", "false").holds(doc({"type": "Ready", "status": "False"}))
    assert not wait.Condition("Available").holds(ready)
    assert not wait.Condition("Ready").holds({"kind": "ConfigMap", "data": {}})


def test_condition_first_entry_of_the_type_with_a_status_decides() -> None:
    assert wait.Condition("Ready").holds(doc({"type": "Ready"}, {"type": "Ready", "status": "True"}))
    assert not wait.Condition("Ready").holds(doc({"type": "Ready", "status": "False"},
                                                 {"type": "Ready", "status": "True"}))


def test_condition_of_an_older_generation_is_ignored() -> None:
    available = {"type": "Available", "status": "True"}
    assert not wait.Condition("Available").holds(doc(available, generation=3, observed=2))
    assert wait.Condition("Available").holds(doc(available, generation=3, observed=3))
    assert wait.Condition("Available").holds(doc(available, generation=3))
    own = {**available, "observedGeneration": 3}
    assert wait.Condition("Available").holds(doc(own, generation=3, observed=1))


def test_condition_works_through_the_manifest_of_any_kind() -> None:
    node = core_pb2.Node()
    node.metadata.name = "n"
    node.status.conditions.add(type="Ready", status="True")
    assert wait.reached(wait.Condition("Ready"), node)(node)
    assert not wait.reached(wait.Condition("Ready"), node)(None)


def jp(text: str) -> wait.JSONPathMatch:
    match = wait.parse_for(f"jsonpath={text}")
    assert isinstance(match, wait.JSONPathMatch)
    return match


def test_jsonpath_value_and_existence() -> None:
    running = doc(phase="Running", replicas=3, ready=True)
    assert jp("{.status.phase}=Running").holds(running)
    assert not jp("{.status.phase}=running").holds(running)
    assert jp("{.status.replicas}=3").holds(running)
    assert jp("{.status.ready}=true").holds(running)
    assert jp("{.status.phase}").holds(running)
    assert not jp("{.status.podIP}").holds(running)
    assert not jp("{.status.podIP}=x").holds(running)
    ready = doc({"type": "Ready", "status": "True"})
    assert jp('{.status.conditions[?(@.type=="Ready")].status}=True').holds(ready)


@pytest.mark.parametrize(("path", "message"), [
    ("{.status.conditions[*].type}", "given jsonpath expression matches more than one value"),
    ("{.status.conditions}=x", "jsonpath leads to a nested object or list which is not supported"),
])
def test_jsonpath_errors(path: str, message: str) -> None:
    two = doc({"type": "A", "status": "True"}, {"type": "B", "status": "True"})
    with pytest.raises(VerbError, match=message):
        jp(path).holds(two)


def test_jsonpath_without_a_value_accepts_a_map() -> None:
    assert jp("{.status.conditions[0]}").holds(doc({"type": "A", "status": "True"}))


def test_delete_is_reached_when_gone_or_recreated() -> None:
    first = pod("p", uid="u1")
    gone = wait.reached(wait.DELETE, first)
    assert gone(None)
    assert gone(pod("p", uid="u2"))
    assert not gone(pod("p", uid="u1", rv="9"))


# ---- arguments ----


def context(client: Any = None, **flags: Any) -> Context:
    defaults: dict[str, Any] = {"resources": [], "filename": [], "recursive": False, "selector": "",
                                "field_selector": "", "all": False, "all_namespaces": False, "output": "",
                                "condition": "condition=Ready", "timeout": "30s"}
    return Context(args=argparse.Namespace(**{**defaults, **flags}), server="unused", namespace="ns",
                   namespace_explicit=False, _client=client)


@pytest.mark.parametrize(("flags", "message"), [
    ({"resources": ["pods", "a"], "selector": "app=x"}, "error: name cannot be provided when a selector is specified"),
    ({"resources": ["pod/a"], "all": True},
     "error: selectors and the all flag cannot be used when passing resource/name arguments"),
    ({"resources": ["pod/a"], "all_namespaces": True},
     "error: a resource cannot be retrieved by name across all namespaces"),
    ({"resources": ["pods"]}, "error: resource(s) were provided, but no name was specified"),
    ({"resources": ["pods"], "filename": ["x.yaml"]},
     "error: when paths, URLs, or stdin is provided as input, you may not specify resource arguments as well"),
])
async def test_target_errors(flags: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError) as exc:
        await wait.select(context(**flags))
    assert str(exc.value) == message


async def test_no_resources_and_bad_output() -> None:
    with pytest.raises(UsageError, match="You must provide one or more resources by argument or filename"):
        await wait.run_wait(context())
    with pytest.raises(UsageError, match='output format "wide", allowed formats are: json,jsonpath,'):
        await wait.run_wait(context(resources=["pod/a"], output="wide"))


# ---- the watch loop, on a scripted client ----


class ScriptedClient:
    """get / list / watch from scripts: each watch plays the next script (events, then an
    exception or the end of the stream; ``hang`` blocks for ever)."""

    def __init__(self, obj: core_pb2.Pod | None, watches: list[list[Any]], lists: list[list[core_pb2.Pod]]
                 ) -> None:
        self.obj, self.watches, self.lists = obj, watches, lists
        self.watched_from: list[str] = []
        self.list_calls = 0

    async def get(self, cls: Any, name: str, *, namespace: str | None = None) -> core_pb2.Pod:
        if self.obj is None:
            raise errors.NotFound(f'pods "{name}" not found')
        return self.obj

    async def list(self, cls: Any, **kwargs: Any) -> ObjectList[core_pb2.Pod]:
        assert kwargs["field_selector"] == "metadata.name=p"
        self.list_calls += 1
        items = self.lists.pop(0)
        return ObjectList(items, str(10 * self.list_calls))

    async def watch(self, cls: Any, **kwargs: Any) -> AsyncIterator[WatchEvent[core_pb2.Pod]]:
        assert kwargs["field_selector"] == "metadata.name=p"
        self.watched_from.append(kwargs["resource_version"])
        script: list[Any] = self.watches.pop(0) if self.watches else ["hang"]
        for step in script:
            if step == "hang":
                await asyncio.Event().wait()
            if isinstance(step, Exception):
                raise step
            yield step


TARGET = Target(kinds.lookup("pods"), "ns", "p")


async def test_states_relist_after_expired_and_after_the_stream_ends() -> None:
    client = ScriptedClient(None, [
        [WatchEvent("MODIFIED", pod("p", rv="6")), errors.Expired("too old resource version: 5")],
        [WatchEvent("BOOKMARK", pod("p", rv="11")), WatchEvent("DELETED", pod("p", rv="12"))],
    ], [[pod("p", rv="8")], []])
    states = following.states(client, TARGET, "5", unavailable_retry=0)  # type: ignore[arg-type]
    seen: list[Any] = [await anext(states) for _ in range(4)]
    await states.aclose()
    assert [s.metadata.resource_version if s is not None else None for s in seen] == ["6", "8", None, None]
    assert client.watched_from == ["5", "10"] and client.list_calls == 2


async def test_states_retry_when_the_apiserver_is_away() -> None:
    client = ScriptedClient(None, [[errors.ServiceUnavailable("connection refused")]], [[pod("p", rv="7")]])
    states = following.states(client, TARGET, "5", unavailable_retry=0)  # type: ignore[arg-type]
    state: Any = await anext(states)
    await states.aclose()
    assert state is not None and state.metadata.resource_version == "7"


def waiter(client: ScriptedClient, wanted: wait.Wanted, timeout: float, out: list[str],
           listed: dict[Target, Any] | None = None) -> wait.Waiter:
    ctx = context(client)
    ctx.print = out.append  # type: ignore[method-assign, assignment]
    return wait.Waiter(ctx, wanted, OutputFormat(""), timeout, asyncio.get_running_loop().time() + timeout,
                       listed or {})


async def test_waiter_follows_until_the_condition_holds() -> None:
    client = ScriptedClient(pod("p", rv="5", ready="False"), [
        [WatchEvent("MODIFIED", pod("p", rv="6", ready="False")), WatchEvent("DELETED", pod("p", rv="7")),
         WatchEvent("ADDED", pod("p", uid="u2", rv="8", ready="True"))],
    ], [])
    out: list[str] = []
    await waiter(client, wait.Condition("Ready"), 5, out).one(TARGET)
    assert out == ["pod/p condition met"] and client.watched_from == ["5"]


async def test_waiter_delete_sees_a_recreated_object_after_a_relist() -> None:
    client = ScriptedClient(pod("p", rv="5"), [[errors.Expired("gone")]], [[pod("p", uid="u2", rv="9")]])
    out: list[str] = []
    await waiter(client, wait.DELETE, 5, out).one(TARGET)
    assert out == ["pod/p condition met"]


async def test_waiter_skips_a_missing_object_for_delete_only() -> None:
    out: list[str] = []
    await waiter(ScriptedClient(None, [], []), wait.DELETE, 5, out).one(TARGET)
    assert out == []
    await waiter(ScriptedClient(None, [], []), wait.DELETE, 5, out, {TARGET: pod("p")}).one(TARGET)
    assert out == ["pod/p condition met"]  # listed by a selector, gone before its turn
    with pytest.raises(errors.NotFound):
        await waiter(ScriptedClient(None, [], []), wait.Condition("Ready"), 5, out).one(TARGET)


async def test_waiter_timeouts() -> None:
    out: list[str] = []
    with pytest.raises(VerbError, match="^timed out waiting for the condition on pods/p$"):
        await waiter(ScriptedClient(pod("p"), [], []), wait.Condition("Ready"), 0.05, out).one(TARGET)
    with pytest.raises(VerbError, match="^condition not met for pods/p$"):
        await waiter(ScriptedClient(pod("p"), [], []), wait.DELETE, 0, out).one(TARGET)
    await waiter(ScriptedClient(pod("p", ready="true"), [], []), wait.Condition("Ready"), 0, out).one(TARGET)
    assert out == ["pod/p condition met"]


async def test_waiter_past_the_shared_deadline_times_out_at_once() -> None:
    """As kubectl: an object reached after the one deadline passed is not checked any more."""
    client = ScriptedClient(pod("p", ready="True"), [], [])
    ctx = context(client)
    late = wait.Waiter(ctx, wait.Condition("Ready"), OutputFormat(""), 30, asyncio.get_running_loop().time() - 1, {})
    with pytest.raises(VerbError, match="timed out waiting for the condition on pods/p"):
        await late.one(TARGET)
