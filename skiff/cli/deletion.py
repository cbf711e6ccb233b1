"""What deleting an object means to skiffctl, shared by ``delete`` and ``replace --force``.

kubectl's cascade names (:data:`CASCADE`), its grace-period rules (:func:`grace_period`), the
line printed per deleted object (:func:`deleted_line`) and the wait until a deleted object —
that uid, not a new one under the same name — is gone (:func:`wait_gone`).
"""

from __future__ import annotations

import argparse

from skiff.api import errors
from skiff.cli import following
from skiff.cli.context import Context, UsageError
from skiff.cli.printers import dry_suffix
from skiff.cli.resources import Target, singular_name

CASCADE = {"background": "Background", "true": "Background", "foreground": "Foreground", "orphan": "Orphan",
           "false": "Orphan"}


def grace_period(args: argparse.Namespace) -> int | None:
    """kubectl's rules: --now is 1 s; 0 without --force becomes 1 (no accidental data loss);
    --force without a grace period is 0; None leaves the object's own."""
    grace: int | None = args.grace_period
    if args.now:
        if grace is not None and grace >= 0:
            raise UsageError("error: --now and --grace-period cannot be specified together")
        grace = 1
    if grace == 0 and not args.force:
        grace = 1
    if args.force and (grace is None or grace < 0):
        grace = 0
    return grace if grace is not None and grace >= 0 else None


def deleted_line(target: Target, args: argparse.Namespace, grace: int | None) -> str:
    """``deployment.apps "web" deleted`` (``force deleted``, `` (dry run)``), or ``deployment.apps/web`` for -o name."""
    if args.output == "name":
        return f"{singular_name(target.kind)}/{target.name}"
    done = "force deleted" if grace == 0 else "deleted"
    return f'{singular_name(target.kind)} "{target.name}" {done}{dry_suffix(args.dry_run)}'


async def wait_gone(ctx: Context, target: Target, uid: str, timeout: float) -> None:
    """Return once the object with ``uid`` no longer exists (one created again under its name does
    not hold the wait, as kubectl compares uids); ``timeout`` 0 or less waits as long as it takes."""
    try:
        await following.follow(ctx.client, target, following.gone(uid),
                               timeout=timeout if timeout > 0 else None)
    except errors.NotFound:
        return
    except TimeoutError:
        raise UsageError(f"error: {following.TIMED_OUT} on {target.kind.resource}/{target.name}") from None
