"""The API verbs for every kind, through a real apiserver over a real etcd."""

from __future__ import annotations

import asyncio

import pytest

from skiff.api import errors, kinds
from skiff.api.v1 import apps_pb2, core_pb2
from skiff.client.client import Client
from tests.support.cluster import eventually, obj
from tests.support.samples import SAMPLES, sample


@pytest.mark.parametrize("kind_name", sorted(SAMPLES))
async def test_create_get_list_update_delete_every_kind(client: Client, kind_name: str) -> None:
    doc = sample(kind_name)
    kind = kinds.by_gvk(doc["apiVersion"], doc["kind"])
    ns = "default" if kind.namespaced else None
    created = await client.create(obj(doc))
    meta = created.metadata
    assert meta.uid and meta.creation_timestamp and int(meta.resource_version) > 0
    got = await client.get(kind.message, meta.name, namespace=ns)
    assert got == created
    listed = await client.list(kind.message, namespace="default" if kind.namespaced else "")
    assert meta.name in [o.metadata.name for o in listed.items]
    got.metadata.labels["touched"] = "yes"
    updated = await client.update(got)
    assert updated.metadata.labels["touched"] == "yes"
    assert int(updated.metadata.resource_version) > int(meta.resource_version)
    result = await client.delete(kind.message, meta.name, namespace=ns)
    assert result.finalized or kind.kind == "Namespace"  # a namespace first empties itself

    async def gone() -> bool:
        try:
            await client.get(kind.message, meta.name, namespace=ns)
        except errors.NotFound as exc:
            assert str(exc) == f'{kind.group_resource} "{meta.name}" not found'
            return True
        return False

    await eventually(gone, what=f"{kind.kind} to be deleted")


async def test_create_twice_is_already_exists(client: Client) -> None:
    await client.create(obj(sample("Deployment", name="web")))
    with pytest.raises(errors.AlreadyExists, match='deployments.apps "web" already exists'):
        await client.create(obj(sample("Deployment", name="web")))


async def test_concurrent_updates_from_one_resource_version_exactly_one_wins(client: Client) -> None:
    base = await client.create(obj(sample("Deployment", name="web")))
    attempts = []
    for replicas in range(3, 9):
        copy = apps_pb2.Deployment()
        copy.CopyFrom(base)
        copy.spec.replicas = replicas
        attempts.append(client.update(copy))
    results = await asyncio.gather(*attempts, return_exceptions=True)
    winners = [r for r in results if isinstance(r, apps_pb2.Deployment)]
    losers = [r for r in results if isinstance(r, errors.Conflict)]
    assert len(winners) == 1 and len(losers) == len(attempts) - 1
    assert str(losers[0]) == (
        'Operation cannot be fulfilled on deployments.apps "web": the object has been modified; '
        "please apply your changes to the latest version and try again")
    stored = await client.get(apps_pb2.Deployment, "web")
    assert stored.spec.replicas == winners[0].spec.replicas


async def test_server_sets_metadata_and_generate_name(client: Client) -> None:
    doc = sample("Pod")
    del doc["metadata"]["name"]
    doc["metadata"]["generateName"] = "demo-"
    doc["metadata"]["uid"] = "client-chosen"
    first = await client.create(obj(doc))
    second = await client.create(obj(doc))
    assert first.metadata.name.startswith("demo-") and len(first.metadata.name) == len("demo-") + 5
    assert first.metadata.name != second.metadata.name
    assert first.metadata.uid != "client-chosen"


async def test_generation_moves_on_spec_changes_only(client: Client) -> None:
    dep = await client.create(obj(sample("Deployment", name="web")))
    assert dep.metadata.generation == 1
    dep.metadata.labels["x"] = "y"
    dep = await client.update(dep)
    assert dep.metadata.generation == 1
    dep.spec.replicas = 5
    dep = await client.update(dep)
    assert dep.metadata.generation == 2
    rv = dep.metadata.resource_version
    same = await client.update(dep)
    assert same.metadata.resource_version == rv  # a no-op update writes nothing


async def test_update_keeps_status_and_update_status_keeps_spec(client: Client) -> None:
    dep = await client.create(obj(sample("Deployment", name="web")))
    assert not dep.HasField("status")
    dep.status.replicas = 7
    dep.spec.replicas = 4
    dep = await client.update(dep)
    assert dep.spec.replicas == 4 and dep.status.replicas == 0
    dep.status.replicas = 3
    dep.spec.replicas = 9
    dep.metadata.labels["sneaky"] = "1"
    dep = await client.update_status(dep)
    assert dep.status.replicas == 3 and dep.spec.replicas == 4 and "sneaky" not in dep.metadata.labels


async def test_node_keeps_status_on_create_but_pod_does_not(client: Client) -> None:
    node = await client.create(obj(sample("Node")))
    assert node.status.capacity["cpu"] == "4"
    doc = sample("Pod")
    doc["status"] = {"phase": "Running"}
    pod = await client.create(obj(doc))
    assert pod.status.phase == "Pending"


async def test_defaults_are_kubernetes_defaults(client: Client) -> None:
    dep = await client.create(obj(sample("Deployment", name="web")))
    assert dep.spec.strategy.type == "RollingUpdate"
    assert dep.spec.strategy.rolling_update.max_surge.str_val == "25%"
    assert dep.spec.revision_history_limit == 10 and dep.spec.progress_deadline_seconds == 600
    pod_spec = dep.spec.template.spec
    assert pod_spec.restart_policy == "Always" and pod_spec.dns_policy == "ClusterFirst"
    assert pod_spec.containers[0].image_pull_policy == "IfNotPresent"
    assert pod_spec.termination_grace_period_seconds == 30


async def test_validation_messages_have_kubernetes_shape(client: Client) -> None:
    doc = sample("Deployment", name="web")
    doc["spec"]["replicas"] = -1
    with pytest.raises(errors.Invalid) as info:
        await client.create(obj(doc))
    assert str(info.value) == ('Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: '
                               "must be greater than or equal to 0")
    doc = sample("Deployment", name="web")
    doc["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    with pytest.raises(errors.Invalid, match="`selector` does not match template `labels`"):
        await client.create(obj(doc))
    doc = sample("Pod", name="Bad_Name")
    with pytest.raises(errors.Invalid, match=r'Pod "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name"'):
        await client.create(obj(doc))
    doc = sample("Pod", name="p")
    doc["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "lots"}}
    with pytest.raises(errors.BadRequest) as bad:  # Kubernetes reads quantities while decoding
        await client.create(obj(doc))
    assert str(bad.value) == ('Pod in version "v1" cannot be handled as a Pod: quantities must match the regular '
                              "expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")


async def test_missing_namespace_is_refused(client: Client) -> None:
    with pytest.raises(errors.NotFound, match='namespaces "nope" not found'):
        await client.create(obj(sample("ConfigMap", namespace="nope")))


async def test_initial_namespaces_exist(client: Client) -> None:
    names = {n.metadata.name for n in (await client.list(core_pb2.Namespace)).items}
    assert {"default", "kube-system", "kube-node-lease"} <= names


async def test_list_selectors_and_pagination(client: Client) -> None:
    for i in range(5):
        doc = sample("ConfigMap", name=f"cm-{i}", labels={"tier": "a" if i % 2 else "b", "n": str(i)})
        await client.create(obj(doc))
    a = await client.list(core_pb2.ConfigMap, namespace="default", label_selector="tier=a")
    assert [c.metadata.name for c in a.items] == ["cm-1", "cm-3"]
    some = await client.list(core_pb2.ConfigMap, namespace="default", label_selector="n in (0,4),tier!=a")
    assert [c.metadata.name for c in some.items] == ["cm-0", "cm-4"]
    named = await client.list(core_pb2.ConfigMap, namespace="default", field_selector="metadata.name=cm-2")
    assert [c.metadata.name for c in named.items] == ["cm-2"]
    pages: list[str] = []
    token = ""
    while True:
        page = await client.list(core_pb2.ConfigMap, namespace="default", limit=2, continue_token=token)
        pages.extend(c.metadata.name for c in page.items)
        token = page.continue_token
        if not token:
            break
    assert pages == [f"cm-{i}" for i in range(5)]
    with pytest.raises(errors.BadRequest, match="field label not supported: spec.nope"):
        await client.list(core_pb2.ConfigMap, field_selector="spec.nope=1")


async def test_finalizers_hold_a_deletion_until_removed(client: Client) -> None:
    doc = sample("ConfigMap", name="held", finalizers=["example.com/hold"])
    await client.create(obj(doc))
    result = await client.delete(core_pb2.ConfigMap, "held", namespace="default")
    assert not result.finalized and result.object.metadata.deletion_timestamp
    held = await client.get(core_pb2.ConfigMap, "held", namespace="default")
    assert held.metadata.deletion_timestamp
    del held.metadata.finalizers[:]
    await client.update(held)
    with pytest.raises(errors.NotFound):
        await client.get(core_pb2.ConfigMap, "held", namespace="default")


async def test_propagation_policies_become_finalizers(client: Client) -> None:
    await client.create(obj(sample("Deployment", name="fg")))
    await client.create(obj(sample("Deployment", name="or")))
    fg = await client.delete(apps_pb2.Deployment, "fg", propagation_policy="Foreground")
    orphan = await client.delete(apps_pb2.Deployment, "or", propagation_policy="Orphan")
    assert list(fg.object.metadata.finalizers) == ["foregroundDeletion"]
    assert list(orphan.object.metadata.finalizers) == ["orphan"]


async def test_delete_preconditions(client: Client) -> None:
    cm = await client.create(obj(sample("ConfigMap", name="pre")))
    with pytest.raises(errors.Conflict, match="Precondition failed: UID in precondition: wrong"):
        await client.delete(core_pb2.ConfigMap, "pre", namespace="default", uid="wrong")
    result = await client.delete(core_pb2.ConfigMap, "pre", namespace="default", uid=cm.metadata.uid)
    assert result.finalized


async def test_graceful_pod_deletion_waits_for_the_kubelet(client: Client) -> None:
    await client.create(obj(sample("Pod", name="bound")))
    await client.bind("bound", "node-1")
    first = await client.delete(core_pb2.Pod, "bound")
    assert not first.finalized and first.object.metadata.deletion_grace_period_seconds == 30
    final = await client.delete(core_pb2.Pod, "bound", grace_period_seconds=0)
    assert final.finalized


async def test_namespace_deletion_empties_the_namespace(client: Client) -> None:
    await client.create(obj(sample("Namespace", name="doomed")))
    for kind in ("ConfigMap", "Secret", "Deployment", "Service", "Pod"):
        await client.create(obj(sample(kind, namespace="doomed")))
    marked = await client.delete(core_pb2.Namespace, "doomed")
    assert not marked.finalized
    with pytest.raises(errors.Forbidden, match="because it is being terminated"):
        await client.create(obj(sample("ConfigMap", name="late", namespace="doomed")))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while True:
        try:
            await client.get(core_pb2.Namespace, "doomed")
        except errors.NotFound:
            break
        assert loop.time() < deadline, "namespace was not deleted"
        await asyncio.sleep(0.05)
    for kind in (core_pb2.ConfigMap, core_pb2.Secret, apps_pb2.Deployment, core_pb2.Service, core_pb2.Pod):
        assert (await client.list(kind, namespace="doomed")).items == []
    with pytest.raises(errors.Forbidden, match="may not be deleted"):
        await client.delete(core_pb2.Namespace, "default")


async def test_bind_sets_node_once(client: Client) -> None:
    await client.create(obj(sample("Pod", name="p")))
    pod = await client.bind("p", "node-1")
    assert pod.spec.node_name == "node-1"
    assert [(c.type, c.status) for c in pod.status.conditions] == [("PodScheduled", "True")]
    with pytest.raises(errors.Conflict, match='pod p is already assigned to node "node-1"'):
        await client.bind("p", "node-2")


async def test_scale_subresource(client: Client) -> None:
    await client.create(obj(sample("Deployment", name="web")))
    scale = await client.get_scale(apps_pb2.Deployment, "web")
    assert scale.spec.replicas == 2 and scale.status.selector == "app=demo"
    await client.scale(apps_pb2.Deployment, "web", 10)
    assert (await client.get(apps_pb2.Deployment, "web")).spec.replicas == 10
    with pytest.raises(errors.NotFound):
        await client.get_scale(core_pb2.ConfigMap, "x")


async def test_merge_and_strategic_merge_patch(client: Client) -> None:
    doc = sample("Deployment", name="web")
    doc["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "busybox:1"})
    await client.create(obj(doc))
    patched = await client.patch(apps_pb2.Deployment, "web", {"spec": {"template": {"spec": {"containers": [
        {"name": "sidecar", "image": "busybox:2"}]}}}}, strategic=True)
    images = [(c.name, c.image) for c in patched.spec.template.spec.containers]
    assert images == [("app", "busybox:1.36"), ("sidecar", "busybox:2")]
    patched = await client.patch(apps_pb2.Deployment, "web", {"spec": {"template": {"spec": {"containers": [
        {"name": "only", "image": "busybox:3"}]}}}, "metadata": {"labels": {"a": "b"}}}, strategic=False)
    assert [c.name for c in patched.spec.template.spec.containers] == ["only"]
    assert patched.metadata.labels["a"] == "b"
    patched = await client.patch(apps_pb2.Deployment, "web", {"metadata": {"labels": {"a": None}}}, strategic=False)
    assert "a" not in patched.metadata.labels
    with pytest.raises(errors.BadRequest, match='unknown field "spec.replicaz"'):
        await client.patch(apps_pb2.Deployment, "web", {"spec": {"replicaz": 1}})


async def test_json_patch(client: Client) -> None:
    await client.create(obj(sample("Deployment", name="web")))
    patched = await client.patch(apps_pb2.Deployment, "web", [
        {"op": "test", "path": "/spec/replicas", "value": 2},
        {"op": "replace", "path": "/spec/replicas", "value": 4},
        {"op": "add", "path": "/metadata/labels", "value": {"tier": "web"}},
        {"op": "add", "path": "/spec/template/spec/containers/-", "value": {"name": "side", "image": "busybox:2"}},
    ], patch_type="json")
    assert patched.spec.replicas == 4 and patched.metadata.labels["tier"] == "web"
    assert [c.name for c in patched.spec.template.spec.containers] == ["app", "side"]
    assert patched.metadata.generation == 2  # a spec change, as any other write
    with pytest.raises(errors.BadRequest, match=r"json patch operation 0 \(test /spec/replicas\): test failed"):
        await client.patch(apps_pb2.Deployment, "web", [{"op": "test", "path": "/spec/replicas", "value": 2},
                                                        {"op": "replace", "path": "/spec/paused", "value": True}],
                           patch_type="json")
    with pytest.raises(errors.BadRequest, match="a json patch must be a JSON list of operations"):
        await client.patch(apps_pb2.Deployment, "web", {"op": "add"}, patch_type="json")
    with pytest.raises(errors.BadRequest, match='unknown field "spec.replicaz"'):
        await client.patch(apps_pb2.Deployment, "web", [{"op": "add", "path": "/spec/replicaz", "value": 1}],
                           patch_type="json")
    stored = await client.get(apps_pb2.Deployment, "web")
    assert stored.spec.replicas == 4 and not stored.spec.paused  # nothing half-applied


async def test_a_patch_that_sets_a_stale_resource_version_is_a_conflict(client: Client) -> None:
    created = await client.create(obj(sample("Deployment", name="web")))
    await client.patch(apps_pb2.Deployment, "web", {"metadata": {"labels": {"moved": "on"}}})
    for kind, body in (("merge", {"metadata": {"resourceVersion": created.metadata.resource_version},
                                  "spec": {"replicas": 7}}),
                       ("json", [{"op": "replace", "path": "/metadata/resourceVersion",
                                  "value": created.metadata.resource_version},
                                 {"op": "replace", "path": "/spec/replicas", "value": 7}])):
        with pytest.raises(errors.Conflict, match="the object has been modified"):
            await client.patch(apps_pb2.Deployment, "web", body, patch_type=kind)
    assert (await client.get(apps_pb2.Deployment, "web")).spec.replicas == 2
