"""Encryption at rest: kube-apiserver's EncryptionConfiguration and its stored value format.

The format tests decrypt what skiff wrote with the raw primitives (and build values by hand for
skiff to read), so they pin the byte layout Kubernetes uses rather than merely a round trip.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from nacl.secret import SecretBox

from apiserver.encryption import (
    DecryptionError,
    EncryptionConfig,
    EncryptionConfigError,
    describe,
    identity_config,
    load_encryption_config,
    parse_encryption_config,
)

KEY1 = bytes(range(32))
KEY2 = bytes(range(100, 132))
CTX = b"/registry/secrets/default/db-password"
PLAINTEXT = b"k8s\x00\x0a\x0c\x0a\x02v1\x12\x06Secret hunter2-is-the-password"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def provider(kind: str, *keys: tuple[str, bytes]) -> dict[str, object]:
    if kind == "identity":
        return {"identity": {}}
    return {kind: {"keys": [{"name": name, "secret": b64(secret)} for name, secret in keys]}}


def config(*providers: dict[str, object], resources: tuple[str, ...] = ("secrets",)) -> EncryptionConfig:
    return parse_encryption_config(
        document(resources=[{"resources": list(resources), "providers": list(providers)}])
    )


def document(**overrides: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "EncryptionConfiguration",
        "resources": [{"resources": ["secrets"], "providers": [provider("aesgcm", ("key1", KEY1))]}],
    }
    doc.update(overrides)
    return doc


def write_read(
    cfg: EncryptionConfig, data: bytes = PLAINTEXT, context: bytes = CTX
) -> tuple[bytes, bytes, bool]:
    t = cfg.transformer_for("secrets")
    stored = t.to_storage(data, context)
    plain, stale = t.from_storage(stored, context)
    return stored, plain, stale


# --- stored format --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["aesgcm", "aescbc", "secretbox"])
@pytest.mark.parametrize("data", [PLAINTEXT, b"", b"x" * 16, b"y" * 1000])
def test_round_trip_encrypting_providers(kind: str, data: bytes) -> None:
    stored, plain, stale = write_read(config(provider(kind, ("key1", KEY1))), data)
    assert plain == data
    assert stale is False
    assert stored.startswith(f"k8s:enc:{kind}:v1:key1:".encode())
    if data:
        assert data not in stored


@pytest.mark.parametrize("kind", ["aesgcm", "aescbc"])
@pytest.mark.parametrize("size", [16, 24, 32])
def test_aes_key_sizes(kind: str, size: int) -> None:
    stored, plain, _ = write_read(config(provider(kind, ("k", KEY2[:size]))))
    assert plain == PLAINTEXT
    assert PLAINTEXT not in stored


def test_identity_writes_data_unchanged_and_is_not_stale() -> None:
    stored, plain, stale = write_read(config(provider("identity")))
    assert stored == PLAINTEXT
    assert (plain, stale) == (PLAINTEXT, False)


def test_aesgcm_layout_is_nonce_ciphertext_tag_with_etcd_key_as_aad() -> None:
    prefix = b"k8s:enc:aesgcm:v1:key1:"
    stored = config(provider("aesgcm", ("key1", KEY1))).transformer_for("secrets").to_storage(PLAINTEXT, CTX)
    body = stored[len(prefix) :]
    assert len(body) == 12 + len(PLAINTEXT) + 16
    assert AESGCM(KEY1).decrypt(body[:12], body[12:], CTX) == PLAINTEXT


def test_aescbc_layout_is_iv_then_pkcs7_padded_ciphertext() -> None:
    prefix = b"k8s:enc:aescbc:v1:key1:"
    stored = config(provider("aescbc", ("key1", KEY1))).transformer_for("secrets").to_storage(PLAINTEXT, CTX)
    body = stored[len(prefix) :]
    assert len(body) == 16 + (len(PLAINTEXT) // 16 + 1) * 16
    decryptor = Cipher(algorithms.AES(KEY1), modes.CBC(body[:16])).decryptor()
    padded = decryptor.update(body[16:]) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    assert unpadder.update(padded) + unpadder.finalize() == PLAINTEXT


def test_secretbox_layout_is_nonce_then_nacl_box() -> None:
    prefix = b"k8s:enc:secretbox:v1:key1:"
    stored = (
        config(provider("secretbox", ("key1", KEY1))).transformer_for("secrets").to_storage(PLAINTEXT, CTX)
    )
    body = stored[len(prefix) :]
    assert len(body) == 24 + 16 + len(PLAINTEXT)
    assert SecretBox(KEY1).decrypt(body[24:], body[:24]) == PLAINTEXT


def test_reads_values_built_by_hand_in_kubernetes_format() -> None:
    """What kube-apiserver would have written is readable (decrypt side of the format)."""
    nonce = bytes(12)
    gcm = b"k8s:enc:aesgcm:v1:key1:" + nonce + AESGCM(KEY1).encrypt(nonce, PLAINTEXT, CTX)
    iv = bytes(range(16))
    padder = padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(KEY1), modes.CBC(iv)).encryptor()
    cbc_body = encryptor.update(padder.update(PLAINTEXT) + padder.finalize()) + encryptor.finalize()
    cbc = b"k8s:enc:aescbc:v1:key1:" + iv + cbc_body
    box = b"k8s:enc:secretbox:v1:key1:" + bytes(SecretBox(KEY1).encrypt(PLAINTEXT, bytes(24)))
    for kind, stored in (("aesgcm", gcm), ("aescbc", cbc), ("secretbox", box)):
        t = config(provider(kind, ("key1", KEY1))).transformer_for("secrets")
        assert t.from_storage(stored, CTX) == (PLAINTEXT, False), kind


@pytest.mark.parametrize("kind", ["aesgcm", "aescbc", "secretbox"])
def test_each_write_uses_a_fresh_nonce(kind: str) -> None:
    t = config(provider(kind, ("key1", KEY1))).transformer_for("secrets")
    assert t.to_storage(PLAINTEXT, CTX) != t.to_storage(PLAINTEXT, CTX)


def test_aesgcm_value_moved_to_another_etcd_key_fails() -> None:
    t = config(provider("aesgcm", ("key1", KEY1))).transformer_for("secrets")
    stored = t.to_storage(PLAINTEXT, CTX)
    with pytest.raises(DecryptionError, match=r'aesgcm key "key1": authentication failed') as err:
        t.from_storage(stored, b"/registry/secrets/default/other")
    assert "/registry/secrets/default/other" in str(err.value)
    assert (err.value.provider, err.value.key_name) == ("aesgcm", "key1")


@pytest.mark.parametrize("kind", ["aescbc", "secretbox"])
def test_aescbc_and_secretbox_do_not_bind_the_etcd_key_like_kubernetes(kind: str) -> None:
    t = config(provider(kind, ("key1", KEY1))).transformer_for("secrets")
    assert t.from_storage(t.to_storage(PLAINTEXT, CTX), b"/elsewhere") == (PLAINTEXT, False)


@pytest.mark.parametrize("kind", ["aesgcm", "secretbox"])
def test_tampered_authenticated_value_is_rejected(kind: str) -> None:
    t = config(provider(kind, ("key1", KEY1))).transformer_for("secrets")
    stored = bytearray(t.to_storage(PLAINTEXT, CTX))
    stored[-5] ^= 0x01
    with pytest.raises(DecryptionError, match="authentication failed"):
        t.from_storage(bytes(stored), CTX)


@pytest.mark.parametrize("kind", ["aesgcm", "aescbc", "secretbox"])
def test_truncated_value_is_rejected(kind: str) -> None:
    t = config(provider(kind, ("key1", KEY1))).transformer_for("secrets")
    stored = t.to_storage(PLAINTEXT, CTX)
    with pytest.raises(DecryptionError, match=f'{kind} key "key1"'):
        t.from_storage(stored[: len(f"k8s:enc:{kind}:v1:key1:") + 5], CTX)


@pytest.mark.parametrize("kind", ["aesgcm", "secretbox"])
def test_same_key_name_with_another_secret_is_an_error_not_garbage(kind: str) -> None:
    stored = config(provider(kind, ("key1", KEY1))).transformer_for("secrets").to_storage(PLAINTEXT, CTX)
    other = config(provider(kind, ("key1", KEY2))).transformer_for("secrets")
    with pytest.raises(DecryptionError, match=f'{kind} key "key1": authentication failed'):
        other.from_storage(stored, CTX)


# --- rotation and migration ---------------------------------------------------------------------


def test_rotation_new_key_first_reads_old_key_and_reports_stale() -> None:
    old = config(provider("aesgcm", ("key1", KEY1))).transformer_for("secrets")
    stored_by_key1 = old.to_storage(PLAINTEXT, CTX)

    rotated = config(provider("aesgcm", ("key2", KEY2), ("key1", KEY1))).transformer_for("secrets")
    assert rotated.from_storage(stored_by_key1, CTX) == (PLAINTEXT, True)

    rewritten = rotated.to_storage(PLAINTEXT, CTX)
    assert rewritten.startswith(b"k8s:enc:aesgcm:v1:key2:")
    assert rotated.from_storage(rewritten, CTX) == (PLAINTEXT, False)


def test_rotation_second_key_written_as_first_key_is_stale() -> None:
    """Order matters: with [key1, key2], key2 data is stale even though key2 is configured."""
    key2_first = config(provider("aesgcm", ("key2", KEY2))).transformer_for("secrets")
    stored = key2_first.to_storage(PLAINTEXT, CTX)
    t = config(provider("aesgcm", ("key1", KEY1), ("key2", KEY2))).transformer_for("secrets")
    assert t.from_storage(stored, CTX) == (PLAINTEXT, True)


def test_removed_key_is_rejected_clearly() -> None:
    stored = config(provider("aesgcm", ("key1", KEY1))).transformer_for("secrets").to_storage(PLAINTEXT, CTX)
    only_key2 = config(provider("aesgcm", ("key2", KEY2))).transformer_for("secrets")
    with pytest.raises(DecryptionError) as err:
        only_key2.from_storage(stored, CTX)
    message = str(err.value)
    assert 'aesgcm key "key1"' in message
    assert "not in the encryption config" in message
    assert "aesgcm(key2)" in message
    assert (err.value.provider, err.value.key_name) == ("aesgcm", "key1")


def test_value_of_a_provider_type_no_longer_configured_is_rejected_clearly() -> None:
    stored = config(provider("secretbox", ("sb", KEY1))).transformer_for("secrets").to_storage(PLAINTEXT, CTX)
    t = config(provider("aesgcm", ("sb", KEY1)), provider("identity")).transformer_for("secrets")
    with pytest.raises(
        DecryptionError, match=r'written by secretbox key "sb", which is not in the encryption'
    ):
        t.from_storage(stored, CTX)


def test_migration_between_provider_types_is_stale() -> None:
    stored = config(provider("aescbc", ("old", KEY1))).transformer_for("secrets").to_storage(PLAINTEXT, CTX)
    t = config(provider("aesgcm", ("new", KEY2)), provider("aescbc", ("old", KEY1))).transformer_for(
        "secrets"
    )
    assert t.from_storage(stored, CTX) == (PLAINTEXT, True)


def test_same_provider_type_listed_twice() -> None:
    stored = config(provider("aescbc", ("b", KEY2))).transformer_for("secrets").to_storage(PLAINTEXT, CTX)
    t = config(provider("aescbc", ("a", KEY1)), provider("identity"), provider("aescbc", ("b", KEY2)))
    assert t.transformer_for("secrets").from_storage(stored, CTX) == (PLAINTEXT, True)


# --- identity ---------------------------------------------------------------------------------


def test_plaintext_is_read_when_identity_is_listed_after_encryption_and_is_stale() -> None:
    t = config(provider("aesgcm", ("key1", KEY1)), provider("identity")).transformer_for("secrets")
    assert t.from_storage(PLAINTEXT, CTX) == (PLAINTEXT, True)


def test_identity_first_writes_plaintext_and_still_reads_encrypted_values() -> None:
    encrypted = (
        config(provider("aesgcm", ("key1", KEY1))).transformer_for("secrets").to_storage(PLAINTEXT, CTX)
    )
    t = config(provider("identity"), provider("aesgcm", ("key1", KEY1))).transformer_for("secrets")
    assert t.to_storage(PLAINTEXT, CTX) == PLAINTEXT
    assert t.from_storage(PLAINTEXT, CTX) == (PLAINTEXT, False)
    assert t.from_storage(encrypted, CTX) == (PLAINTEXT, True)


def test_plaintext_is_rejected_without_identity() -> None:
    t = config(provider("aesgcm", ("key1", KEY1))).transformer_for("secrets")
    with pytest.raises(DecryptionError, match=r'not encrypted \(no "k8s:enc:" prefix\)') as err:
        t.from_storage(PLAINTEXT, CTX)
    assert "identity" in str(err.value)
    assert err.value.provider is None


def test_unlisted_resource_uses_identity_and_refuses_encrypted_values() -> None:
    cfg = config(provider("aesgcm", ("key1", KEY1)))
    configmaps = cfg.transformer_for("configmaps")
    assert configmaps.to_storage(PLAINTEXT, CTX) == PLAINTEXT
    assert configmaps.from_storage(PLAINTEXT, CTX) == (PLAINTEXT, False)
    encrypted = cfg.transformer_for("secrets").to_storage(PLAINTEXT, CTX)
    with pytest.raises(DecryptionError, match=r'written by aesgcm key "key1"'):
        configmaps.from_storage(encrypted, CTX)


def test_identity_config_encrypts_nothing() -> None:
    cfg = identity_config()
    for resource in ("secrets", "configmaps", "deployments.apps"):
        t = cfg.transformer_for(resource)
        assert t.to_storage(PLAINTEXT, CTX) == PLAINTEXT
        assert t.from_storage(PLAINTEXT, CTX) == (PLAINTEXT, False)
    assert cfg.encrypts is False
    assert describe(cfg) == "all resources: identity (no encryption at rest)"


# --- resources and lookup ---------------------------------------------------------------------


def test_secrets_and_configmaps_in_one_entry() -> None:
    cfg = config(provider("aescbc", ("key1", KEY1)), resources=("secrets", "configmaps"))
    for resource in ("secrets", "configmaps"):
        assert cfg.transformer_for(resource).to_storage(PLAINTEXT, CTX).startswith(b"k8s:enc:aescbc:v1:key1:")
    assert cfg.transformer_for("pods").to_storage(PLAINTEXT, CTX) == PLAINTEXT
    assert cfg.encrypts is True


def test_wildcards_and_precedence() -> None:
    cfg = parse_encryption_config(
        document(
            resources=[
                {"resources": ["events"], "providers": [provider("identity")]},
                {"resources": ["secrets"], "providers": [provider("aesgcm", ("s", KEY1))]},
                {"resources": ["*.apps"], "providers": [provider("aescbc", ("a", KEY1))]},
                {"resources": ["*."], "providers": [provider("secretbox", ("c", KEY1))]},
                {"resources": ["*.*"], "providers": [provider("aesgcm", ("all", KEY2))]},
            ]
        )
    )

    def prefix(resource: str) -> bytes:
        return cfg.transformer_for(resource).to_storage(PLAINTEXT, CTX)[: -len(PLAINTEXT)][:30]

    assert cfg.transformer_for("events").to_storage(PLAINTEXT, CTX) == PLAINTEXT
    assert prefix("secrets").startswith(b"k8s:enc:aesgcm:v1:s:")
    assert prefix("deployments.apps").startswith(b"k8s:enc:aescbc:v1:a:")
    assert prefix("configmaps").startswith(b"k8s:enc:secretbox:v1:c:")
    assert prefix("jobs.batch").startswith(b"k8s:enc:aesgcm:v1:all:")


def test_resource_in_two_entries_reads_with_both_provider_lists() -> None:
    stored = config(provider("aescbc", ("old", KEY2))).transformer_for("secrets").to_storage(PLAINTEXT, CTX)
    cfg = parse_encryption_config(
        document(
            resources=[
                {"resources": ["secrets"], "providers": [provider("aesgcm", ("new", KEY1))]},
                {"resources": ["secrets"], "providers": [provider("aescbc", ("old", KEY2))]},
            ]
        )
    )
    assert cfg.transformer_for("secrets").from_storage(stored, CTX) == (PLAINTEXT, True)
    assert describe(cfg) == "secrets: aesgcm(new), aescbc(old)"


def test_describe_one_line_summary() -> None:
    cfg = config(provider("aesgcm", ("key2", KEY2), ("key1", KEY1)), provider("identity"))
    assert describe(cfg) == "secrets: aesgcm(key2,key1), identity"
    both = config(provider("secretbox", ("k", KEY1)), resources=("secrets", "configmaps"))
    assert describe(both) == "secrets,configmaps: secretbox(k)"


def test_secrets_never_appear_in_reprs() -> None:
    cfg = config(provider("aesgcm", ("key1", KEY1)))
    text = repr(cfg) + repr(cfg.transformer_for("secrets")) + describe(cfg)
    assert "key1" in text
    assert b64(KEY1) not in text
    assert repr(KEY1) not in text


# --- loading files ----------------------------------------------------------------------------


YAML_CONFIG = f"""\
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources:
      - secrets
      - configmaps
    providers:
      - aesgcm:
          keys:
            - name: key2
              secret: {b64(KEY2)}
            - name: key1
              secret: {b64(KEY1)}
      - aescbc:
          keys:
            - name: cbc
              secret: {b64(KEY1[:16])}
      - secretbox:
          keys:
            - name: box
              secret: {b64(KEY1)}
      - identity: {{}}
"""


def test_load_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "encryption.yaml"
    path.write_text(YAML_CONFIG)
    for arg in (path, str(path)):
        cfg = load_encryption_config(arg)
        assert describe(cfg) == "secrets,configmaps: aesgcm(key2,key1), aescbc(cbc), secretbox(box), identity"
        stored, plain, stale = write_read(cfg)
        assert stored.startswith(b"k8s:enc:aesgcm:v1:key2:")
        assert (plain, stale) == (PLAINTEXT, False)


def test_load_json_file(tmp_path: Path) -> None:
    path = tmp_path / "encryption.json"
    path.write_text(
        json.dumps(
            document(
                resources=[{"resources": ["secrets"], "providers": [provider("secretbox", ("k", KEY1))]}]
            )
        )
    )
    cfg = load_encryption_config(path)
    assert write_read(cfg)[0].startswith(b"k8s:enc:secretbox:v1:k:")


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(EncryptionConfigError, match="cannot read the file") as err:
        load_encryption_config(missing)
    assert str(missing) in str(err.value)


def test_unparsable_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("resources: [unclosed\n")
    with pytest.raises(EncryptionConfigError, match="cannot decode YAML or JSON"):
        load_encryption_config(path)


# --- config errors ----------------------------------------------------------------------------


def entry(*providers: object, resources: object = ("secrets",)) -> dict[str, object]:
    return {
        "resources": list(resources) if isinstance(resources, tuple) else resources,
        "providers": list(providers),
    }


SHORT = b64(b"1234567")

CONFIG_ERRORS = [
    pytest.param(
        {"kind": None}, 'kind: Required value: must be "EncryptionConfiguration"', id="missing-kind"
    ),
    pytest.param(
        {"kind": "EncryptionConfig"}, 'kind: Unsupported value: "EncryptionConfig"', id="wrong-kind"
    ),
    pytest.param(
        {"apiVersion": None},
        'apiVersion: Required value: must be "apiserver.config.k8s.io/v1"',
        id="no-apiversion",
    ),
    pytest.param({"apiVersion": "v1"}, 'apiVersion: Unsupported value: "v1"', id="old-apiversion"),
    pytest.param(
        {"resources": []}, "resources: Required value: at least one resources is required", id="no-res"
    ),
    pytest.param({"extra": 1}, "extra: Unknown field", id="unknown-top-field"),
    pytest.param(
        {"resources": [{"resources": ["secrets"]}]},
        "resources[0].providers: Required value: at least one resources[0].providers is required",
        id="no-providers",
    ),
    pytest.param(
        {"resources": [entry(provider("identity"), resources=[])]},
        "resources[0].resources: Required value",
        id="no-resource-names",
    ),
    pytest.param(
        {"resources": [entry(provider("identity"), {"aesgcmm": {"keys": []}})]},
        'resources[0].providers[1].aesgcmm: Unsupported value: "aesgcmm": '
        'supported values: "aesgcm", "aescbc"',
        id="unknown-provider",
    ),
    pytest.param(
        {"resources": [entry({"kms": {"name": "vault", "endpoint": "unix:///kms.sock"}})]},
        "resources[0].providers[0].kms: Forbidden: the kms provider is not supported by skiff",
        id="kms",
    ),
    pytest.param(
        {
            "resources": [
                entry(provider("identity"), {"aesgcm": {"keys": [{"name": "key1", "secret": SHORT}]}})
            ]
        },
        'resources[0].providers[1].aesgcm.keys[0].secret: Invalid value: "REDACTED": '
        "secret is not of the expected length, got 7, expected one of [16 24 32]",
        id="aesgcm-length",
    ),
    pytest.param(
        {"resources": [entry({"aescbc": {"keys": [{"name": "k", "secret": b64(bytes(20))}]}})]},
        'resources[0].providers[0].aescbc.keys[0].secret: Invalid value: "REDACTED": '
        "secret is not of the expected length, got 20, expected one of [16 24 32]",
        id="aescbc-length",
    ),
    pytest.param(
        {"resources": [entry({"secretbox": {"keys": [{"name": "k", "secret": b64(bytes(16))}]}})]},
        'resources[0].providers[0].secretbox.keys[0].secret: Invalid value: "REDACTED": '
        "secret is not of the expected length, got 16, expected one of [32]",
        id="secretbox-length",
    ),
    pytest.param(
        {"resources": [entry({"aesgcm": {"keys": [{"name": "k", "secret": "not base64!"}]}})]},
        'resources[0].providers[0].aesgcm.keys[0].secret: Invalid value: "REDACTED": '
        "secrets must be base64 encoded",
        id="bad-base64",
    ),
    pytest.param(
        {"resources": [entry({"aesgcm": {"keys": [{"name": "k", "secret": b64(KEY1)[:-1]}]}})]},
        'resources[0].providers[0].aesgcm.keys[0].secret: Invalid value: "REDACTED": secrets must be base64',
        id="base64-missing-padding",
    ),
    pytest.param(
        {"resources": [entry(provider("aesgcm", ("key1", KEY1), ("key1", KEY2)))]},
        'resources[0].providers[0].aesgcm.keys[1].name: Duplicate value: "key1"',
        id="duplicate-key-name",
    ),
    pytest.param(
        {"resources": [entry({"aesgcm": {"keys": [{"secret": b64(KEY1)}]}})]},
        "resources[0].providers[0].aesgcm.keys[0].name: Required value: name is a mandatory field for a key",
        id="missing-key-name",
    ),
    pytest.param(
        {"resources": [entry({"aesgcm": {"keys": [{"name": "k"}]}})]},
        "resources[0].providers[0].aesgcm.keys[0].secret: Required value: "
        "secret is a mandatory field for a key",
        id="missing-secret",
    ),
    pytest.param(
        {"resources": [entry({"aescbc": {"keys": []}})]},
        "resources[0].providers[0].aescbc.keys: Required value: at least one keys is required",
        id="no-keys",
    ),
    pytest.param(
        {"resources": [entry({"aesgcm": {"keys": [{"name": "k", "secret": b64(KEY1), "id": 1}]}})]},
        "resources[0].providers[0].aesgcm.keys[0].id: Unknown field",
        id="unknown-key-field",
    ),
    pytest.param(
        {"resources": [entry({"identity": {}, "aescbc": {"keys": [{"name": "k", "secret": b64(KEY1)}]}})]},
        'resources[0].providers[0]: Invalid value: ["identity", "aescbc"]: more than one provider specified',
        id="two-providers-in-one-element",
    ),
    pytest.param(
        {"resources": [entry({"identity": None})]},
        "resources[0].providers[0]: Required value: provider does not contain any of the expected providers",
        id="identity-null",
    ),
    pytest.param(
        {"resources": [entry(provider("identity"), resources=["Secrets"])]},
        'resources[0].resources[0]: Invalid value: "Secrets": '
        "resource name should not contain capital letters",
        id="capital-resource",
    ),
    pytest.param(
        {"resources": [entry(provider("identity"), resources=["*"])]},
        "resources[0].resources[0]: Invalid value: \"*\": use '*.' to encrypt all the resources",
        id="star-resource",
    ),
    pytest.param(
        {"resources": [entry(provider("identity"), resources=["secrets", "secrets"])]},
        'resources[0].resources: Invalid value: ["secrets", "secrets"]: '
        "the same resource cannot be specified multiple times",
        id="duplicate-resource",
    ),
    pytest.param(
        {"resources": [entry(provider("identity"), resources=["secrets", "*."])]},
        'resources[0].resources: Invalid value: ["secrets", "*."]: using overlapping resources',
        id="overlapping-resources",
    ),
    pytest.param(
        {"resources": [entry(provider("identity"), resources=["*.*"]), entry(provider("identity"))]},
        'resources[1].resources[0]: Invalid value: "secrets": '
        'resource "secrets" is masked by earlier rule "*.*"',
        id="masked-by-earlier-wildcard",
    ),
]


@pytest.mark.parametrize(("overrides", "expected"), CONFIG_ERRORS)
def test_config_errors_name_the_field_and_rule(overrides: dict[str, object], expected: str) -> None:
    doc = document(**overrides)
    for name, value in overrides.items():
        if value is None:
            del doc[name]
    with pytest.raises(EncryptionConfigError) as err:
        parse_encryption_config(doc)
    assert any(e.startswith(expected) for e in err.value.errors), err.value.errors
    assert expected in str(err.value)
    assert isinstance(err.value, ValueError)


def test_all_errors_are_reported_and_secrets_are_redacted(tmp_path: Path) -> None:
    secret = b64(b"seven!!")
    path = tmp_path / "bad.yaml"
    path.write_text(
        "apiVersion: apiserver.config.k8s.io/v1\n"
        "resources:\n"
        "  - resources: [secrets]\n"
        "    providers:\n"
        f"      - aesgcm: {{keys: [{{name: key1, secret: {secret}}}]}}\n"
        "      - kms: {name: vault}\n"
    )
    with pytest.raises(EncryptionConfigError) as err:
        load_encryption_config(path)
    message = str(err.value)
    assert message.startswith(f"encryption provider config {str(path)!r}: 3 errors: ")
    assert "kind: Required value" in message
    assert "resources[0].providers[0].aesgcm.keys[0].secret: Invalid value" in message
    assert "resources[0].providers[1].kms: Forbidden" in message
    assert secret not in message
    assert err.value.source == str(path)
    assert len(err.value.errors) == 3
