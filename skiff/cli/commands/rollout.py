"""``rollout status | history | undo | pause | resume | restart`` for Deployments, StatefulSets and
DaemonSets, with kubectl's wording (polymorphichelpers/rollout_status.go, history.go,
rollback.go, objectpauser.go, objectrestarter.go).

- status reads the object, prints kubectl's status line, and (``--watch``, the default) follows
  that one object (skiff.cli.following), printing each new line until the rollout is done;
  ``--timeout`` bounds the wait (``error: timed out waiting for the condition``), a Progressing
  condition with reason ProgressDeadlineExceeded ends it with ``error: deployment "web" exceeded
  its progress deadline`` and exit 1. The status functions are pure (object in, ``Status`` out).
- history / undo use ``skiff.cli.rollout_history`` (ReplicaSets for Deployments,
  ControllerRevisions for the others); ``history --revision=N`` prints that revision's template.
- pause / resume flip ``spec.paused`` (Deployments only); restart stamps the pod template with
  ``kubectl.kubernetes.io/restartedAt``, which makes the controllers roll every pod.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from skiff.api import deployments, kinds
from skiff.api.timestamps import rfc3339
from skiff.api.v1 import apps_pb2
from skiff.cli import following
from skiff.cli import rollout_history as rh
from skiff.cli.commands.files import add_file_flags
from skiff.cli.commands.label import (
    VerbError,
    add_dry_run,
    allow_intermixed,
    mutate,
    report,
    resolve,
)
from skiff.cli.context import Context
from skiff.cli.flags import duration_flag
from skiff.cli.printers import dry_suffix
from skiff.cli.resources import Target, singular_name

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
ROLLOUT_KINDS = ("Deployment", "StatefulSet", "DaemonSet")


@dataclass(frozen=True)
class Status:
    message: str
    done: bool
    error: str = ""
    """Set when the rollout cannot finish (the line is printed as ``error: ...``, exit 1)."""


# ---- status (pure) ----

def _condition(obj: Any, type_: str) -> Any | None:
    for cond in obj.status.conditions:
        if cond.type == type_:
            return cond
    return None


def deployment_status(d: Any, revision: int = 0) -> Status:
    name = d.metadata.name
    if revision > 0:
        current = deployments.revision_of(d)
        if current is None:
            return Status("", False, f'cannot get the revision of deployment "{name}": revision not found')
        if current != revision:
            return Status("", False, f"desired revision ({revision}) is different from the running revision "
                                     f"({current})")
    if d.metadata.generation > d.status.observed_generation:
        return Status("Waiting for deployment spec update to be observed...", False)
    cond = _condition(d, "Progressing")
    if cond is not None and cond.reason == "ProgressDeadlineExceeded":
        return Status("", False, f'deployment "{name}" exceeded its progress deadline')
    st = d.status
    prefix = f'Waiting for deployment "{name}" rollout to finish: '
    if d.spec.HasField("replicas") and st.updated_replicas < d.spec.replicas:
        return Status(f"{prefix}{st.updated_replicas} out of {d.spec.replicas} new replicas have been updated...",
                      False)
    if st.replicas > st.updated_replicas:
        return Status(f"{prefix}{st.replicas - st.updated_replicas} old replicas are pending termination...", False)
    if st.available_replicas < st.updated_replicas:
        return Status(f"{prefix}{st.available_replicas} of {st.updated_replicas} updated replicas are available...",
                      False)
    return Status(f'deployment "{name}" successfully rolled out', True)


def daemonset_status(ds: Any, revision: int = 0) -> Status:
    if ds.spec.update_strategy.type != "RollingUpdate":
        return Status("", True, "rollout status is only available for RollingUpdate strategy type")
    name, st = ds.metadata.name, ds.status
    if ds.metadata.generation > st.observed_generation:
        return Status("Waiting for daemon set spec update to be observed...", False)
    prefix = f'Waiting for daemon set "{name}" rollout to finish: '
    if st.updated_number_scheduled < st.desired_number_scheduled:
        return Status(f"{prefix}{st.updated_number_scheduled} out of {st.desired_number_scheduled} new pods have "
                      "been updated...", False)
    if st.number_available < st.desired_number_scheduled:
        return Status(f"{prefix}{st.number_available} of {st.desired_number_scheduled} updated pods are "
                      "available...", False)
    return Status(f'daemon set "{name}" successfully rolled out', True)


def statefulset_status(sts: Any, revision: int = 0) -> Status:
    strategy = sts.spec.update_strategy
    if strategy.type != "RollingUpdate":
        return Status("", True, "rollout status is only available for RollingUpdate strategy type")
    st = sts.status
    if st.observed_generation == 0 or sts.metadata.generation > st.observed_generation:
        return Status("Waiting for statefulset spec update to be observed...", False)
    replicas = sts.spec.replicas if sts.spec.HasField("replicas") else None
    if replicas is not None and st.ready_replicas < replicas:
        return Status(f"Waiting for {replicas - st.ready_replicas} pods to be ready...", False)
    if strategy.HasField("rolling_update"):
        if replicas is not None and strategy.rolling_update.HasField("partition"):
            wanted = replicas - strategy.rolling_update.partition
            if st.updated_replicas < wanted:
                return Status(f"Waiting for partitioned roll out to finish: {st.updated_replicas} out of {wanted} "
                              "new pods have been updated...", False)
        return Status(f"partitioned roll out complete: {st.updated_replicas} new pods have been updated...", True)
    if st.update_revision != st.current_revision:
        return Status(f"waiting for statefulset rolling update to complete {st.updated_replicas} pods at revision "
                      f"{st.update_revision}...", False)
    return Status(f"statefulset rolling update complete {st.current_replicas} pods at revision "
                  f"{st.current_revision}...", True)


STATUS_VIEWERS: dict[str, Callable[[Any, int], Status]] = {
    "Deployment": deployment_status, "DaemonSet": daemonset_status, "StatefulSet": statefulset_status,
}


# ---- status (the command) ----

def _check_kind(kind: kinds.Kind, what: str) -> None:
    if kind.kind not in ROLLOUT_KINDS:
        raise VerbError(f'no {what} has been implemented for "{kind.group_kind}"')


async def _follow(ctx: Context, target: Target, viewer: Callable[[Any, int], Status], timeout: float | None
                  ) -> Status:
    """Print each new status line until done (only the first without --watch), following the one
    object; TimeoutError when it is not done in time."""
    args = ctx.args
    printed = [""]

    def status_of(obj: Any) -> Status:
        return Status("", False, "object has been deleted") if obj is None else viewer(obj, args.revision)

    def settled(obj: Any) -> bool:
        status = status_of(obj)
        if not status.error and status.message != printed[0]:
            ctx.print(status.message)
            printed[0] = status.message
        return bool(status.error or status.done or not args.watch)

    return status_of(await following.follow(ctx.client, target, settled, timeout=timeout))


async def run_status(ctx: Context) -> int:
    targets = await _targets(ctx, "status")
    timeout = duration_flag(ctx.args.timeout)

    async def one(target: Target) -> None:
        _check_kind(target.kind, "status viewer")
        viewer = STATUS_VIEWERS[target.kind.kind]
        try:
            status = await _follow(ctx, target, viewer, timeout if timeout > 0 else None)
        except TimeoutError:
            raise VerbError(following.TIMED_OUT) from None
        if status.error:
            raise VerbError(status.error)

    return await report(ctx, targets, one)


# ---- history / undo ----

async def run_history(ctx: Context) -> int:
    args = ctx.args
    targets = await _targets(ctx, "history")

    async def one(target: Target) -> None:
        _check_kind(target.kind, "history viewer")
        obj = await ctx.client.get(target.kind.message, target.name, namespace=target.namespace)
        try:
            history = await rh.load_history(ctx.client, obj)
            if args.revision > 0:
                body = rh.describe_template(history.get(args.revision).template) if history.revisions \
                    else "No rollout history found."
            else:
                body = rh.history_table(obj, history)
        except rh.HistoryError as exc:
            raise VerbError(str(exc)) from None
        head = f"with revision #{args.revision}" if args.revision > 0 else ""
        ctx.print(f"{singular_name(target.kind)}/{target.name} {head}\n{body}")

    return await report(ctx, targets, one)


async def _undo_deployment(ctx: Context, target: Target, history: rh.History, obj: Any) -> str:
    to = ctx.args.to_revision
    revision = rh.pick(history, to, what=f'no rollout history found for deployment "{target.name}"')
    if ctx.args.dry_run == "client":
        return "(dry run)\n" + rh.describe_template(revision.template).rstrip("\n")
    if obj.spec.paused:
        raise VerbError("you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume "
                        f"deployment/{target.name}' and try again")
    source = revision.source
    assert isinstance(source, apps_pb2.ReplicaSet)
    if deployments.equal_ignoring_hash(source.spec.template, obj.spec.template):
        return f"skipped rollback (current template already matches revision {to})"

    def change(current: Any) -> bool:
        rh.deployment_rollback(current, revision)
        return True

    await mutate(ctx, target, change, dry_run=ctx.args.dry_run)
    return "rolled back"


async def _undo_controller(ctx: Context, target: Target, history: rh.History, obj: Any) -> str:
    to = ctx.args.to_revision
    revision = rh.pick(history, to, what="no last revision to roll back to")
    if ctx.args.dry_run == "client":
        return "(dry run)\nwill roll back to " + rh.describe_template(revision.template).rstrip("\n")
    if revision.template == obj.spec.template:
        return f"skipped rollback (current template already matches revision {to})"
    source = revision.source
    assert source is not None

    def change(current: Any) -> bool:
        current.spec.template.CopyFrom(rh.apply_revision(current, source).spec.template)  # type: ignore[arg-type, attr-defined]
        return True

    await mutate(ctx, target, change, dry_run=ctx.args.dry_run)
    return "rolled back"


async def run_undo(ctx: Context) -> int:
    targets = await _targets(ctx, "undo")

    async def one(target: Target) -> None:
        _check_kind(target.kind, "rollbacker")
        obj = await ctx.client.get(target.kind.message, target.name, namespace=target.namespace)
        try:
            history = await rh.load_history(ctx.client, obj)
            undo = _undo_deployment if target.kind.kind == "Deployment" else _undo_controller
            word = await undo(ctx, target, history, obj)
        except rh.HistoryError as exc:
            raise VerbError(str(exc)) from None
        suffix = dry_suffix(ctx.args.dry_run) if ctx.args.dry_run != "client" else ""
        ctx.print(f"{singular_name(target.kind)}/{target.name} {word}{suffix}")

    return await report(ctx, targets, one)


# ---- pause / resume / restart ----

def _pause(desired: bool) -> Callable[[Context], Awaitable[int]]:
    verb = "pausing" if desired else "resuming"
    word = "paused" if desired else "resumed"

    async def run(ctx: Context) -> int:
        targets = await _targets(ctx, "pause" if desired else "resume")

        async def one(target: Target) -> None:
            if target.kind.kind != "Deployment":
                await ctx.client.get(target.kind.message, target.name, namespace=target.namespace)
                raise VerbError(f'{target.kind.group_resource} "{target.name}" {verb} is not supported')

            def change(d: Any) -> bool:
                if bool(d.spec.paused) == desired:
                    raise VerbError(f'{target.kind.group_resource} "{target.name}" '
                                    + ("is already paused" if desired else "is not paused"))
                if desired:
                    d.spec.paused = True
                else:
                    d.spec.ClearField("paused")
                return True

            await mutate(ctx, target, change, dry_run=ctx.args.dry_run)
            ctx.print(f"{singular_name(target.kind)}/{target.name} {word}{dry_suffix(ctx.args.dry_run)}")

        return await report(ctx, targets, one)

    return run


def restart_stamp(obj: Any, now: datetime | None = None) -> bool:
    """Stamp the pod template so every pod is replaced (kubectl's objectrestarter)."""
    kind = kinds.of(obj)
    if kind.kind == "Deployment" and obj.spec.paused:
        raise VerbError(f'{kind.group_resource} "{obj.metadata.name}" can\'t restart paused deployment (run '
                        "rollout resume first)")
    stamp = rfc3339(now)
    annotations = obj.spec.template.metadata.annotations
    if annotations.get(RESTARTED_AT) == stamp:
        raise VerbError(f"failed to create patch for {obj.metadata.name}: if restart has already been triggered "
                        "within the past second, please wait before attempting to trigger another")
    annotations[RESTARTED_AT] = stamp
    return True


async def run_restart(ctx: Context) -> int:
    targets = await _targets(ctx, "restart")

    async def one(target: Target) -> None:
        if target.kind.kind not in ROLLOUT_KINDS:
            await ctx.client.get(target.kind.message, target.name, namespace=target.namespace)
            raise VerbError(f'{target.kind.group_resource} "{target.name}" restarting is not supported')
        await mutate(ctx, target, restart_stamp, dry_run=ctx.args.dry_run)
        ctx.print(f"{singular_name(target.kind)}/{target.name} restarted{dry_suffix(ctx.args.dry_run)}")

    return await report(ctx, targets, one)


# ---- registration ----

async def _targets(ctx: Context, verb: str) -> list[Target]:
    args = ctx.args
    return await resolve(ctx, args.targets, verb=f"rollout {verb}", selector=args.selector,
                         select_all=False, filenames=args.filename, recursive=args.recursive)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("targets", nargs="*", metavar="TYPE NAME | TYPE/NAME")
    add_file_flags(p, required=False)
    p.add_argument("-l", "--selector", default="")


def _bool(value: str) -> bool:
    if value.lower() not in ("true", "false", "1", "0"):
        raise argparse.ArgumentTypeError(f'invalid argument "{value}": strconv.ParseBool: parsing "{value}": '
                                         "invalid syntax")
    return value.lower() in ("true", "1")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    rollout = sub.add_parser("rollout", help="manage the rollout of Deployments, StatefulSets and DaemonSets")
    verbs = rollout.add_subparsers(dest="rollout_command", metavar="COMMAND", parser_class=type(rollout))
    p = allow_intermixed(verbs.add_parser("status", help="show the status of the rollout"))
    _common(p)
    p.add_argument("-w", "--watch", type=_bool, nargs="?", const=True, default=True)
    p.add_argument("--revision", type=int, default=0, help="pin to a revision (Deployments)")
    p.add_argument("--timeout", default="0s", help="how long to wait (0s: forever)")
    p.set_defaults(run=run_status)
    p = allow_intermixed(verbs.add_parser("history", help="list revisions, or show one with --revision"))
    _common(p)
    p.add_argument("--revision", type=int, default=0)
    p.set_defaults(run=run_history)
    p = allow_intermixed(verbs.add_parser("undo", help="roll back to the previous revision, or --to-revision"))
    _common(p)
    p.add_argument("--to-revision", type=int, default=0)
    add_dry_run(p)
    p.set_defaults(run=run_undo)
    for verb, fn, text in (("pause", _pause(True), "pause a Deployment"),
                           ("resume", _pause(False), "resume a paused Deployment"),
                           ("restart", run_restart, "restart every pod of a workload")):
        p = allow_intermixed(verbs.add_parser(verb, help=text))
        _common(p)
        p.set_defaults(run=fn, dry_run="none")  # kubectl 1.32 has no --dry-run on these three
