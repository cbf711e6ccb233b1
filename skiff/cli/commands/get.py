"""``get``: list or show objects, as kubectl prints them."""

from __future__ import annotations

import argparse

from google.protobuf.message import Message

from skiff.api import kinds
from skiff.cli.context import Context
from skiff.cli.printers import print_objects
from skiff.cli.resources import parse_targets


async def run_get(ctx: Context) -> int:
    args = ctx.args
    requests = parse_targets(args.targets)
    all_ns = args.all_namespaces
    found: list[Message] = []
    for kind, names in requests:
        ns = "" if all_ns else ctx.namespace
        if names:
            for name in names:
                found.append(await ctx.client.get(kind.message, name, namespace=ctx.namespace))
        else:
            result = await ctx.client.list(kind.message, namespace=ns, label_selector=args.selector,
                                           field_selector=args.field_selector)
            found.extend(result.items)
    single = len(requests) == 1 and len(requests[0][1]) == 1
    if not found and args.output in ("", "wide"):
        where = "" if all_ns or not any(k.namespaced for k, _ in requests) else f" in {ctx.namespace} namespace"
        ctx.warn(f"No resources found{where}.")
        return 0
    ctx.print(print_objects(found, args.output, all_namespaces=all_ns and any(k.namespaced for k, _ in requests),
                            single=single))
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("get", help="list or show objects")
    p.add_argument("targets", nargs="*", help="TYPE[,TYPE...] [NAME...] | TYPE/NAME...")
    p.add_argument("-o", "--output", default="", help="wide | yaml | json | name")
    p.add_argument("-l", "--selector", default="")
    p.add_argument("--field-selector", default="")
    p.add_argument("-A", "--all-namespaces", action="store_true")
    p.set_defaults(run=run_get)


__all__ = ["kinds", "register"]
