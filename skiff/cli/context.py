"""What every skiffctl command gets: the parsed flags, the effective namespace, a lazily
connected client, and helpers for the kubectl-shaped output every verb shares."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from typing import TextIO

from skiff.client.client import Client
from skiff.client.config import ConfigError, ContextNotFound, resolve


class UsageError(Exception):
    """A mistake on the command line; printed as is (``error: ...``), exit 1. ``output`` is what
    kubectl writes to stdout before such an error (a failed template's partial output and dump)."""

    def __init__(self, message: str, *, output: str = "") -> None:
        super().__init__(message)
        self.output = output


@dataclass
class Context:
    args: argparse.Namespace
    server: str
    namespace: str
    """The namespace to act in: -n, else the config's current namespace, else default."""
    namespace_explicit: bool
    timeout: float | None = 30.0
    """Seconds one request may take (``--request-timeout``); None waits as long as it takes."""
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    _client: Client | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace, *, timeout: float | None = 30.0) -> Context:
        try:
            target = resolve(args.server, config_file=args.config, context=args.context)
        except (ConfigError, ContextNotFound) as exc:
            raise UsageError(f"error: {exc}") from None
        return cls(args=args, server=target.server, namespace=args.namespace or target.namespace,
                   namespace_explicit=bool(args.namespace), timeout=timeout)

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = Client(self.server, timeout=self.timeout)
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()

    def print(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def warn(self, text: str) -> None:
        print(text, file=self.err, flush=True)
