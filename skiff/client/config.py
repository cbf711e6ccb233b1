"""Which apiserver a client talks to, and in which namespace.

Order of precedence, as with kubectl: an explicit ``--server`` / argument, the ``SKIFF_SERVER``
environment variable, then the config file — ``--config``, ``SKIFF_CONFIG``, or ``~/.skiff/config``
(written by ``skiff up``), a small kubeconfig-shaped YAML file with contexts holding a server and
a namespace — and finally ``127.0.0.1:6443``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_SERVER = "127.0.0.1:6443"


def config_path(explicit: str | None = None) -> Path:
    return Path(explicit or os.environ.get("SKIFF_CONFIG") or Path.home() / ".skiff" / "config")


@dataclass
class Context:
    name: str
    server: str
    namespace: str = "default"


@dataclass
class Config:
    """The parsed config file."""

    contexts: dict[str, Context] = field(default_factory=dict)
    current_context: str = ""

    @property
    def current(self) -> Context | None:
        return self.contexts.get(self.current_context)

    def to_dict(self) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": self.current_context,
            "contexts": [{"name": c.name, "context": {"server": c.server, "namespace": c.namespace}}
                         for c in self.contexts.values()],
        }


class ConfigError(ValueError):
    """A config file that cannot be read: ``error loading config file "PATH": why``, as kubectl says."""

    def __init__(self, path: Path, why: str) -> None:
        super().__init__(f'error loading config file "{path}": {why}')


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's complaint in the shape of Go's yaml errors (``yaml: line 2: ...``)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    return f"yaml: line {mark.line + 1}: {problem}" if mark is not None else f"yaml: {problem}"


def _read_config_data(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(path, _yaml_problem(exc)) from None
    if not isinstance(data, dict):
        raise ConfigError(path, f"expected a mapping, got {type(data).__name__}")
    contexts = data.get("contexts") or []
    if not isinstance(contexts, list) or not all(isinstance(e, dict) for e in contexts):
        raise ConfigError(path, "contexts: expected a list of {name, context} mappings")
    if not all(isinstance(e.get("context") or {}, dict) for e in contexts):
        raise ConfigError(path, "contexts[].context: expected a mapping")
    return data


def load_config(path: Path) -> Config:
    """The config file at ``path`` (an empty config when there is none); ConfigError when unreadable."""
    if not path.exists():
        return Config()
    data = _read_config_data(path)
    config = Config(current_context=str(data.get("current-context") or ""))
    for entry in data.get("contexts") or []:
        ctx = entry.get("context") or {}
        name = str(entry.get("name", ""))
        config.contexts[name] = Context(name, str(ctx.get("server", DEFAULT_SERVER)),
                                        str(ctx.get("namespace") or "default"))
    return config


def save_config(config: Config, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    tmp.replace(path)


def write_cluster_config(server: str, path: Path | None = None, *, name: str = "skiff") -> Path:
    """Point the config file's current context at ``server`` (what ``skiff up`` does)."""
    path = path or config_path()
    config = load_config(path)
    namespace = config.contexts[name].namespace if name in config.contexts else "default"
    config.contexts[name] = Context(name, server, namespace)
    config.current_context = name
    save_config(config, path)
    return path


@dataclass(frozen=True)
class Target:
    server: str
    namespace: str


class ContextNotFound(LookupError):
    """``--context`` names a context the config file does not have (kubectl's words)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"context was not found for specified context: {name}")


def resolve(server: str | None = None, *, config_file: str | None = None, context: str | None = None) -> Target:
    """The server and default namespace a client should use: those of ``context`` when named
    (``--context``), else of the config's current context."""
    config = load_config(config_path(config_file))
    current = config.current
    if context:  # named on the command line, it outranks SKIFF_SERVER too; only --server beats it
        named = config.contexts.get(context)
        if named is None:
            raise ContextNotFound(context)
        return Target((server or named.server).removeprefix("http://").removeprefix("https://"), named.namespace)
    namespace = current.namespace if current else "default"
    chosen = server or os.environ.get("SKIFF_SERVER") or (current.server if current else DEFAULT_SERVER)
    return Target(chosen.removeprefix("http://").removeprefix("https://"), namespace)
