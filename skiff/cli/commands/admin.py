"""``reencrypt``: rewrite every object of a resource so it is stored under the apiserver's
current first encryption key (the last step of a key rotation; see the README)."""

from __future__ import annotations

import argparse

from skiff.cli.context import Context
from skiff.cli.resources import kind_named


async def run_reencrypt(ctx: Context) -> int:
    kind = kind_named(ctx.args.resource)
    result = await ctx.client.list(kind.message)
    for obj in result.items:
        await ctx.client.update(obj)
    ctx.print(f"{len(result.items)} {kind.resource} rewritten with the current encryption key")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("reencrypt", help="rewrite stored objects under the current encryption key")
    p.add_argument("resource", nargs="?", default="secrets")
    p.set_defaults(run=run_reencrypt)
