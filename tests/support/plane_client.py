"""Set-up and reads for end-to-end tests through the client library, against a ``ControlPlane``:
quicker than a skiffctl process per object, for what a test arranges or inspects rather than
what it checks skiffctl does."""

from __future__ import annotations

import asyncio
from typing import Any

from skiff.api import kinds
from skiff.api.manifest import from_manifest, to_manifest
from skiff.client.client import Client
from tests.support.processes import ControlPlane


def create(plane: ControlPlane, ns: str, *docs: dict[str, Any]) -> None:
    """Set-up through the client library (a skiffctl process per object would be slow)."""
    async def go() -> None:
        async with Client(plane.server) as client:
            for doc in docs:
                await client.create(from_manifest(doc), namespace=ns)

    asyncio.run(go())


def get_json(plane: ControlPlane, ns: str, what: str) -> dict[str, Any]:
    """``TYPE/NAME`` as its manifest dict, read through the client library."""
    type_name, name = what.split("/")
    kind = kinds.lookup(type_name)

    async def go() -> dict[str, Any]:
        async with Client(plane.server) as client:
            return to_manifest(await client.get(kind.message, name, namespace=ns))

    return asyncio.run(go())
