"""``skiffctl create secret tls`` and ``--append-hash``, as client dry runs (no server involved).

The certificate / key pairs are made here at test time with ``cryptography`` (nothing secret is
kept in the repository). The error texts are what kubectl 1.32 printed for the same inputs (Go's
tls.X509KeyPair messages); the ``--append-hash`` names were captured from kubectl 1.32 for the
literal commands beside them. When a ``kubectl`` binary is installed, the TLS secret itself is also
compared with what it prints for the same files.
"""

from __future__ import annotations

import base64
import datetime
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from skiff.cli import generators
from tests.support.cli import skiffctl

PKCS8 = serialization.PrivateFormat.PKCS8
TRADITIONAL = serialization.PrivateFormat.TraditionalOpenSSL

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def _key(kind: str) -> PrivateKey:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return ed25519.Ed25519PrivateKey.generate()


def _pair(tmp_path: Path, stem: str, kind: str = "rsa", key_format: serialization.PrivateFormat = PKCS8
          ) -> tuple[Path, Path]:
    """A self-signed certificate and its key, written as ``stem.crt`` / ``stem.key`` in PEM."""
    key = _key(kind)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, stem)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, None if kind == "ed25519" else hashes.SHA256()))
    crt, pem_key = tmp_path / f"{stem}.crt", tmp_path / f"{stem}.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem_key.write_bytes(key.private_bytes(serialization.Encoding.PEM, key_format, serialization.NoEncryption()))
    return crt, pem_key


@pytest.fixture(autouse=True)
def _no_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SKIFF_SERVER", "127.0.0.1:1")  # never contacted: every command is a client dry run
    monkeypatch.chdir(tmp_path)


def _tls(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    return skiffctl(["create", "secret", "tls", *args, "--dry-run=client"], capsys)


def test_dry_run_yaml_holds_the_two_files_unchanged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    crt, key = _pair(tmp_path, "web")
    code, out, err = _tls(capsys, "web-tls", f"--cert={crt}", f"--key={key}", "-o", "yaml", "-n", "team")
    assert code == 0, err
    doc = yaml.safe_load(out)
    assert doc == {
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {"creationTimestamp": None, "name": "web-tls", "namespace": "team"},
        "data": {"tls.crt": base64.b64encode(crt.read_bytes()).decode(),
                 "tls.key": base64.b64encode(key.read_bytes()).decode()},
    }
    assert _tls(capsys, "web-tls", f"--cert={crt}", f"--key={key}") == (0, "secret/web-tls created (dry run)\n", "")
    assert _tls(capsys, "web-tls", f"--cert={crt}", f"--key={key}", "-o", "name") == (0, "secret/web-tls\n", "")


@pytest.mark.parametrize(("kind", "key_format"), [
    ("rsa", PKCS8), ("rsa", TRADITIONAL), ("ec", PKCS8), ("ec", TRADITIONAL), ("ed25519", PKCS8)])
def test_every_key_kind_and_encoding_kubectl_takes(kind: str, key_format: serialization.PrivateFormat,
                                                   tmp_path: Path) -> None:
    crt, key = _pair(tmp_path, "p", kind, key_format)
    first_line = key.read_text().splitlines()[0]
    assert first_line in ("-----BEGIN PRIVATE KEY-----", "-----BEGIN RSA PRIVATE KEY-----",
                          "-----BEGIN EC PRIVATE KEY-----")
    secret = generators.secret_tls("p", cert_path=str(crt), key_path=str(key))
    assert secret.type == "kubernetes.io/tls"
    assert dict(secret.data) == {"tls.crt": crt.read_bytes(), "tls.key": key.read_bytes()}


def test_blocks_around_the_certificate_and_key_are_skipped(tmp_path: Path) -> None:
    crt, key = _pair(tmp_path, "chain", "ec")
    other, _ = _pair(tmp_path, "ca", "rsa")
    params = b"-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
    crt.write_bytes(b"leading text\n" + crt.read_bytes() + other.read_bytes())
    key.write_bytes(params + key.read_bytes())
    generators.check_key_pair(crt.read_bytes(), key.read_bytes())


FOO = "-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n"


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: [p["rsa"][0], p["rsa2"][1]], "tls: private key does not match public key"),
    (lambda p: [p["ec"][0], p["ec2"][1]], "tls: private key does not match public key"),
    (lambda p: [p["rsa"][0], p["ec"][1]], "tls: private key type does not match public key type"),
    (lambda p: [p["ec"][0], p["rsa"][1]], "tls: private key type does not match public key type"),
    (lambda p: [p["ed25519"][0], p["rsa"][1]], "tls: private key type does not match public key type"),
    (lambda p: [p["rsa"][1], p["rsa"][1]], "tls: failed to find certificate PEM data in certificate input, but did "
                                           "find a private key; PEM inputs may have been switched"),
    (lambda p: [p["rsa"][0], p["rsa"][0]], "tls: found a certificate rather than a key in the PEM for the private key"),
    (lambda p: [p["empty"], p["rsa"][1]], "tls: failed to find any PEM data in certificate input"),
    (lambda p: [p["rsa"][0], p["empty"]], "tls: failed to find any PEM data in key input"),
    (lambda p: [p["foo"], p["rsa"][1]], 'tls: failed to find "CERTIFICATE" PEM block in certificate input after '
                                        "skipping PEM blocks of the following types: [FOO]"),
    (lambda p: [p["rsa"][0], p["foo"]], 'tls: failed to find PEM block with type ending in "PRIVATE KEY" in key '
                                        "input after skipping PEM blocks of the following types: [FOO]"),
    (lambda p: [p["rsa"][0], p["bad-key"]], "tls: failed to parse private key"),
    (lambda p: [p["bad-cert"], p["rsa"][1]], "x509: malformed certificate"),
    (lambda p: ["nope", p["rsa"][1]], "Cannot read file nope, open nope: no such file or directory"),
    (lambda p: [p["rsa"][0], "nope"], "Cannot read file nope, open nope: no such file or directory"),
    (lambda p: ["nope", "nope2"], "Cannot read file nope, open nope: no such file or directory"),
    (lambda p: [p["dir"], p["rsa"][1]], "Cannot read file {dir}, read {dir}: is a directory"),
], ids=["rsa-other-key", "ec-other-key", "rsa-cert-ec-key", "ec-cert-rsa-key", "ed25519-cert-rsa-key",
        "switched", "cert-as-key", "empty-cert", "empty-key", "foo-cert", "foo-key", "garbage-key", "garbage-cert",
        "no-cert-file", "no-key-file", "neither-file", "cert-is-dir"])
def test_key_pair_errors_read_like_kubectl(make: object, message: str, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    pairs: dict[str, object] = {k: _pair(tmp_path, k, k.rstrip("2")) for k in ("rsa", "rsa2", "ec", "ec2", "ed25519")}
    for name, text in (("empty", ""), ("foo", FOO),
                       ("bad-key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
                       ("bad-cert", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")):
        (tmp_path / name).write_text(text)
        pairs[name] = tmp_path / name
    (tmp_path / "adir").mkdir()
    pairs["dir"] = tmp_path / "adir"
    cert, key = make(pairs)  # type: ignore[operator]
    code, out, err = _tls(capsys, "s", f"--cert={cert}", f"--key={key}", "-o", "yaml")
    assert (code, out) == (1, "")
    assert err.strip() == "error: " + message.format(dir=tmp_path / "adir")


@pytest.mark.parametrize(("args", "message"), [
    (["s"], "error: key and cert must be specified"),
    (["s", "--cert=a.crt"], "error: key and cert must be specified"),
    (["s", "--key=a.key"], "error: key and cert must be specified"),
    (["s", "--cert=", "--key=a.key"], "error: key and cert must be specified"),
    (["--cert=a.crt", "--key=a.key"], "error: exactly one NAME is required, got 0"),
])
def test_flag_errors_read_like_kubectl(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _tls(capsys, *args)
    assert (code, out, err.strip()) == (1, "", message)


def test_secret_without_a_subcommand_names_tls(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = skiffctl(["create", "secret"], capsys)
    assert code == 1 and "docker-registry, generic, tls" in err


# ---- --append-hash ----


@pytest.mark.parametrize(("args", "name"), [
    (["secret", "generic", "g", "--from-literal=a=b"], "secret/g-6bmfk69m66"),
    (["secret", "generic", "g", "--from-literal=a=b", "--type=foo"], "secret/g-95k9chbcmt"),
    (["secret", "generic", "e"], "secret/e-kkck6cfc9g"),
    (["secret", "docker-registry", "d", "--docker-username=u", "--docker-password=p"], "secret/d-k85gk65kdh"),
    (["configmap", "g", "--from-literal=a=b"], "configmap/g-8b97kthbd2"),
    (["configmap", "e"], "configmap/e-gmbcf66h4d"),
    (["configmap", "h", "--from-literal=a=<&>é"], "configmap/h-f4tddkhh8c"),
    (["configmap", "b", "--from-file=bin"], "configmap/b-d9tf84c7tk"),
])
def test_append_hash_names_match_kubectl(args: list[str], name: str, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bin").write_bytes(b"\xff\x00")
    code, out, err = skiffctl(["create", *args, "--append-hash", "--dry-run=client", "-o", "name"], capsys)
    assert (code, out, err) == (0, name + "\n", "")


def test_append_hash_for_tls_and_with_save_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    crt, key = _pair(tmp_path, "web")
    code, out, err = _tls(capsys, "web", f"--cert={crt}", f"--key={key}", "--append-hash", "--save-config",
                          "-o", "json")
    assert code == 0, err
    doc = json.loads(out)
    secret = generators.secret_tls("web", cert_path=str(crt), key_path=str(key))
    assert doc["metadata"]["name"] == f"web-{generators.content_hash(secret)}"
    last_applied = json.loads(doc["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
    assert last_applied["metadata"]["name"] == doc["metadata"]["name"]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="no kubectl binary to compare with")
@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_same_secret_as_the_installed_kubectl(kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    crt, key = _pair(tmp_path, "web", kind)
    args = ["create", "secret", "tls", "web", f"--cert={crt}", f"--key={key}", "--append-hash", "-n", "team",
            "--dry-run=client", "-o", "yaml"]
    kubectl = subprocess.run(["kubectl", "--kubeconfig=/dev/null", *args], capture_output=True, text=True,
                             timeout=60)
    if kubectl.returncode != 0:
        pytest.skip(f"kubectl could not run offline: {kubectl.stderr.strip()}")
    code, out, err = skiffctl(args, capsys)
    assert code == 0, err
    assert yaml.safe_load(out) == yaml.safe_load(kubectl.stdout)
