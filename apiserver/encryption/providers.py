"""Value transformers: how one etcd value is encrypted and decrypted, byte for byte like kube-apiserver.

The design mirrors ``k8s.io/apiserver/pkg/storage/value`` in three layers:

* A :class:`Cipher` seals and opens the *body* of one value with one key. There is one per
  algorithm: :class:`AESGCMCipher`, :class:`AESCBCCipher`, :class:`SecretboxCipher`, and
  :class:`IdentityCipher` (no encryption).
* A :class:`Provider` is one entry of an EncryptionConfiguration's ``providers`` list: a type
  (``aesgcm``, ``aescbc``, ``secretbox`` or ``identity``) and its keys in order, each key a
  ``(name, Cipher)`` pair.
* A :class:`PrefixTransformer` is the ordered list of providers configured for one resource. It
  is what the storage layer calls through the :class:`ValueTransformer` protocol.

The stored format is Kubernetes' own, so an etcd written by skiff can be read by kube-apiserver and
back::

    k8s:enc:aesgcm:v1:<key>:    nonce(12) || AES-GCM ciphertext || tag(16)   AAD = the etcd key
    k8s:enc:aescbc:v1:<key>:    IV(16) || AES-CBC ciphertext of PKCS#7-padded data
    k8s:enc:secretbox:v1:<key>: nonce(24) || NaCl secretbox (tag(16) || XSalsa20 ciphertext)
    (identity)                  the data unchanged

Only AES-GCM binds the value to its etcd key (the ``context`` argument, used as additional
authenticated data): a ciphertext copied under another key fails to decrypt. aescbc and secretbox
ignore the context, as in Kubernetes.

Writing uses the first key of the first provider. Reading flattens the providers into their
``(provider, key)`` pairs and tries, in order, every pair whose prefix the value starts with; an
identity pair has the empty prefix and refuses values that start with ``k8s:enc:``, so an
encrypted value always falls through to the provider that wrote it. A value read through any
pair but the very first is *stale*: rewriting it would encrypt it with the current write key,
which is how a key rotation or an encryption migration is completed. When no pair can read a
value, :class:`DecryptionError` says which provider and key wrote it and what is configured;
garbage is never returned for a key that is not configured.

AES-GCM uses a random 96-bit nonce per write, as Kubernetes does; like Kubernetes, rotate an
aesgcm key well before 2**32 writes (Kubernetes' guidance is every 200,000 writes).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher as _CryptoCipher
from cryptography.hazmat.primitives.ciphers import algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from nacl.exceptions import CryptoError
from nacl.secret import SecretBox

__all__ = [
    "PROVIDER_AESCBC",
    "PROVIDER_AESGCM",
    "ENCRYPTED_PREFIX",
    "PROVIDER_IDENTITY",
    "KEY_SIZES",
    "PROVIDER_SECRETBOX",
    "AESCBCCipher",
    "AESGCMCipher",
    "Cipher",
    "CipherError",
    "DecryptionError",
    "IdentityCipher",
    "PrefixTransformer",
    "Provider",
    "SecretboxCipher",
    "ValueTransformer",
    "identity_transformer",
    "new_provider",
]

ENCRYPTED_PREFIX: Final = b"k8s:enc:"
"""Every encrypted value starts with this; identity refuses to read such a value."""

PROVIDER_AESGCM: Final = "aesgcm"
PROVIDER_AESCBC: Final = "aescbc"
PROVIDER_SECRETBOX: Final = "secretbox"
PROVIDER_IDENTITY: Final = "identity"

KEY_SIZES: Final[dict[str, tuple[int, ...]]] = {
    PROVIDER_AESGCM: (16, 24, 32),
    PROVIDER_AESCBC: (16, 24, 32),
    PROVIDER_SECRETBOX: (32,),
}
"""Accepted secret lengths in bytes, per keyed provider type (Kubernetes' aesKeySizes / secretBoxKeySizes)."""

_GCM_NONCE_SIZE: Final = 12
_GCM_TAG_SIZE: Final = 16
_AES_BLOCK_SIZE: Final = 16
_SECRETBOX_NONCE_SIZE: Final = SecretBox.NONCE_SIZE  # 24
_SECRETBOX_OVERHEAD: Final = SecretBox.MACBYTES  # 16


class ValueTransformer(Protocol):
    """What the storage layer calls on every value it writes to or reads from etcd."""

    def to_storage(self, data: bytes, context: bytes) -> bytes:
        """Return the bytes to store for ``data``; ``context`` is the etcd key."""
        ...

    def from_storage(self, data: bytes, context: bytes) -> tuple[bytes, bool]:
        """Return ``(plaintext, stale)``; stale means a rewrite would store it differently.

        Raises :class:`DecryptionError` when no configured provider can read ``data``.
        """
        ...


class DecryptionError(Exception):
    """A stored value cannot be read with the configured providers.

    ``context`` is the etcd key of the value; ``provider`` and ``key_name`` name what the value's
    prefix says wrote it (None for a value without a ``k8s:enc:`` prefix).
    """

    def __init__(self, message: str, *, context: bytes, provider: str | None, key_name: str | None) -> None:
        super().__init__(message)
        self.context = context
        self.provider = provider
        self.key_name = key_name


class CipherError(Exception):
    """A :class:`Cipher` could not open a body; the message is the reason, without the key name."""


class Cipher(Protocol):
    """Seals and opens the body of a value (what follows the ``k8s:enc:<type>:v1:<key>:`` prefix)."""

    def seal(self, data: bytes, context: bytes) -> bytes: ...

    def open(self, data: bytes, context: bytes) -> bytes:
        """Return the plaintext, or raise :class:`CipherError`."""
        ...


class AESGCMCipher:
    """AES-GCM with a random 12-byte nonce; the context (etcd key) is authenticated, not stored."""

    def __init__(self, secret: bytes) -> None:
        self._aead = AESGCM(secret)

    def seal(self, data: bytes, context: bytes) -> bytes:
        nonce = os.urandom(_GCM_NONCE_SIZE)
        return nonce + self._aead.encrypt(nonce, data, context)

    def open(self, data: bytes, context: bytes) -> bytes:
        if len(data) < _GCM_NONCE_SIZE + _GCM_TAG_SIZE:
            raise CipherError("the stored data was shorter than the required size")
        try:
            return self._aead.decrypt(data[:_GCM_NONCE_SIZE], data[_GCM_NONCE_SIZE:], context)
        except InvalidTag:
            raise CipherError(
                "authentication failed: the key's secret differs from the one that wrote the value, "
                "the value was moved from another etcd key, or it was tampered with"
            ) from None


class AESCBCCipher:
    """AES-CBC with a random 16-byte IV and PKCS#7 padding; the context is not used."""

    def __init__(self, secret: bytes) -> None:
        self._algorithm = algorithms.AES(secret)

    def seal(self, data: bytes, context: bytes) -> bytes:
        iv = os.urandom(_AES_BLOCK_SIZE)
        padder = padding.PKCS7(_AES_BLOCK_SIZE * 8).padder()
        padded = padder.update(data) + padder.finalize()
        encryptor = _CryptoCipher(self._algorithm, modes.CBC(iv)).encryptor()
        return iv + encryptor.update(padded) + encryptor.finalize()

    def open(self, data: bytes, context: bytes) -> bytes:
        if len(data) < _AES_BLOCK_SIZE:
            raise CipherError("the stored data was shorter than the required size")
        iv, body = data[:_AES_BLOCK_SIZE], data[_AES_BLOCK_SIZE:]
        if not body or len(body) % _AES_BLOCK_SIZE:
            raise CipherError("the stored data is not a multiple of the block size")
        decryptor = _CryptoCipher(self._algorithm, modes.CBC(iv)).decryptor()
        padded = decryptor.update(body) + decryptor.finalize()
        unpadder = padding.PKCS7(_AES_BLOCK_SIZE * 8).unpadder()
        try:
            return unpadder.update(padded) + unpadder.finalize()
        except ValueError:
            raise CipherError("invalid PKCS#7 padding (wrong key secret, or corrupted data)") from None


class SecretboxCipher:
    """NaCl secretbox (XSalsa20-Poly1305) with a random 24-byte nonce; the context is not used."""

    def __init__(self, secret: bytes) -> None:
        self._box = SecretBox(secret)

    def seal(self, data: bytes, context: bytes) -> bytes:
        # EncryptedMessage is nonce || tag || ciphertext: the same layout as Go's secretbox.Seal
        # appended to the nonce, which is what Kubernetes stores.
        return bytes(self._box.encrypt(data, os.urandom(_SECRETBOX_NONCE_SIZE)))

    def open(self, data: bytes, context: bytes) -> bytes:
        if len(data) < _SECRETBOX_NONCE_SIZE + _SECRETBOX_OVERHEAD:
            raise CipherError("the stored data was shorter than the required size")
        try:
            return self._box.decrypt(data)
        except CryptoError:
            raise CipherError(
                "authentication failed: the key's secret differs from the one that wrote the value, "
                "or it was tampered with"
            ) from None


class IdentityCipher:
    """No encryption; refuses to 'read' a value that is encrypted (Kubernetes' encrypt-check identity)."""

    def seal(self, data: bytes, context: bytes) -> bytes:
        return data

    def open(self, data: bytes, context: bytes) -> bytes:
        if data.startswith(ENCRYPTED_PREFIX):
            raise CipherError("identity transformer tried to read encrypted data")
        return data


_CIPHERS: Final[dict[str, type[AESGCMCipher] | type[AESCBCCipher] | type[SecretboxCipher]]] = {
    PROVIDER_AESGCM: AESGCMCipher,
    PROVIDER_AESCBC: AESCBCCipher,
    PROVIDER_SECRETBOX: SecretboxCipher,
}


@dataclass(frozen=True)
class _Entry:
    """One ``(provider, key)`` pair, flattened out of the provider list, with its full prefix."""

    provider: str
    key_name: str | None
    prefix: bytes
    cipher: Cipher = field(repr=False)


@dataclass(frozen=True)
class Provider:
    """One element of an EncryptionConfiguration ``providers`` list, ready to use.

    ``keys`` holds ``(name, cipher)`` pairs in configuration order (the first one encrypts); it is
    empty for identity. Build one with :func:`new_provider`.
    """

    type: str
    """``aesgcm``, ``aescbc``, ``secretbox`` or ``identity``."""
    keys: tuple[tuple[str, Cipher], ...] = field(default=(), repr=False)
    """The provider's keys in order, as ``(name, cipher)``; empty for identity."""

    def __post_init__(self) -> None:
        if self.type == PROVIDER_IDENTITY:
            if self.keys:
                raise ValueError("the identity provider has no keys")
        elif self.type in _CIPHERS:
            if not self.keys:
                raise ValueError(f"the {self.type} provider needs at least one key")
        else:
            raise ValueError(f"unsupported provider type {self.type!r}")

    @property
    def key_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.keys)

    def describe(self) -> str:
        """``aesgcm(key2,key1)``, or ``identity``."""
        return f"{self.type}({','.join(self.key_names)})" if self.keys else self.type

    def _entries(self) -> list[_Entry]:
        if self.type == PROVIDER_IDENTITY:
            return [_Entry(PROVIDER_IDENTITY, None, b"", IdentityCipher())]
        return [_Entry(self.type, name, _prefix(self.type, name), cipher) for name, cipher in self.keys]


def new_provider(provider_type: str, keys: Iterable[tuple[str, bytes]] = ()) -> Provider:
    """Build a :class:`Provider` from ``(key name, raw secret)`` pairs (secrets already base64-decoded)."""
    if provider_type == PROVIDER_IDENTITY:
        return Provider(PROVIDER_IDENTITY)
    cipher_class = _CIPHERS.get(provider_type)
    if cipher_class is None:
        raise ValueError(f"unsupported provider type {provider_type!r}")
    built: list[tuple[str, Cipher]] = []
    for name, secret in keys:
        if len(secret) not in KEY_SIZES[provider_type]:
            raise ValueError(
                f"{provider_type} key {name!r}: secret is {len(secret)} bytes, "
                f"expected one of {list(KEY_SIZES[provider_type])}"
            )
        built.append((name, cipher_class(secret)))
    return Provider(provider_type, tuple(built))


def _prefix(provider_type: str, key_name: str) -> bytes:
    return ENCRYPTED_PREFIX + f"{provider_type}:v1:{key_name}:".encode()


class PrefixTransformer:
    """The ordered providers of one resource, as a :class:`ValueTransformer`.

    Writes with the first key of the first provider; reads with whichever ``(provider, key)``
    pair the value's prefix names, reporting ``stale`` unless that pair is the very first.
    """

    def __init__(self, providers: Sequence[Provider]) -> None:
        if not providers:
            raise ValueError("a transformer needs at least one provider")
        self.providers: tuple[Provider, ...] = tuple(providers)
        self._entries: tuple[_Entry, ...] = tuple(e for p in self.providers for e in p._entries())
        self._write = self._entries[0]

    def describe(self) -> str:
        """``aesgcm(key2,key1), identity``: the providers in order with their key names."""
        return ", ".join(p.describe() for p in self.providers)

    def __repr__(self) -> str:
        return f"PrefixTransformer({self.describe()})"

    def to_storage(self, data: bytes, context: bytes) -> bytes:
        entry = self._write
        return entry.prefix + entry.cipher.seal(data, context)

    def from_storage(self, data: bytes, context: bytes) -> tuple[bytes, bool]:
        failures: list[str] = []
        for index, entry in enumerate(self._entries):
            if not data.startswith(entry.prefix):
                continue
            try:
                plaintext = entry.cipher.open(data[len(entry.prefix) :], context)
            except CipherError as err:
                if entry.provider != PROVIDER_IDENTITY:  # identity refusing encrypted data is expected
                    failures.append(f'{entry.provider} key "{entry.key_name}": {err}')
                continue
            return plaintext, index != 0
        raise self._error(data, context, failures)

    def _error(self, data: bytes, context: bytes, failures: list[str]) -> DecryptionError:
        where = f"cannot decrypt the value at {_show(context)}"
        configured = f"(configured providers: {self.describe()})"
        if not data.startswith(ENCRYPTED_PREFIX):
            return DecryptionError(
                f'{where}: it is not encrypted (no "k8s:enc:" prefix) and the identity '
                f"provider is not in the encryption config {configured}",
                context=context,
                provider=None,
                key_name=None,
            )
        parts = data[len(ENCRYPTED_PREFIX) :].split(b":", 3)
        if len(parts) < 4:
            return DecryptionError(
                f'{where}: it has a malformed "k8s:enc:" prefix {configured}',
                context=context,
                provider=None,
                key_name=None,
            )
        provider, version, key_name = (_show(p, quote=False) for p in parts[:3])
        if failures:
            message = f"{where}: " + "; ".join(failures)
        elif version != "v1":
            message = (
                f'{where}: it was written by {provider} key "{key_name}" in format "{version}", '
                f"which skiff does not read {configured}"
            )
        else:
            message = (
                f'{where}: it was written by {provider} key "{key_name}", which is not in the '
                f"encryption config {configured}; add that key back (after the current one) to read it"
            )
        return DecryptionError(message, context=context, provider=provider, key_name=key_name)


def _show(raw: bytes, *, quote: bool = True, limit: int = 200) -> str:
    text = raw[:limit].decode("utf-8", errors="replace")
    if len(raw) > limit:
        text += "..."
    return f'"{text}"' if quote else text


def identity_transformer() -> PrefixTransformer:
    """The transformer of a resource without encryption: writes plaintext, refuses encrypted values."""
    return _IDENTITY_TRANSFORMER


_IDENTITY_TRANSFORMER: Final = PrefixTransformer([Provider(PROVIDER_IDENTITY)])
