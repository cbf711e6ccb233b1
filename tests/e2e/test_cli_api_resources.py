"""``skiffctl api-resources`` filters as kubectl 1.32's: ``--verbs`` (every named verb, from the
verbs discovery serves, which ``-o wide`` shows), ``--categories`` and ``--cached`` (accepted;
skiffctl keeps no discovery cache, so the output is the same)."""

from __future__ import annotations

from tests.support.processes import ControlPlane

HEADERS = ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
ALL = ["pods", "services", "daemonsets.apps", "deployments.apps", "replicasets.apps", "statefulsets.apps",
       "cronjobs.batch", "jobs.batch"]


def names(plane: ControlPlane, *flags: str) -> list[str]:
    return plane.ctl("api-resources", "-o", "name", *flags).stdout.split()


def test_verbs_keeps_the_resources_serving_every_named_verb(plane: ControlPlane) -> None:
    every = names(plane)
    assert len(every) == 17
    assert names(plane, "--verbs=list,get") == every
    assert names(plane, "--verbs", "list", "--verbs", "watch,patch") == every
    wide = plane.ctl("api-resources", "-o", "wide", "--verbs=delete").stdout.splitlines()
    assert len(wide) == 1 + len(every)
    assert all("delete" in line.rsplit("[", 1)[1] for line in wide[1:])
    # skiff serves no deletecollection (nor any made-up verb): only the header is left
    none = plane.ctl("api-resources", "--verbs=list,deletecollection")
    assert (none.stdout.split(), none.stderr) == (HEADERS, "")
    assert plane.ctl("api-resources", "--verbs=frobnicate", "-o", "name").stdout == ""
    assert plane.ctl("api-resources", "--verbs=frobnicate", "--no-headers").stdout == ""


def test_categories(plane: ControlPlane) -> None:
    assert names(plane, "--categories=all") == ALL
    assert names(plane, "--categories", "all", "--verbs=list", "--api-group=batch") == ["cronjobs.batch", "jobs.batch"]
    assert names(plane, "--categories=all", "--namespaced=false") == []
    rows = [line.split() for line in plane.ctl("api-resources", "--categories=all").stdout.splitlines()]
    assert rows[0] == HEADERS and ["pods", "po", "v1", "true", "Pod"] in rows and len(rows) == 1 + len(ALL)


def test_cached_is_accepted_and_changes_nothing(plane: ControlPlane) -> None:
    fresh = plane.ctl("api-resources").stdout
    assert plane.ctl("api-resources", "--cached").stdout == fresh
    assert plane.ctl("api-resources", "--cached=false").stdout == fresh
    bad = plane.ctl("api-resources", "--cached=maybe", check=False)
    assert bad.returncode == 1 and "invalid argument" in bad.stderr
