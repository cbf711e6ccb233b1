"""``create -f FILE`` and the generators (``create deployment``, ``create secret generic``, ...)."""

from __future__ import annotations

import argparse

from skiff.cli.commands.files import add_file_flags, add_output_flags, run_create_from_files
from skiff.cli.context import Context, UsageError


async def run_create(ctx: Context) -> int:
    if not ctx.args.filename:
        raise UsageError("error: must specify one of -f and -k, or a generator such as 'create deployment'")
    return await run_create_from_files(ctx)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("create", help="create objects from files or from a generator")
    add_file_flags(p, required=False)
    add_output_flags(p)
    p.set_defaults(run=run_create)
