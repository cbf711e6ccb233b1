"""skiffctl: kubectl's verbs on skiff's API.

The parser is assembled from the command modules in ``skiff.cli.commands`` (each registers its
verbs); ``main`` runs the chosen verb and is the one place errors become kubectl-shaped lines
and exit codes — ``Error from server (NotFound): pods "x" not found``, ``error: ...`` — never a
traceback. Connection: ``--server``, ``SKIFF_SERVER``, or the config file ``skiff up`` writes.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from types import ModuleType

from skiff.cli.commands import (
    admin,
    attach,
    completion,
    cp,
    create,
    delete,
    describe,
    diff,
    edit,
    events,
    expose,
    files,
    get,
    info,
    label,
    logs,
    nodes,
    patch,
    portforward,
    rollout,
    scale,
    schedule,
    top,
    wait,
)
from skiff.cli.context import Context, UsageError
from skiff.cli.failures import FAILURES, failure_text
from skiff.cli.flags import request_timeout

# The order is the order of `skiffctl -h`.
COMMAND_MODULES: list[ModuleType] = [create, expose, get, files, delete, describe, edit, patch, diff, label, nodes,
                                     scale, rollout, wait, events, logs, attach, portforward, cp, schedule, info, top,
                                     admin, completion]


class _Parser(argparse.ArgumentParser):
    """argparse with kubectl's error shape: ``error: ...`` and exit code 1."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"error: {message}\nSee '{self.prog} -h' for help and examples", file=sys.stderr)
        raise SystemExit(1)


def add_global_flags(p: argparse.ArgumentParser, *, suppress: bool = False) -> None:
    """The flags kubectl accepts anywhere on the line (before or after the verb)."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    p.add_argument("--server", "-s", default=default(None),
                   help="apiserver HOST:PORT (else SKIFF_SERVER, else the config)")
    p.add_argument("--config", "--kubeconfig", default=default(None), help="config file (default ~/.skiff/config)")
    p.add_argument("--namespace", "-n", default=default(None), help="the namespace to act in")
    p.add_argument("--context", default=default(None), help="the config file's context to use")
    p.add_argument("--request-timeout", default=default(""),
                   help="how long one request may take: 5s, 1m, or seconds; 0 waits forever (default 30s)")


class _CommandParser(_Parser):
    """A verb's parser: it also takes the global flags, so ``get pods -n x`` works as in kubectl."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        add_global_flags(self, suppress=True)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="skiffctl", description="kubectl's verbs for a skiff cluster.")
    add_global_flags(p)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_CommandParser)
    for module in COMMAND_MODULES:
        module.register(sub)
    return p


async def _run(args: argparse.Namespace) -> int:
    ctx = Context.from_args(args, timeout=request_timeout(args.request_timeout))
    try:
        return int(await args.run(ctx))
    finally:
        await ctx.close()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 0
    try:
        return asyncio.run(_run(args))
    except FAILURES as exc:
        if isinstance(exc, UsageError) and exc.output:
            sys.stdout.write(exc.output)
            sys.stdout.flush()
        print(failure_text(exc), file=sys.stderr)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
