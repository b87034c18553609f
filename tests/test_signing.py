"""Bundle signatures (issue 14, item 5): an app that trusts its publisher's key refuses a
bundle whose manifest was edited (verify_threshold 0.01 accepts almost anyone), whose model was
swapped, that is unsigned, signed by another key, or carries a malformed signature."""

import base64
import hashlib
import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from edgeface.analyzer import FaceAnalyzer, FaceAnalyzerOptions
from edgeface.bundle import MANIFEST_NAME, load_bundle
from edgeface.cli.app import app
from edgeface.errors import BundleError, ChecksumError, SignatureError, SigningKeyError
from edgeface.signing import (SIGNATURE_NAME, TRUSTED_KEYS_ENV, PublicKey, SigningKey, generate_key_pair,
                              sign_bundle)

runner = CliRunner()
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def key():
    return SigningKey.generate()


@pytest.fixture(scope="module")
def other_key():
    return SigningKey.generate()


def zipped(folder: Path, out: Path) -> Path:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for f in sorted(folder.iterdir()):
            archive.write(f, f.name)
    return out


@pytest.fixture(params=["dir", "zip"])
def signed(request, bundle_copy, tmp_path, key):
    """A bundle signed with ``key``, as a directory or a zip."""
    folder = bundle_copy()
    path = folder if request.param == "dir" else zipped(folder, tmp_path / "bundle.zip")
    sign_bundle(path, key)
    return path


def edit_manifest(path: Path, edit) -> None:
    """Apply ``edit`` to the manifest dict of a bundle directory or zip (keeping its signature)."""
    if path.is_dir():
        manifest = json.loads((path / MANIFEST_NAME).read_text())
        edit(manifest, path)
        (path / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2))
        return
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    manifest = json.loads(members[MANIFEST_NAME])
    edit(manifest, members)
    members[MANIFEST_NAME] = json.dumps(manifest, indent=2).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def set_signature(path: Path, data: bytes) -> None:
    if path.is_dir():
        (path / SIGNATURE_NAME).write_bytes(data)
        return
    with zipfile.ZipFile(path) as archive:
        members = {n: archive.read(n) for n in archive.namelist() if n != SIGNATURE_NAME}
    with zipfile.ZipFile(path, "w") as archive:
        for name, blob in {**members, SIGNATURE_NAME: data}.items():
            archive.writestr(name, blob)


# -- the SDK ---------------------------------------------------------------------------


def test_signed_bundle_loads_under_its_key(signed, key):
    bundle = load_bundle(signed, trusted_keys=[key.public_key()])
    assert bundle.signed_by == key.public_key()
    assert bundle.read_model(bundle.manifest.detector)  # files still read and check fine
    if signed.suffix == ".zip":
        with zipfile.ZipFile(signed) as archive:
            assert sorted(archive.namelist()) == ["detector.tflite", "embedder.tflite", MANIFEST_NAME,
                                                  SIGNATURE_NAME]


def test_signing_a_zip_keeps_every_member(bundle_copy, tmp_path, key):
    folder = bundle_copy()
    archive = zipped(folder, tmp_path / "b.zip")
    sign_bundle(archive, key)
    sign_bundle(archive, key)  # re-signing replaces the signature, it does not add a second one
    with zipfile.ZipFile(archive) as z:
        assert z.namelist().count(SIGNATURE_NAME) == 1
        for f in folder.iterdir():
            assert z.read(f.name) == f.read_bytes()


def test_edited_threshold_is_refused_under_trusted_keys(signed, key):
    """The attack of the issue: a lowered verify_threshold makes verify accept anyone. (-1
    itself is now refused by the manifest's range check; 0.01 is in range, so only the
    signature can catch it.)"""

    def accept_anyone(manifest, _):
        manifest["models"]["embedder"]["verify_threshold"] = 0.01

    edit_manifest(signed, accept_anyone)
    assert load_bundle(signed).manifest.embedder.verify_threshold == 0.01  # without keys it loads
    with pytest.raises(SignatureError, match="does not match manifest.json"):
        load_bundle(signed, trusted_keys=[key.public_key()])


def test_one_changed_manifest_byte_is_refused(bundle_copy, key):
    folder = bundle_copy()
    sign_bundle(folder, key)
    manifest = folder / MANIFEST_NAME
    data = bytearray(manifest.read_bytes())
    data[-1] ^= 0x01 if data[-1] != 0x0A else 0x2A  # even a change JSON does not care about
    manifest.write_bytes(bytes(data))
    with pytest.raises(SignatureError):
        load_bundle(folder, trusted_keys=key.public_key())


def test_swapped_model_with_its_sha_is_refused(signed, key):
    """Replacing a model and fixing its sha256 in the manifest passes the file check, not the signature."""
    evil = b"TFL3 another model entirely"

    def swap(manifest, files):
        manifest["models"]["detector"]["sha256"] = hashlib.sha256(evil).hexdigest()
        if isinstance(files, Path):
            (files / "detector.tflite").write_bytes(evil)
        else:
            files["detector.tflite"] = evil

    edit_manifest(signed, swap)
    with pytest.raises(SignatureError):
        load_bundle(signed, trusted_keys=[key.public_key()])


def test_swapped_model_alone_fails_its_checksum(bundle_copy, key):
    """The other half: a signed manifest pins the files, which are checked on read."""
    folder = bundle_copy()
    sign_bundle(folder, key)
    bundle = load_bundle(folder, trusted_keys=[key.public_key()])
    (folder / "detector.tflite").write_bytes(b"another model")
    with pytest.raises(ChecksumError):
        bundle.read_model(bundle.manifest.detector)


def test_the_manifest_parsed_is_the_manifest_verified(bundle_copy, key, monkeypatch):
    """No time-of-check/time-of-use gap: a manifest swapped after the signature check
    (here: every later read returns the edited one) is never the one used."""
    from edgeface.bundle import _DirReader

    folder = bundle_copy()
    sign_bundle(folder, key)
    signed_bytes = (folder / MANIFEST_NAME).read_bytes()
    edited = json.loads(signed_bytes)
    edited["models"]["embedder"]["verify_threshold"] = 0.01
    reads = []
    real_read = _DirReader._read

    def swapped_after_first_read(self, name, limit):
        if name != MANIFEST_NAME:
            return real_read(self, name, limit)
        reads.append(name)
        return signed_bytes if len(reads) == 1 else json.dumps(edited).encode()

    monkeypatch.setattr(_DirReader, "_read", swapped_after_first_read)
    bundle = load_bundle(folder, trusted_keys=[key.public_key()])
    signed_threshold = json.loads(signed_bytes)["models"]["embedder"]["verify_threshold"]
    assert bundle.manifest.embedder.verify_threshold == signed_threshold != 0.01
    assert bundle.manifest_bytes == signed_bytes


def test_unsigned_is_refused_with_keys_and_loads_without(bundle_copy, key):
    folder = bundle_copy()
    assert load_bundle(folder).signed_by is None
    with pytest.raises(SignatureError, match="not signed .*edgeface bundle sign"):
        load_bundle(folder, trusted_keys=[key.public_key()])


def test_another_key_is_refused(signed, key, other_key):
    with pytest.raises(SignatureError, match=f"signed by key {key.public_key().key_id}, which is not a trusted"):
        load_bundle(signed, trusted_keys=[other_key.public_key()])
    # any of several trusted keys will do
    assert load_bundle(signed, trusted_keys=[other_key.public_key(), key.public_key()]).signed_by == key.public_key()


def test_a_key_id_that_lies_does_not_help(bundle_copy, key, other_key):
    """The key id only names the signer: claiming the trusted key's id with another key's signature fails."""
    folder = bundle_copy()
    sign_bundle(folder, other_key)
    fields = json.loads((folder / SIGNATURE_NAME).read_text())
    fields["key_id"] = key.public_key().key_id
    (folder / SIGNATURE_NAME).write_text(json.dumps(fields))
    with pytest.raises(SignatureError, match="does not match"):
        load_bundle(folder, trusted_keys=[key.public_key()])


def test_a_signature_made_for_other_bytes_is_refused(bundle_copy, key):
    """Signing is domain-separated: the key's raw signature of the manifest is no bundle signature."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    folder = bundle_copy()
    raw = Ed25519PrivateKey.from_private_bytes(key.raw).sign((folder / MANIFEST_NAME).read_bytes())
    (folder / SIGNATURE_NAME).write_text(json.dumps({"algorithm": "ed25519", "key_id": key.public_key().key_id,
                                                     "signature": base64.b64encode(raw).decode()}))
    with pytest.raises(SignatureError, match="does not match"):
        load_bundle(folder, trusted_keys=[key.public_key()])


@pytest.fixture
def folder(bundle_copy):
    """One copy of a fixture bundle, shared by the examples of a hypothesis test."""
    return bundle_copy()


@FUZZ
@given(blob=st.binary(max_size=512))
def test_random_signature_files_are_refused_cleanly(folder, key, blob):
    _refused(folder, key, blob)


def _refused(folder, key, blob):
    set_signature(folder, blob)
    with pytest.raises(SignatureError):
        load_bundle(folder, trusted_keys=[key.public_key()])


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=90),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                                      max_size=4), max_leaves=12)


@FUZZ
@given(data=st.data())
def test_malformed_signature_fields_are_refused_cleanly(folder, key, data):
    """Each field of a real signature file replaced by any JSON value (or dropped)."""
    fields = json.loads(key.sign((folder / MANIFEST_NAME).read_bytes()))
    name = data.draw(st.sampled_from(sorted(fields)))
    if data.draw(st.booleans()):
        del fields[name]
    else:
        fields[name] = data.draw(json_values.filter(lambda v: v != fields[name]))
    _refused(folder, key, json.dumps(fields).encode())


@pytest.mark.parametrize("blob", [b"[" * 100_000, b"{}", b"[]", b"null", b"\xff\xfe", b" " * 70_000,
                                  json.dumps({"algorithm": "rsa", "key_id": "0" * 16, "signature": ""}).encode()])
def test_degenerate_signature_files_are_refused(bundle_copy, key, blob):
    _refused(bundle_copy(), key, blob)


# -- keys ------------------------------------------------------------------------------


def test_public_keys_from_pem_base64_and_files(tmp_path, key):
    public = key.public_key()
    assert PublicKey.from_text(public.to_pem().decode()) == public
    assert PublicKey.from_text(public.to_base64() + "\n") == public
    (tmp_path / "k.pub").write_text(public.to_base64())
    assert PublicKey.from_file(tmp_path / "k.pub") == public


@pytest.mark.parametrize("text, message", [
    ("", "not an Ed25519 public key"),
    ("AAAA", "not an Ed25519 public key"),  # base64, but 3 bytes
    ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "not a PEM public key"),
    ("-----BEGIN PRIVATE KEY-----\n...", "is a private key"),
])
def test_bad_public_keys_are_refused(text, message):
    with pytest.raises(SigningKeyError, match=message):
        PublicKey.from_text(text)


def test_rsa_keys_are_refused(tmp_path):
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import (Encoding, NoEncryption, PrivateFormat,
                                                              PublicFormat)

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pub = rsa_key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(SigningKeyError, match="not an Ed25519 key"):
        PublicKey.from_text(pub.decode())
    (tmp_path / "rsa.key").write_bytes(rsa_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    with pytest.raises(SigningKeyError, match="not an Ed25519 key"):
        SigningKey.from_file(tmp_path / "rsa.key")


def test_encrypted_private_keys_are_refused(tmp_path, key):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, Encoding, PrivateFormat

    pem = Ed25519PrivateKey.from_private_bytes(key.raw).private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(b"secret"))
    (tmp_path / "enc.key").write_bytes(pem)
    with pytest.raises(SigningKeyError, match="encrypted"):
        SigningKey.from_file(tmp_path / "enc.key")


def test_key_files_that_are_not_regular_files_are_refused_without_hanging(tmp_path):
    fifo = tmp_path / "fifo.pub"
    os.mkfifo(fifo)
    for path, message in [(fifo, "not a regular file"), (tmp_path, "not a regular file"),
                          (Path("/dev/zero"), "not a regular file"), (tmp_path / "nope.pub", "no such key file")]:
        with pytest.raises(SigningKeyError, match=message):
            PublicKey.from_file(path)
    (tmp_path / "huge.pub").write_bytes(b"A" * 100_000)
    with pytest.raises(SigningKeyError, match="larger than"):
        PublicKey.from_file(tmp_path / "huge.pub")


def test_empty_trusted_keys_is_an_error_not_a_pass(bundle_copy, key):
    folder = bundle_copy()
    sign_bundle(folder, key)
    with pytest.raises(SigningKeyError, match="trusted_keys is empty"):
        load_bundle(folder, trusted_keys=[])


@pytest.mark.parametrize("sources", [b"raw key bytes", 42, [b"x" * 32]])
def test_trusted_keys_of_the_wrong_type_are_refused(folder, sources):
    with pytest.raises(SigningKeyError, match="PublicKey.from_text"):
        load_bundle(folder, trusted_keys=sources)


def test_private_key_never_shows_in_repr(key):
    assert base64.b64encode(key.raw).decode() not in repr(key) and key.raw.hex() not in repr(key)


def test_keygen_writes_a_private_key_only_its_owner_reads(tmp_path):
    private, public, key = generate_key_pair(tmp_path / "keys" / "release")
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert SigningKey.from_file(private).public_key() == PublicKey.from_file(public) == key.public_key()


@pytest.mark.parametrize("existing", ["release.key", "release.pub"])
def test_keygen_never_overwrites(tmp_path, existing):
    (tmp_path / existing).write_text("keep me")
    with pytest.raises(SigningKeyError, match="already exists"):
        generate_key_pair(tmp_path / "release")
    assert (tmp_path / existing).read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == [existing]


# -- signing ---------------------------------------------------------------------------


def test_signing_refuses_a_bundle_whose_files_do_not_match(bundle_copy, key):
    folder = bundle_copy()
    (folder / "embedder.tflite").write_bytes(b"damaged")
    with pytest.raises(ChecksumError):
        sign_bundle(folder, key)
    assert not (folder / SIGNATURE_NAME).exists()


def test_an_unwritable_signature_path_is_a_clear_error(folder, key):
    (folder / SIGNATURE_NAME).mkdir()
    with pytest.raises(BundleError, match="cannot write the signature"):
        sign_bundle(folder, key)


def test_a_failed_zip_rewrite_leaves_the_zip_intact(bundle_copy, tmp_path, key, monkeypatch):
    archive = zipped(bundle_copy(), tmp_path / "b.zip")
    before = archive.read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("edgeface.signing.shutil.copyfileobj", disk_full)
    with pytest.raises(BundleError, match="the zip is unchanged"):
        sign_bundle(archive, key)
    assert archive.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.zip", "blob_blazeface"]  # no temp file left


# -- the analyzer and the environment ----------------------------------------------------


def test_analyzer_option_refuses_unsigned_and_accepts_signed(bundle_copy, tmp_path, key):
    folder = bundle_copy()
    (tmp_path / "k.pub").write_bytes(key.public_key().to_pem())
    with pytest.raises(SignatureError, match="not signed"):
        FaceAnalyzer.create_from_options(FaceAnalyzerOptions(bundle=folder, trusted_keys=tmp_path / "k.pub"))
    sign_bundle(folder, key)
    analyzer = FaceAnalyzer.create_from_options(FaceAnalyzerOptions(bundle=folder, trusted_keys=[tmp_path / "k.pub"]))
    assert analyzer.bundle.signed_by == key.public_key()


def test_analyzer_refuses_a_bundle_opened_without_the_check(bundle_copy, key):
    folder = bundle_copy()
    sign_bundle(folder, key)
    options = FaceAnalyzerOptions(bundle=folder, trusted_keys=[key.public_key()])
    with pytest.raises(SignatureError, match="opened without checking its signature"):
        FaceAnalyzer(load_bundle(folder), options)
    assert FaceAnalyzer(load_bundle(folder, trusted_keys=[key.public_key()]), options).detector


def test_environment_variable_requires_signatures(bundle_copy, tmp_path, key, other_key, monkeypatch):
    folder = bundle_copy()
    sign_bundle(folder, key)
    (tmp_path / "a.pub").write_bytes(other_key.public_key().to_pem())
    (tmp_path / "b.pub").write_bytes(key.public_key().to_pem())
    monkeypatch.setenv(TRUSTED_KEYS_ENV, str(tmp_path / "a.pub"))
    with pytest.raises(SignatureError, match="not a trusted key"):
        FaceAnalyzer.create_from_bundle(folder)
    monkeypatch.setenv(TRUSTED_KEYS_ENV, f"{tmp_path / 'a.pub'}{os.pathsep}{tmp_path / 'b.pub'}")
    assert FaceAnalyzer.create_from_bundle(folder).bundle.signed_by == key.public_key()
    monkeypatch.setenv(TRUSTED_KEYS_ENV, "")
    assert FaceAnalyzer.create_from_bundle(folder).bundle.signed_by is None  # empty: as if unset


def test_import_does_not_load_cryptography():
    code = ("import edgeface, sys; edgeface.FaceAnalyzer; edgeface.load_bundle; import edgeface.signing; "
            "print('cryptography' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


# -- the command line -------------------------------------------------------------------


def run(*args, env=None):
    return runner.invoke(app, [str(a) for a in args], env=env)


def one_line_error(result, message):
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) == 1


def test_cli_keygen_sign_verify(bundle_copy, tmp_path):
    folder = bundle_copy()
    keygen = run("bundle", "keygen", "--out", tmp_path / "release", "--json")
    assert keygen.exit_code == 0, keygen.output
    made = json.loads(keygen.stdout)
    assert stat.S_IMODE(Path(made["private_key"]).stat().st_mode) == 0o600
    one_line_error(run("bundle", "verify", folder, "--public-key", made["public_key"]), "not signed")
    signed = run("bundle", "sign", folder, "--key", made["private_key"])
    assert signed.exit_code == 0 and made["key_id"] in signed.stdout
    verified = run("bundle", "verify", folder, "--public-key", made["public_key"], "--json")
    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.stdout) == {"bundle": str(folder), "valid": True, "key_id": made["key_id"],
                                           "name": load_bundle(folder).manifest.name,
                                           "files": ["detector.tflite", "embedder.tflite"]}
    env = {TRUSTED_KEYS_ENV: made["public_key"]}
    assert run("bundle", "verify", folder, env=env).exit_code == 0


def test_cli_keygen_refuses_to_overwrite(tmp_path):
    assert run("bundle", "keygen", "--out", tmp_path / "k").exit_code == 0
    private = (tmp_path / "k.key").read_bytes()
    one_line_error(run("bundle", "keygen", "--out", tmp_path / "k"), "already exists")
    assert (tmp_path / "k.key").read_bytes() == private


def test_cli_verify_refuses_tampering_wrong_keys_and_damaged_files(bundle_copy, tmp_path, key, other_key):
    folder = bundle_copy()
    sign_bundle(folder, key)
    (tmp_path / "k.pub").write_bytes(key.public_key().to_pem())
    (tmp_path / "other.pub").write_bytes(other_key.public_key().to_pem())
    one_line_error(run("bundle", "verify", folder, "-p", tmp_path / "other.pub"), "not a trusted key")
    one_line_error(run("bundle", "verify", folder), "no trusted public key given")
    (folder / "embedder.tflite").write_bytes(b"damaged")
    one_line_error(run("bundle", "verify", folder, "-p", tmp_path / "k.pub"), "does not match its sha256")
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    manifest["models"]["embedder"]["verify_threshold"] = 0.01
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest))
    one_line_error(run("bundle", "verify", folder, "-p", tmp_path / "k.pub"), "does not match manifest.json")


def test_cli_sign_reports_bad_keys_and_bundles(bundle_copy, tmp_path):
    folder = bundle_copy()
    one_line_error(run("bundle", "sign", folder, "--key", tmp_path / "missing.key"), "no such key file")
    (tmp_path / "pub.key").write_text(SigningKey.generate().public_key().to_pem().decode())
    one_line_error(run("bundle", "sign", folder, "--key", tmp_path / "pub.key"), "not a PEM private key")
    private, _, _ = generate_key_pair(tmp_path / "k")
    one_line_error(run("bundle", "sign", tmp_path / "nope", "--key", private), "no such bundle")

