"""Bundle signatures: Ed25519 over the exact bytes of ``manifest.json``.

The manifest pins the sha256 of every model file (and Hexagon build), and each file is
checked against it whenever it is read, so a valid signature over the manifest covers
the whole bundle. The signature sits next to the manifest in ``manifest.json.sig`` (a
small JSON file), in a bundle directory or zip. An app that updates its models over the
air opens bundles with the publisher's public key(s) as ``trusted_keys`` and so refuses
any bundle they did not sign. ``docs/bundle.md`` (Signing) describes the flow.

``cryptography`` is imported only when a key is used, so ``import edgeface`` stays light.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Union

from edgeface.bundle import MANIFEST_NAME, SIGNATURE_NAME, load_bundle
from edgeface.errors import BundleError, SignatureError, SigningKeyError
from edgeface.fsutil import atomic_write, atomic_write_bytes

if TYPE_CHECKING:  # pragma: no cover
    from edgeface.bundle import Bundle

ALGORITHM = "ed25519"
# Signed in front of the manifest bytes, so that a signature the same key made for
# anything else can never pass as a bundle signature.
CONTEXT = b"edgeface bundle manifest v1\n"
TRUSTED_KEYS_ENV = "EDGEFACE_TRUSTED_KEYS"
KEY_ID_LENGTH = 16  # hex digits of the key's sha256
MAX_KEY_FILE_BYTES = 64 * 1024
MAX_SIGNATURE_BYTES = 64 * 1024
_KEY_FIX = "make a key pair with: edgeface bundle keygen --out NAME"


def key_id(raw_public_key: bytes) -> str:
    """A short name for a public key: the start of its sha256, in hex."""
    return hashlib.sha256(raw_public_key).hexdigest()[:KEY_ID_LENGTH]


@dataclass(frozen=True)
class PublicKey:
    """An Ed25519 public key (its raw 32 bytes): bundles it signed are trusted."""

    raw: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.raw, bytes) or len(self.raw) != 32:
            raise SigningKeyError("an Ed25519 public key is 32 bytes: " + _KEY_FIX)

    @property
    def key_id(self) -> str:
        return key_id(self.raw)

    @classmethod
    def from_text(cls, text: str, source: str = "public key") -> "PublicKey":
        """A PEM public key (``-----BEGIN PUBLIC KEY-----``, as ``edgeface bundle keygen``
        writes) or the raw 32-byte key in base64, e.g. built into an app."""
        text = text.strip()
        if "PRIVATE KEY" in text:
            raise SigningKeyError(f"{source}: is a private key: trust the public key (NAME.pub) instead, "
                                  f"and keep the private key secret")
        if text.startswith("-----BEGIN"):
            return cls(_raw_public_key(_pem_public_key(text, source)))
        try:
            return cls(base64.b64decode(text, validate=True))
        except (binascii.Error, ValueError, SigningKeyError):
            raise SigningKeyError(f"{source}: not an Ed25519 public key (expected PEM, or 32 bytes in "
                                  f"base64): {_KEY_FIX}") from None

    @classmethod
    def from_file(cls, path: str | Path) -> "PublicKey":
        return cls.from_text(_read_key_file(path), str(path))

    def to_pem(self) -> bytes:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        key = Ed25519PublicKey.from_public_bytes(self.raw)
        return key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)

    def to_base64(self) -> str:
        return base64.b64encode(self.raw).decode("ascii")

    def signed(self, manifest_bytes: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is this key's signature of ``manifest_bytes``."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, CONTEXT + manifest_bytes)
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 private key: signs bundles. Keep its file secret (mode 0600)."""

    raw: bytes = field(repr=False)  # never shown in a repr, a log or a traceback

    @classmethod
    def generate(cls) -> "SigningKey":
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

        return cls(Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()))

    @classmethod
    def from_file(cls, path: str | Path) -> "SigningKey":
        """A PEM private key (``-----BEGIN PRIVATE KEY-----``), as ``edgeface bundle keygen`` writes."""
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives.serialization import (Encoding, NoEncryption, PrivateFormat,
                                                                  load_pem_private_key)

        data = _read_key_file(path).encode()
        try:
            key = load_pem_private_key(data, password=None)
        except TypeError:
            raise SigningKeyError(f"{path}: the private key is encrypted, which edgeface does not read: "
                                  f"decrypt it (openssl pkey -in {path} -out NEW.key) or {_KEY_FIX}") from None
        except (ValueError, binascii.Error):
            raise SigningKeyError(f"{path}: not a PEM private key: {_KEY_FIX}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError(f"{path}: not an Ed25519 key (edgeface signs with Ed25519): {_KEY_FIX}")
        return cls(key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()))

    def _key(self):
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        return Ed25519PrivateKey.from_private_bytes(self.raw)

    def public_key(self) -> PublicKey:
        return PublicKey(_raw_public_key(self._key().public_key()))

    def to_pem(self) -> bytes:
        from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

        return self._key().private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())

    def sign(self, manifest_bytes: bytes) -> bytes:
        """The contents of ``manifest.json.sig`` for these manifest bytes."""
        signature = self._key().sign(CONTEXT + manifest_bytes)
        return (json.dumps({"algorithm": ALGORITHM, "key_id": self.public_key().key_id,
                            "signature": base64.b64encode(signature).decode("ascii")}) + "\n").encode()


KeySource = Union[str, Path, PublicKey]
KeySources = Union[KeySource, Iterable[KeySource]]


def _read_key_file(path: str | Path) -> str:
    """The text of a small key file; regular files only, so a FIFO or /dev/zero cannot hang us."""
    path = Path(path)
    if not path.is_file():
        what = "is not a regular file" if path.exists() else "no such key file"
        raise SigningKeyError(f"{path}: {what}: give the path of a key file ({_KEY_FIX})")
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_KEY_FILE_BYTES + 1)
    except OSError as exc:
        raise SigningKeyError(f"{path}: cannot read the key file ({exc.strerror or exc})") from None
    if len(data) > MAX_KEY_FILE_BYTES:
        raise SigningKeyError(f"{path}: larger than {MAX_KEY_FILE_BYTES} bytes, not a key file: {_KEY_FIX}")
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise SigningKeyError(f"{path}: not a text key file (PEM or base64): {_KEY_FIX}") from None


def _pem_public_key(text: str, source: str):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(text.encode())
    except (ValueError, binascii.Error):
        raise SigningKeyError(f"{source}: not a PEM public key: {_KEY_FIX}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"{source}: not an Ed25519 key (edgeface verifies Ed25519 signatures): {_KEY_FIX}")
    return key


def _raw_public_key(key) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def trusted_keys(sources: KeySources) -> list[PublicKey]:
    """Public keys from key files (paths) or ``PublicKey`` objects; one or a list."""
    if isinstance(sources, (str, Path, PublicKey, bytes, bytearray)) or not isinstance(sources, Iterable):
        sources = [sources]  # one key
    keys = [_trusted_key(s) for s in sources]
    if not keys:
        raise SigningKeyError("trusted_keys is empty, so no bundle could be trusted: give the public key "
                              "file(s) of whoever signs your bundles, or None to accept unsigned bundles")
    return keys


def _trusted_key(source: object) -> PublicKey:
    if isinstance(source, PublicKey):
        return source
    if isinstance(source, (str, Path)):
        return PublicKey.from_file(source)
    raise SigningKeyError(f"trusted_keys: expected public key files or edgeface.signing.PublicKey, got "
                          f"{type(source).__name__}: for a key in base64 or PEM text use PublicKey.from_text(TEXT)")


def trusted_keys_from_env() -> list[PublicKey] | None:
    """The key files ``$EDGEFACE_TRUSTED_KEYS`` lists (separated by ``os.pathsep``), or None
    when it is unset or empty."""
    paths = [p for p in os.environ.get(TRUSTED_KEYS_ENV, "").split(os.pathsep) if p.strip()]
    return trusted_keys(paths) if paths else None


def check_signature(location: Path, manifest_bytes: bytes, signature_file: bytes | None,
                    keys: KeySources) -> PublicKey:
    """The trusted key that signed ``manifest_bytes``; ``SignatureError`` when none did.

    ``signature_file`` is the bundle's ``manifest.json.sig`` (None when it has none). The
    key id in it only names the signer in messages: every trusted key is tried."""
    keys = trusted_keys(keys)
    if signature_file is None:
        raise SignatureError(f"{location}: the bundle is not signed ({SIGNATURE_NAME} is missing) and trusted "
                             f"keys are required: get a signed copy from its publisher, or sign it with: "
                             f"edgeface bundle sign {location} --key KEY.key")
    claimed_id, signature = _parse_signature_file(location, signature_file)
    for key in keys:
        if key.signed(manifest_bytes, signature):
            return key
    trusted_ids = ", ".join(k.key_id for k in keys)
    if claimed_id not in {k.key_id for k in keys}:
        raise SignatureError(f"{location}: signed by key {claimed_id}, which is not a trusted key "
                             f"(trusted: {trusted_ids}): get a copy signed with a trusted key, or trust "
                             f"that key's public key file")
    raise SignatureError(f"{location}: the signature does not match {MANIFEST_NAME} (the manifest was "
                         f"changed after signing, or the signature is damaged): get an intact copy "
                         f"from its publisher, or re-sign it")


def _parse_signature_file(location: Path, data: bytes) -> tuple[str, bytes]:
    """(key id, signature) from ``manifest.json.sig``; ``SignatureError`` if malformed."""

    def bad(why: str) -> SignatureError:
        return SignatureError(f"{location}/{SIGNATURE_NAME}: not a valid signature file ({why}): "
                              f"re-sign the bundle with: edgeface bundle sign {location} --key KEY.key")

    if len(data) > MAX_SIGNATURE_BYTES:
        raise bad(f"larger than {MAX_SIGNATURE_BYTES} bytes")
    try:
        fields = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise bad("not JSON") from None
    if not isinstance(fields, dict):
        raise bad("expected a JSON object")
    if fields.get("algorithm") != ALGORITHM:
        raise bad(f"algorithm must be {ALGORITHM!r}")
    claimed_id = fields.get("key_id")
    if not isinstance(claimed_id, str) or len(claimed_id) != KEY_ID_LENGTH or \
            any(c not in "0123456789abcdef" for c in claimed_id):
        raise bad(f"key_id must be {KEY_ID_LENGTH} lowercase hex digits")
    try:
        signature = base64.b64decode(fields.get("signature"), validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise bad("signature must be base64") from None
    if len(signature) != 64:
        raise bad("an Ed25519 signature is 64 bytes")
    return claimed_id, signature


def check_files(bundle: "Bundle") -> list[str]:
    """Read every model file and Hexagon build, checking each against its sha256; returns
    their names. A signature vouches for the manifest; this proves the files match it."""
    names = []
    for spec in bundle.specs():
        bundle.read_model(spec)
        names.append(spec.file)
    return names


def sign_bundle(path: str | Path, key: SigningKey) -> Path:
    """Sign a bundle directory or zip with ``key``; returns the bundle's path.

    The bundle is validated and every file checked against the manifest first, so a
    signature only ever vouches for an intact bundle. The signature covers the very
    manifest bytes that were validated. A zip is rewritten with the signature added,
    atomically: on any failure the original zip is left as it was."""
    bundle = load_bundle(path)
    check_files(bundle)
    signature_file = key.sign(bundle.manifest_bytes)
    if bundle.location.is_dir():
        _write_signature_file(bundle.location, signature_file)
    else:
        _set_zip_member(bundle.location, SIGNATURE_NAME, signature_file)
    return bundle.location


def _write_signature_file(folder: Path, data: bytes) -> None:
    try:
        atomic_write_bytes(folder / SIGNATURE_NAME, data)
    except OSError as exc:
        raise BundleError(f"{folder / SIGNATURE_NAME}: cannot write the signature ({exc.strerror or exc}): "
                          f"make the bundle directory writable, or sign a copy of it") from None


def _set_zip_member(archive: Path, name: str, data: bytes) -> None:
    """Rewrite ``archive`` with member ``name`` holding ``data`` (replacing any previous
    one); the new zip replaces the old only once it is complete."""

    def write(handle) -> None:
        with zipfile.ZipFile(archive) as source, zipfile.ZipFile(handle, "w") as target:
            for info in source.infolist():
                if info.filename == name:
                    continue
                copy = zipfile.ZipInfo(info.filename, info.date_time)
                copy.compress_type, copy.external_attr = info.compress_type, info.external_attr
                copy.file_size = info.file_size  # lets zipfile choose zip64 for a large member up front
                with source.open(info) as src, target.open(copy, "w") as dst:
                    shutil.copyfileobj(src, dst)
            target.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)

    try:
        atomic_write(archive, write)
    except (OSError, zipfile.BadZipFile, NotImplementedError, RuntimeError, ValueError, EOFError) as exc:
        raise BundleError(f"{archive}: cannot add {name} to the zip ({exc}); the zip is unchanged: "
                          f"sign the bundle directory and zip it afterwards") from None


def generate_key_pair(out: str | Path) -> tuple[Path, Path, SigningKey]:
    """Write a new key pair: ``OUT.key`` (private, mode 0600) and ``OUT.pub`` (public);
    never overwrites a file."""
    out = Path(out)
    private, public = out.with_name(out.name + ".key"), out.with_name(out.name + ".pub")
    for path in (private, public):
        if path.exists() or path.is_symlink():
            raise SigningKeyError(f"{path}: already exists and would be overwritten: choose another --out "
                                  f"name, or move the old key away first")
    key = SigningKey.generate()
    _create_file(private, key.to_pem(), 0o600)
    try:
        _create_file(public, key.public_key().to_pem(), 0o644)
    except BaseException:
        private.unlink(missing_ok=True)  # we created it a moment ago: no half pair is left
        raise
    return private, public, key


def _create_file(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` (failing if it exists) with ``mode`` from the start, so a private key
    is never readable by others, not even briefly."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise SigningKeyError(f"{path}: already exists and would be overwritten: choose another name") from None
    except OSError as exc:
        raise SigningKeyError(f"{path}: cannot create the key file ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
