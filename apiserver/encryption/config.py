"""kube-apiserver's EncryptionConfiguration file: parsing, validation, and per-resource lookup.

``skiff apiserver --encryption-provider-config FILE`` takes the very file kube-apiserver takes::

    apiVersion: apiserver.config.k8s.io/v1
    kind: EncryptionConfiguration
    resources:
      - resources: [secrets, configmaps]
        providers:
          - aesgcm: {keys: [{name: key2, secret: <base64>}, {name: key1, secret: <base64>}]}
          - identity: {}

The file is YAML or JSON. :func:`load_encryption_config` decodes it into frozen dataclasses
(:class:`EncryptionConfig` > :class:`ResourceConfig` > :class:`ProviderConfig` >
:class:`KeyConfig`) after validating it the way kube-apiserver does
(``k8s.io/apiserver/pkg/apis/apiserver/validation``). Every problem is collected and reported at
once in :class:`EncryptionConfigError`, each in Kubernetes' field-error shape, for example::

    resources[0].providers[1].aesgcm.keys[0].secret: Invalid value: "REDACTED": secret is not of the
    expected length, got 7, expected one of [16 24 32]

Secrets never appear in messages or reprs. Unknown fields are errors that name the field. The
``kms`` provider is refused with its own message: skiff has no KMS plugin support.

Resource names follow Kubernetes: ``secrets`` and ``configmaps`` are core resources,
``deployments.apps`` is group-qualified, ``*.apps`` is every resource of a group, ``*.`` every core
resource and ``*.*`` everything. Entries are processed in order; a resource listed in several
entries gets the providers of all of them, in order, and a resource listed after a wildcard that
already covers it is an error (it would be masked). :meth:`EncryptionConfig.transformer_for` looks a
resource up exactly, then by ``*.<group>``, then ``*.*``, and falls back to identity.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, NamedTuple

import yaml

from apiserver.encryption.providers import (
    KEY_SIZES,
    PROVIDER_AESCBC,
    PROVIDER_AESGCM,
    PROVIDER_IDENTITY,
    PROVIDER_SECRETBOX,
    PrefixTransformer,
    Provider,
    ValueTransformer,
    identity_transformer,
    new_provider,
)

__all__ = [
    "API_VERSION",
    "KIND",
    "EncryptionConfig",
    "EncryptionConfigError",
    "GroupResource",
    "KeyConfig",
    "ProviderConfig",
    "ResourceConfig",
    "describe",
    "identity_config",
    "load_encryption_config",
    "parse_encryption_config",
]

API_VERSION: Final = "apiserver.config.k8s.io/v1"
KIND: Final = "EncryptionConfiguration"

_PROVIDER_TYPES: Final = (PROVIDER_AESGCM, PROVIDER_AESCBC, PROVIDER_SECRETBOX, PROVIDER_IDENTITY)
_KEYED_TYPES: Final = (PROVIDER_AESGCM, PROVIDER_AESCBC, PROVIDER_SECRETBOX)


class EncryptionConfigError(ValueError):
    """The encryption provider config is unreadable or invalid.

    ``errors`` holds one Kubernetes-style field error per problem; ``source`` is the file, if any.
    """

    def __init__(self, errors: Sequence[str], *, source: str | None = None) -> None:
        self.errors: tuple[str, ...] = tuple(errors)
        self.source = source
        body = self.errors[0] if len(self.errors) == 1 else "; ".join(self.errors)
        if len(self.errors) > 1:
            body = f"{len(self.errors)} errors: {body}"
        where = f"encryption provider config {source!r}" if source else "encryption provider config"
        super().__init__(f"{where}: {body}")


class GroupResource(NamedTuple):
    """A resource and its API group ("" for core), parsed like Kubernetes' ParseGroupResource."""

    group: str
    resource: str

    @classmethod
    def parse(cls, text: str) -> GroupResource:
        """``secrets`` -> ("", "secrets"); ``deployments.apps`` -> ("apps", "deployments")."""
        resource, dot, group = text.partition(".")
        return cls(group if dot else "", resource)

    def __str__(self) -> str:
        if self.group == "" and self.resource == "*":
            return "*."
        return f"{self.resource}.{self.group}" if self.group else self.resource


@dataclass(frozen=True)
class KeyConfig:
    """One key of an aesgcm, aescbc or secretbox provider."""

    name: str
    """The key's name; it is written into every value it encrypts (``k8s:enc:aesgcm:v1:<name>:``)."""
    secret: bytes = field(repr=False)
    """The raw key (the file holds it base64-encoded); never logged."""


@dataclass(frozen=True)
class ProviderConfig:
    """One element of a ``providers`` list."""

    type: str
    """``aesgcm``, ``aescbc``, ``secretbox`` or ``identity``."""
    keys: tuple[KeyConfig, ...] = ()
    """The keys in order (the first encrypts); empty for identity."""

    def build(self) -> Provider:
        return new_provider(self.type, ((k.name, k.secret) for k in self.keys))


@dataclass(frozen=True)
class ResourceConfig:
    """One element of the top-level ``resources`` list."""

    resources: tuple[str, ...]
    """Resource names as written: ``secrets``, ``deployments.apps``, ``*.apps``, ``*.``, ``*.*``."""
    providers: tuple[ProviderConfig, ...]
    """The providers in order: the first one writes, all of them read."""


@dataclass(frozen=True)
class EncryptionConfig:
    """A loaded EncryptionConfiguration: which transformer each resource's values go through."""

    resources: tuple[ResourceConfig, ...] = ()
    """The ``resources`` entries in file order; empty means no encryption at all."""
    _transformers: dict[GroupResource, PrefixTransformer] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        # Build every cipher once. A resource named in several entries reads with the providers of
        # all of them, in order (Kubernetes appends them); masking was rejected by validation.
        chains: dict[GroupResource, list[Provider]] = {}
        for entry in self.resources:
            providers = [p.build() for p in entry.providers]
            for name in entry.resources:
                chains.setdefault(GroupResource.parse(name), []).extend(providers)
        self._transformers.update({gr: PrefixTransformer(ps) for gr, ps in chains.items()})

    def transformer_for(self, resource: str) -> ValueTransformer:
        """The transformer for ``resource``: a plural name (``secrets``) or ``resource.group``.

        Looks up the exact resource, then ``*.<group>``, then ``*.*``; a resource that none of
        them covers is stored as is (identity), and reading an encrypted value for it fails.
        """
        return self._lookup(GroupResource.parse(resource))

    def _lookup(self, gr: GroupResource) -> PrefixTransformer:
        for candidate in (gr, GroupResource(gr.group, "*"), GroupResource("*", "*")):
            transformer = self._transformers.get(candidate)
            if transformer is not None:
                return transformer
        return identity_transformer()

    @property
    def encrypts(self) -> bool:
        """True when some resource is written with a provider other than identity."""
        return any(t.providers[0].type != PROVIDER_IDENTITY for t in self._transformers.values())


def identity_config() -> EncryptionConfig:
    """The configuration without a file: every resource is stored unencrypted."""
    return EncryptionConfig()


def describe(config: EncryptionConfig) -> str:
    """A one-line summary for the start-up log, e.g. ``secrets: aesgcm(key2,key1), identity``.

    Resources are listed in file order; consecutive resources with the same providers share one
    clause (``secrets,configmaps: aescbc(key1)``); clauses are separated by ``; ``.
    """
    clauses: list[tuple[list[str], str]] = []
    for gr, transformer in config._transformers.items():
        providers = transformer.describe()
        if clauses and clauses[-1][1] == providers:
            clauses[-1][0].append(str(gr))
        else:
            clauses.append(([str(gr)], providers))
    if not clauses:
        return "all resources: identity (no encryption at rest)"
    return "; ".join(f"{','.join(names)}: {providers}" for names, providers in clauses)


def load_encryption_config(path: str | Path) -> EncryptionConfig:
    """Read, validate and build the EncryptionConfiguration in ``path`` (YAML or JSON).

    Raises :class:`EncryptionConfigError` listing every problem found.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise EncryptionConfigError([f"cannot read the file: {err}"], source=source) from err
    return parse_encryption_config(text, source=source)


def parse_encryption_config(
    document: str | Mapping[str, Any], *, source: str | None = None
) -> EncryptionConfig:
    """Validate and build an EncryptionConfiguration given as YAML/JSON text or an already-decoded mapping."""
    if isinstance(document, str):
        try:
            if document.lstrip().startswith("{"):
                decoded: Any = json.loads(document)
            else:
                decoded = yaml.safe_load(document)
        except (ValueError, yaml.YAMLError) as err:
            raise EncryptionConfigError([f"cannot decode YAML or JSON: {err}"], source=source) from err
    else:
        decoded = document
    errs = _Errors()
    resources = _parse_document(decoded, errs)
    if errs:
        raise EncryptionConfigError(errs, source=source)
    return EncryptionConfig(tuple(resources))


# --- validation -----------------------------------------------------------------------------------


class _Errors(list[str]):
    """Field errors rendered like k8s.io/apimachinery's field.Error."""

    def required(self, path: str, detail: str) -> None:
        self.append(f"{path}: Required value: {detail}")

    def invalid(self, path: str, value: object, detail: str) -> None:
        self.append(f"{path}: Invalid value: {_value(value)}: {detail}")

    def not_supported(self, path: str, value: object, supported: Sequence[str]) -> None:
        options = ", ".join(json.dumps(s) for s in supported)
        self.append(f"{path}: Unsupported value: {_value(value)}: supported values: {options}")

    def duplicate(self, path: str, value: object) -> None:
        self.append(f"{path}: Duplicate value: {_value(value)}")

    def forbidden(self, path: str, detail: str) -> None:
        self.append(f"{path}: Forbidden: {detail}")

    def unknown_fields(self, obj: Mapping[Any, Any], path: str, allowed: Sequence[str]) -> None:
        for name in obj:
            if name not in allowed:
                options = ", ".join(json.dumps(a) for a in allowed)
                self.append(f"{_child(path, str(name))}: Unknown field: supported fields: {options}")


class _TypeName(str):
    """A JSON type name shown in place of a bad value; rendered without quotes."""


def _value(value: object) -> str:
    if isinstance(value, _TypeName):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, default=str)
    return str(value)


def _child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _type_name(value: object) -> _TypeName:
    if value is None:
        return _TypeName("null")
    if isinstance(value, Mapping):
        return _TypeName("object")
    if isinstance(value, list):
        return _TypeName("list")
    return _TypeName(type(value).__name__)


def _parse_document(doc: Any, errs: _Errors) -> list[ResourceConfig]:
    if not isinstance(doc, Mapping):
        errs.invalid("<root>", _type_name(doc), f"must be an {KIND} object")
        return []
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    if api_version in (None, ""):
        errs.required("apiVersion", f"must be {json.dumps(API_VERSION)}")
    elif api_version != API_VERSION:
        errs.not_supported("apiVersion", api_version, [API_VERSION])
    if kind in (None, ""):
        errs.required("kind", f"must be {json.dumps(KIND)}")
    elif kind != KIND:
        errs.not_supported("kind", kind, [KIND])
    errs.unknown_fields(doc, "", ["apiVersion", "kind", "resources"])

    entries = doc.get("resources")
    if entries is None or entries == []:
        errs.required("resources", "at least one resources is required")
        return []
    if not isinstance(entries, list):
        errs.invalid("resources", _type_name(entries), "must be a list")
        return []

    parsed: list[ResourceConfig] = []
    seen: set[GroupResource] = set()
    for i, entry in enumerate(entries):
        config = _parse_resource_config(entry, f"resources[{i}]", errs, seen)
        if config is not None:
            parsed.append(config)
    return parsed


def _parse_resource_config(
    entry: Any, path: str, errs: _Errors, seen: set[GroupResource]
) -> ResourceConfig | None:
    if not isinstance(entry, Mapping):
        errs.invalid(path, _type_name(entry), "must be an object with resources and providers")
        return None
    errs.unknown_fields(entry, path, ["resources", "providers"])
    names = _parse_resource_names(entry.get("resources"), _child(path, "resources"), errs, seen)

    providers_path = _child(path, "providers")
    raw_providers = entry.get("providers")
    providers: list[ProviderConfig] = []
    if raw_providers is None or raw_providers == []:
        errs.required(providers_path, f"at least one {providers_path} is required")
    elif not isinstance(raw_providers, list):
        errs.invalid(providers_path, _type_name(raw_providers), "must be a list")
    else:
        for j, raw in enumerate(raw_providers):
            provider = _parse_provider(raw, f"{providers_path}[{j}]", errs)
            if provider is not None:
                providers.append(provider)
    return ResourceConfig(tuple(names), tuple(providers))


def _parse_resource_names(raw: Any, path: str, errs: _Errors, seen: set[GroupResource]) -> list[str]:
    if raw is None or raw == []:
        errs.required(path, f"at least one {path} is required")
        return []
    if not isinstance(raw, list):
        errs.invalid(path, _type_name(raw), "must be a list of resource names")
        return []
    valid: list[tuple[int, str]] = []
    for j, name in enumerate(raw):
        item = f"{path}[{j}]"
        if not isinstance(name, str):
            errs.invalid(item, _type_name(name), "must be a string")
        elif (problem := _resource_name_problem(name)) is not None:
            errs.invalid(item, name, problem)
        else:
            valid.append((j, name))
    names = [name for _, name in valid]
    _check_overlap(names, path, errs)
    # Across entries (Kubernetes' config loader): a name after a wildcard that covers it is masked.
    for j, name in valid:
        gr = GroupResource.parse(name)
        for wildcard in (GroupResource(gr.group, "*"), GroupResource("*", "*")):
            if wildcard in seen:
                errs.invalid(f"{path}[{j}]", name, f'resource "{gr}" is masked by earlier rule "{wildcard}"')
                break
    seen.update(GroupResource.parse(n) for n in names)
    return names


def _resource_name_problem(name: str) -> str | None:
    if name == "":
        return "resource name must not be empty"
    if name != name.lower():
        return "resource name should not contain capital letters"
    if name == "*":
        return "use '*.' to encrypt all the resources from core API group or *.* to encrypt all resources"
    gr = GroupResource.parse(name)
    if gr.group == "events.k8s.io":
        return (
            "'*.events.k8s.io' objects are stored using the 'events' API group in etcd. "
            "Use 'events' instead in the config file"
        )
    if gr.group == "extensions":
        return "'extensions' group has been removed and cannot be used for encryption"
    if gr.group == "*" and gr.resource != "*":
        return "encrypting the same resource across groups is not supported"
    return None


def _check_overlap(names: list[str], path: str, errs: _Errors) -> None:
    """Kubernetes' validateResourceOverlap: no duplicates, no wildcard next to what it covers."""
    parsed = [GroupResource.parse(n) for n in names]
    has_duplicate = has_overlap = False
    for i, first in enumerate(parsed):
        for j, second in enumerate(parsed):
            if i == j:
                continue
            if first == second:
                has_duplicate = True
                continue
            if first == ("*", "*") or (
                first.group == second.group and "*" in (first.resource, second.resource)
            ):
                has_overlap = True
    if has_duplicate:
        errs.invalid(path, names, "the same resource cannot be specified multiple times")
    if has_overlap:
        errs.invalid(
            path,
            names,
            "using overlapping resources such as 'secrets' and '*.' in the same resource list "
            "is not allowed as they will be masked",
        )


def _parse_provider(raw: Any, path: str, errs: _Errors) -> ProviderConfig | None:
    if not isinstance(raw, Mapping):
        errs.invalid(path, _type_name(raw), "must be an object naming one provider, e.g. {identity: {}}")
        return None
    found: list[str] = []
    for name, value in raw.items():
        if name == "kms":
            errs.forbidden(
                _child(path, "kms"),
                "the kms provider is not supported by skiff (no KMS plugins); use aesgcm, aescbc or "
                "secretbox with a local key, or identity",
            )
        elif name not in _PROVIDER_TYPES:
            errs.not_supported(_child(path, str(name)), name, _PROVIDER_TYPES)
        elif value is not None:  # like Go, `identity: null` leaves the provider unset
            found.append(name)
    if len(found) > 1:
        errs.invalid(
            path,
            found,
            "more than one provider specified in a single element, should split into different list elements",
        )
        return None
    if not found:
        if not raw or all(name in _PROVIDER_TYPES for name in raw):
            hint = " (an empty provider is written `identity: {}`)" if raw else ""
            errs.required(
                path,
                "provider does not contain any of the expected providers: "
                f"{', '.join(_PROVIDER_TYPES)}{hint}",
            )
        return None
    provider_type = found[0]
    provider_path = _child(path, provider_type)
    body = raw[provider_type]
    if not isinstance(body, Mapping):
        errs.invalid(provider_path, _type_name(body), "must be an object")
        return None
    if provider_type == PROVIDER_IDENTITY:
        errs.unknown_fields(body, provider_path, [])
        return ProviderConfig(PROVIDER_IDENTITY)
    errs.unknown_fields(body, provider_path, ["keys"])
    keys = _parse_keys(body.get("keys"), _child(provider_path, "keys"), KEY_SIZES[provider_type], errs)
    return ProviderConfig(provider_type, tuple(keys)) if keys is not None else None


def _parse_keys(raw: Any, path: str, sizes: Sequence[int], errs: _Errors) -> list[KeyConfig] | None:
    if raw is None or raw == []:
        errs.required(path, "at least one keys is required")
        return None
    if not isinstance(raw, list):
        errs.invalid(path, _type_name(raw), "must be a list of {name, secret}")
        return None
    keys: list[KeyConfig] = []
    names: set[str] = set()
    ok = True
    for i, item in enumerate(raw):
        key_path = f"{path}[{i}]"
        if not isinstance(item, Mapping):
            errs.invalid(key_path, _type_name(item), "must be an object with name and secret")
            ok = False
            continue
        errs.unknown_fields(item, key_path, ["name", "secret"])
        name, secret = item.get("name"), item.get("secret")
        name_path, secret_path = _child(key_path, "name"), _child(key_path, "secret")
        if name is None or name == "":
            errs.required(name_path, "name is a mandatory field for a key")
            ok = False
        elif not isinstance(name, str):
            errs.invalid(name_path, _type_name(name), "must be a string")
            ok = False
        elif name in names:
            errs.duplicate(name_path, name)
            ok = False
        else:
            names.add(name)
        decoded = _parse_secret(secret, secret_path, sizes, errs)
        if decoded is None:
            ok = False
        elif isinstance(name, str) and name:
            keys.append(KeyConfig(name, decoded))
    return keys if ok else None


def _parse_secret(secret: Any, path: str, sizes: Sequence[int], errs: _Errors) -> bytes | None:
    if secret is None or secret == "":
        errs.required(path, "secret is a mandatory field for a key")
        return None
    if not isinstance(secret, str):
        errs.invalid(path, "REDACTED", "secrets must be base64 encoded (a string)")
        return None
    try:
        # Go's base64.StdEncoding ignores line breaks but nothing else.
        decoded = base64.b64decode(secret.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):
        errs.invalid(path, "REDACTED", "secrets must be base64 encoded")
        return None
    if len(decoded) not in sizes:
        expected = "[" + " ".join(str(s) for s in sizes) + "]"
        detail = f"secret is not of the expected length, got {len(decoded)}, expected one of {expected}"
        errs.invalid(path, "REDACTED", detail)
        return None
    return decoded
