"""Encryption of values at rest, in kube-apiserver's format and with its configuration file.

The apiserver loads ``--encryption-provider-config`` once with :func:`load_encryption_config`
(or uses :func:`identity_config` when the flag is absent), logs :func:`describe` of it, and hands
the storage layer ``config.transformer_for(resource)``: a :class:`ValueTransformer` whose
``to_storage(data, etcd_key)`` / ``from_storage(data, etcd_key)`` wrap every value written to and
read from etcd. ``from_storage`` also says whether a value is *stale* (not written with the current
write key), so a rewrite completes a key rotation. See :mod:`.config` for the file format and
:mod:`.providers` for the stored byte format.
"""

from apiserver.encryption.config import (
    API_VERSION,
    KIND,
    EncryptionConfig,
    EncryptionConfigError,
    GroupResource,
    KeyConfig,
    ProviderConfig,
    ResourceConfig,
    describe,
    identity_config,
    load_encryption_config,
    parse_encryption_config,
)
from apiserver.encryption.providers import (
    ENCRYPTED_PREFIX,
    KEY_SIZES,
    PROVIDER_AESCBC,
    PROVIDER_AESGCM,
    PROVIDER_IDENTITY,
    PROVIDER_SECRETBOX,
    DecryptionError,
    PrefixTransformer,
    Provider,
    ValueTransformer,
    identity_transformer,
    new_provider,
)

__all__ = [
    "API_VERSION",
    "ENCRYPTED_PREFIX",
    "KEY_SIZES",
    "KIND",
    "PROVIDER_AESCBC",
    "PROVIDER_AESGCM",
    "PROVIDER_IDENTITY",
    "PROVIDER_SECRETBOX",
    "DecryptionError",
    "EncryptionConfig",
    "EncryptionConfigError",
    "GroupResource",
    "KeyConfig",
    "PrefixTransformer",
    "Provider",
    "ProviderConfig",
    "ResourceConfig",
    "ValueTransformer",
    "describe",
    "identity_config",
    "identity_transformer",
    "load_encryption_config",
    "new_provider",
    "parse_encryption_config",
]
