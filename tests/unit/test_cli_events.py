"""``skiffctl events``' pure parts: LAST SEEN, the order, the table (kubectl's own printer test cases
among them), ``--for`` / ``--types`` / ``-o`` and the EventList of the other formats."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from skiff.api.timestamps import rfc3339, rfc3339_micro
from skiff.api.v1 import core_pb2
from skiff.cli.commands import events
from skiff.cli.context import UsageError

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)


def ago(**delta: float) -> str:
    """A metav1.Time that long before NOW (firstTimestamp, lastTimestamp)."""
    return rfc3339(NOW - timedelta(**delta))


def micro_ago(**delta: float) -> str:
    """A metav1.MicroTime that long before NOW (eventTime, series.lastObservedTime)."""
    return rfc3339_micro(NOW - timedelta(**delta))


def event(name: str = "e", *, kind: str = "Pod", obj: str = "web", type_: str = "Normal", reason: str = "Pulled",
          message: str = "done", namespace: str = "default", first: str = "", last: str = "", count: int = 0,
          event_time: str = "", series: tuple[int, str] | None = None) -> core_pb2.Event:
    ev = core_pb2.Event(type=type_, reason=reason, message=message, first_timestamp=first, last_timestamp=last,
                        count=count, event_time=event_time)
    ev.metadata.name, ev.metadata.namespace = name, namespace
    ev.involved_object.kind, ev.involved_object.name = kind, obj
    if series is not None:
        ev.series.count, ev.series.last_observed_time = series
    return ev


# ---- LAST SEEN ----

def test_last_seen_of_a_single_event_is_its_age() -> None:
    assert events.last_seen(event(first=ago(seconds=123), last=ago(seconds=123), count=1), NOW) == "2m3s"
    assert events.last_seen(event(first=ago(seconds=5)), NOW) == "5s"


def test_repeats_show_the_count_and_the_first_age() -> None:
    ev = event(first=ago(minutes=20), last=ago(minutes=12), count=3)
    assert events.last_seen(ev, NOW) == "12m (x3 over 20m)"


def test_a_series_counts_and_event_time_is_the_first_occurrence() -> None:
    ev = event(event_time=micro_ago(minutes=20), first=ago(hours=5), series=(4, micro_ago(seconds=61)))
    assert events.last_seen(ev, NOW) == "61s (x4 over 20m)"


def test_unset_times_are_unknown() -> None:
    assert events.last_seen(event(), NOW) == "<unknown>"
    assert events.last_seen(event(count=2, first=ago(minutes=3)), NOW) == "<unknown> (x2 over 3m)"


# ---- order ----

def test_events_sort_by_when_they_were_last_seen() -> None:
    by_series = event("series", last=ago(minutes=1), series=(2, micro_ago(minutes=30)))
    by_last = event("last", first=ago(hours=2), last=ago(minutes=10))
    by_event_time = event("event-time", event_time=micro_ago(minutes=5))
    never = event("never")
    tie_a, tie_b = event("tie-a", last=ago(minutes=2)), event("tie-b", last=ago(minutes=2))
    ordered = events.sort_events([by_event_time, tie_a, by_last, never, tie_b, by_series])
    assert [e.metadata.name for e in ordered] == ["never", "series", "last", "event-time", "tie-a", "tie-b"]


# ---- the table ----

def scaling(name: str, namespace: str, obj: str, first_minutes: int, last_minutes: int) -> core_pb2.Event:
    return event(name, kind="Deployment", obj=obj, reason="ScalingReplicaSet",
                 message="Scaled up replica set bar-002 to 1", namespace=namespace,
                 event_time=micro_ago(minutes=first_minutes), series=(3, micro_ago(minutes=last_minutes)))


def test_kubectl_printer_cases() -> None:
    """event_printer_test.go's TestPrintObj, as the tabwriter lays it out."""
    one = scaling("bar-000", "foo", "bar", 20, 12)
    assert events.event_table([one], NOW).split("\n") == [
        "LAST SEEN           TYPE     REASON              OBJECT           MESSAGE",
        "12m (x3 over 20m)   Normal   ScalingReplicaSet   Deployment/bar   Scaled up replica set bar-002 to 1",
    ]
    two = [one, scaling("bar-001", "bar", "bar2", 15, 11)]
    message = "Scaled up replica set bar-002 to 1"
    assert events.event_table(two, NOW, all_namespaces=True).split("\n") == [
        "NAMESPACE   LAST SEEN           TYPE     REASON              OBJECT            MESSAGE",
        f"foo         12m (x3 over 20m)   Normal   ScalingReplicaSet   Deployment/bar    {message}",
        f"bar         11m (x3 over 15m)   Normal   ScalingReplicaSet   Deployment/bar2   {message}",
    ]
    assert events.event_table([one], NOW, no_headers=True) == \
        "12m (x3 over 20m)   Normal   ScalingReplicaSet   Deployment/bar   Scaled up replica set bar-002 to 1"
    assert events.event_table([one], NOW, all_namespaces=True, no_headers=True).startswith("foo   12m (x3 over 20m)")


def test_terminal_escapes_are_defused() -> None:
    ev = event(obj="bar\x1b", type_="test\x1b", reason="test\x1b", message="\x1b", event_time=micro_ago(minutes=20),
               series=(3, micro_ago(minutes=1)))
    assert events.event_row(ev, NOW) == ["60s (x3 over 20m)", "test^[", "test^[", "Pod/bar^[", "^["]
    assert events.escape_terminal("a\rb") == "a\\rb"


def test_the_message_is_trimmed_and_the_kind_kept_as_recorded() -> None:
    row = events.event_row(event(kind="ReplicaSet", obj="web-1", message="  Created pod: web-1-x \n"), NOW)
    assert row[3:] == ["ReplicaSet/web-1", "Created pod: web-1-x"]


# ---- flags ----

def test_for_names_kind_api_version_and_name() -> None:
    target = events.parse_for("deploy/web")
    assert target == events.ForObject("Deployment", "apps/v1", "web")
    assert target.field_selector == \
        "involvedObject.kind=Deployment,involvedObject.apiVersion=apps/v1,involvedObject.name=web"
    assert events.parse_for("pods/p") == events.ForObject("Pod", "v1", "p")
    assert events.parse_for("") is None


@pytest.mark.parametrize(("text", "message"), [
    ("web", "error: --for must be in resource/name form"),
    ("pod/a/b", "error: arguments in resource/name form may not have more than one slash"),
    ("Foo/x", "error: no matches for /, Resource=foo"),
    ("widgets.example.com/x", "error: no matches for example.com/, Resource=widgets"),
])
def test_for_errors_are_kubectls(text: str, message: str) -> None:
    with pytest.raises(UsageError) as raised:
        events.parse_for(text)
    assert str(raised.value) == message


def test_types_are_a_case_blind_set_of_normal_and_warning() -> None:
    assert events.parse_types(["Warning,normal", "Warning"]) == ("Warning", "normal")
    assert events.parse_types([]) == ()
    with pytest.raises(UsageError, match="^error: valid --types are Normal or Warning$"):
        events.parse_types(["Normal,Error"])
    warning = event(type_="Warning")
    assert events.shown_type(warning, ("warning",)) and events.shown_type(warning, ())
    assert not events.shown_type(warning, ("Normal",))


def test_output_formats_are_kubectl_events_ones() -> None:
    assert events.output_format("") is None
    assert events.output_format("yaml").name == "yaml"  # type: ignore[union-attr]
    assert events.output_format("jsonpath={.items[*].reason}").arg == "{.items[*].reason}"  # type: ignore[union-attr]
    with pytest.raises(UsageError) as raised:
        events.output_format("wide")
    assert str(raised.value) == (
        'error: unable to match a printer suitable for the output format "wide", allowed formats are: '
        "go-template,go-template-file,json,jsonpath,jsonpath-as-json,jsonpath-file,name,template,templatefile,yaml")


# ---- other formats ----

def test_yaml_and_json_print_an_event_list() -> None:
    evs = [event("a", reason="Pulled"), event("b", reason="Started")]
    data = yaml.safe_load(events.render_list(evs, events.output_format("yaml")))  # type: ignore[arg-type]
    assert (data["kind"], data["apiVersion"], data["metadata"]) == ("EventList", "v1", {})
    assert [(i["kind"], i["metadata"]["name"], i["reason"]) for i in data["items"]] == \
        [("Event", "a", "Pulled"), ("Event", "b", "Started")]
    assert json.loads(events.render_list(evs, events.output_format("json")))["kind"] == "EventList"  # type: ignore[arg-type]
    assert events.render_list(evs, events.output_format("name")) == "event/a\nevent/b\n"  # type: ignore[arg-type]
    jsonpath = events.output_format("jsonpath={.kind} {.items[*].reason}")
    assert events.render_list(evs, jsonpath) == "EventList Pulled Started"  # type: ignore[arg-type]
