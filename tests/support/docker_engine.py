"""Whether a Docker engine answers here (tests of the docker runtime skip without one)."""

from __future__ import annotations

import docker


def engine_answers() -> bool:
    try:
        client = docker.from_env(timeout=5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # noqa: BLE001 - any failure means: no engine here
        return False
