"""Leader election on a Lease object, with client-go's semantics.

Several replicas of a component (scheduler, controller-manager) run; one holds the Lease
``<namespace>/<name>`` and acts, the others wait. The holder renews ``spec.renewTime`` every
``retry_period``; if it cannot renew within ``renew_deadline`` it stops leading (its work is
cancelled) before anyone else can take over. A candidate takes the Lease only when the record it
observed has not changed for ``lease_duration`` by its *own* clock — like client-go, it never
compares another machine's timestamps with its clock, so clock skew cannot cause two leaders.
Every write is a compare-and-swap on the Lease's resourceVersion, so two candidates can never
both win the same term.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from prometheus_client import Gauge

from skiff.api import errors
from skiff.api.timestamps import rfc3339_micro
from skiff.api.v1 import apps_pb2
from skiff.client.client import Client
from skiff.client.clock import Clock, RealClock

log = logging.getLogger("skiff.leaderelection")

LEADER_STATUS = Gauge("leader_election_master_status",
                      "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, "
                      "1 indicates master. 'name' is the string used to identify the lease.", ["name"])


@dataclass(frozen=True)
class LeaderElectionConfig:
    """How a component competes for its Lease."""

    namespace: str
    name: str
    identity: str = ""
    """This candidate's name in ``holderIdentity`` (default: hostname + random suffix)."""
    lease_duration: float = 15.0
    """How long a Lease is honoured after its holder's last renewal was observed."""
    renew_deadline: float = 10.0
    """How long the leader keeps trying to renew before it gives up leading."""
    retry_period: float = 2.0
    """How often candidates retry and the leader renews."""

    def with_identity(self) -> LeaderElectionConfig:
        if self.identity:
            return self
        ident = f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"
        return LeaderElectionConfig(self.namespace, self.name, ident, self.lease_duration, self.renew_deadline,
                                    self.retry_period)


class LeaderElector:
    """Competes for one Lease; ``run(work)`` runs ``work`` only while leading."""

    def __init__(self, client: Client, config: LeaderElectionConfig, *, clock: Clock | None = None) -> None:
        self.client = client
        self.config = config.with_identity()
        self.clock = clock or RealClock()
        self._observed: tuple[str, str] | None = None  # (holder, renewTime) of the record last seen
        self._observed_at = 0.0
        self._leading = False

    @property
    def identity(self) -> str:
        return self.config.identity

    @property
    def is_leader(self) -> bool:
        return self._leading

    async def run(self, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Forever: acquire, run ``work`` while renewals succeed, cancel it when leadership is lost."""
        while True:
            await self._acquire()
            self._set_leading(True)
            log.info("%s became leader of %s/%s", self.identity, self.config.namespace, self.config.name)
            worker: asyncio.Task[None] = asyncio.create_task(work())
            try:
                await self._renew_until_lost(worker)
            finally:
                self._set_leading(False)
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await worker
            log.warning("%s lost leadership of %s/%s", self.identity, self.config.namespace, self.config.name)

    def _set_leading(self, value: bool) -> None:
        self._leading = value
        LEADER_STATUS.labels(self.config.name).set(1 if value else 0)

    async def _acquire(self) -> None:
        while not await self.try_acquire_or_renew():
            await self.clock.sleep(self.config.retry_period)

    async def _renew_until_lost(self, worker: asyncio.Task[None]) -> None:
        last_renew = self.clock.now()
        while not worker.done():
            await self.clock.sleep(self.config.retry_period)
            if await self.try_acquire_or_renew():
                last_renew = self.clock.now()
            elif self.clock.now() - last_renew >= self.config.renew_deadline or not self._still_mine():
                return

    def _still_mine(self) -> bool:
        return self._observed is not None and self._observed[0] == self.identity

    async def try_acquire_or_renew(self) -> bool:
        """One round: take or renew the Lease if allowed; True when this candidate holds it."""
        try:
            lease = await self.client.get(apps_pb2.Lease, self.config.name, namespace=self.config.namespace)
        except errors.NotFound:
            return await self._create()
        except errors.StatusError as exc:
            log.debug("reading lease failed: %s", exc)
            return False
        self._observe(lease)
        holder = lease.spec.holder_identity
        if holder and holder != self.identity and not self._expired(lease):
            return False
        return await self._take(lease)

    def _observe(self, lease: apps_pb2.Lease) -> None:
        record = (lease.spec.holder_identity, lease.spec.renew_time)
        if record != self._observed:
            self._observed = record
            self._observed_at = self.clock.now()

    def _expired(self, lease: apps_pb2.Lease) -> bool:
        duration = lease.spec.lease_duration_seconds or self.config.lease_duration
        return self.clock.now() > self._observed_at + duration

    async def _create(self) -> bool:
        lease = apps_pb2.Lease()
        lease.metadata.name, lease.metadata.namespace = self.config.name, self.config.namespace
        self._fill(lease, new_holder=True)
        try:
            created = await self.client.create(lease)
        except errors.StatusError as exc:
            log.debug("creating lease failed: %s", exc)
            return False
        self._observe(created)
        return True

    async def _take(self, lease: apps_pb2.Lease) -> bool:
        new_holder = lease.spec.holder_identity != self.identity
        self._fill(lease, new_holder=new_holder)
        try:
            updated = await self.client.update(lease)
        except errors.StatusError as exc:
            log.debug("updating lease failed: %s", exc)
            return False
        self._observe(updated)
        return True

    def _fill(self, lease: apps_pb2.Lease, *, new_holder: bool) -> None:
        now = rfc3339_micro()
        spec = lease.spec
        if new_holder:
            if spec.holder_identity:
                spec.lease_transitions = spec.lease_transitions + 1
            spec.acquire_time = now
        spec.holder_identity = self.identity
        spec.lease_duration_seconds = int(self.config.lease_duration)
        spec.renew_time = now

    async def release(self) -> None:
        """Give the Lease up at shutdown so a standby takes over at once (only if still ours)."""
        with contextlib.suppress(errors.StatusError):
            lease = await self.client.get(apps_pb2.Lease, self.config.name, namespace=self.config.namespace)
            if lease.spec.holder_identity == self.identity:
                lease.spec.holder_identity = ""
                lease.spec.lease_duration_seconds = 1
                lease.spec.renew_time = rfc3339_micro()
                await self.client.update(lease)
        self._set_leading(False)
