"""``edgeface bundle keygen|sign|verify``: Ed25519 signatures that let an app refuse any
bundle its publisher did not sign (see edgeface.signing and docs/bundle.md); ``edgeface
bundle combine``: one bundle from a detector bundle and an embedder bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgeface.cli.common import JsonOption, print_json, user_errors

bundle_app = typer.Typer(
    name="bundle", no_args_is_help=True, add_completion=False,
    help="Combine a detector bundle with an embedder bundle; sign bundles and verify their signatures "
         "(Ed25519 over manifest.json, which pins every model file's sha256). Apps refuse bundles their "
         "trusted keys did not sign: FaceAnalyzerOptions(trusted_keys=[...]) or $EDGEFACE_TRUSTED_KEYS.")

BundleArg = Annotated[Path, typer.Argument(help="Bundle directory or .zip.", show_default=False)]


@bundle_app.command("keygen")
@user_errors
def keygen(out: Annotated[Path, typer.Option(
        "--out", "-o", show_default=False,
        help="Writes OUT.key (the private key, mode 0600: keep it secret) and OUT.pub (the public "
             "key apps trust). Never overwrites.")],
           json_out: JsonOption = False) -> None:
    """Make a new signing key pair."""
    from edgeface.signing import generate_key_pair

    private, public, key = generate_key_pair(out)
    info = {"private_key": str(private), "public_key": str(public), "key_id": key.public_key().key_id,
            "public_key_base64": key.public_key().to_base64()}
    if json_out:
        return print_json(info)
    typer.echo(f"wrote {private} (private: keep it secret) and {public} (public), key id {info['key_id']}\n"
               f"the public key in base64, to build into an app: {info['public_key_base64']}")


@bundle_app.command("sign")
@user_errors
def sign(bundle: BundleArg,
         key: Annotated[Path, typer.Option("--key", "-k", show_default=False,
                                           help="The private key file (from edgeface bundle keygen).")],
         json_out: JsonOption = False) -> None:
    """Check every file against the manifest, then sign it (adds manifest.json.sig)."""
    from edgeface.signing import SIGNATURE_NAME, SigningKey, sign_bundle

    signing_key = SigningKey.from_file(key)
    location = sign_bundle(bundle, signing_key)
    info = {"bundle": str(location), "signature": SIGNATURE_NAME, "key_id": signing_key.public_key().key_id}
    if json_out:
        return print_json(info)
    typer.echo(f"signed {location} with key {info['key_id']} ({SIGNATURE_NAME})")


@bundle_app.command("verify")
@user_errors
def verify(bundle: BundleArg,
           public_keys: Annotated[Optional[list[Path]], typer.Option(
               "--public-key", "-p", show_default=False,
               help="A trusted public key file (repeat for several; default: the files "
                    "$EDGEFACE_TRUSTED_KEYS lists).")] = None,
           json_out: JsonOption = False) -> None:
    """Signed by a trusted key, every file intact? Exit 0 if so, else 2 and why."""
    from edgeface.bundle import load_bundle
    from edgeface.errors import SigningKeyError
    from edgeface.signing import TRUSTED_KEYS_ENV, check_files, trusted_keys, trusted_keys_from_env

    keys = trusted_keys(public_keys) if public_keys else trusted_keys_from_env()
    if keys is None:
        raise SigningKeyError(f"no trusted public key given: pass --public-key NAME.pub, or set "
                              f"{TRUSTED_KEYS_ENV}")
    opened = load_bundle(bundle, trusted_keys=keys)
    files = check_files(opened)
    info = {"bundle": str(opened.location), "valid": True, "key_id": opened.signed_by.key_id,
            "name": opened.manifest.name, "files": files}
    if json_out:
        return print_json(info)
    typer.echo(f"{opened.location}: valid: signed by trusted key {info['key_id']}, "
               f"{len(files)} file(s) match the manifest")


DetectorBundle = Annotated[Path, typer.Option(
    "--detector", "-d", show_default=False, help="The bundle (directory or .zip) to take the detector from.")]
EmbedderBundle = Annotated[Optional[Path], typer.Option(
    "--embedder", "-e", show_default=False, help="The bundle (directory or .zip) to take the embedder from.")]
LandmarksBundle = Annotated[Optional[Path], typer.Option(
    "--landmarks", "-l", show_default=False,
    help="The bundle to take the landmark model from (e.g. one edgeface convert --role landmarks wrote); "
         "default: the detector bundle's own, if it has one.")]
NewBundle = Annotated[Path, typer.Option("--out", "-o", show_default=False, help="The new bundle directory.")]
Force = Annotated[bool, typer.Option(
    "--force", help="Replace OUT if it is a bundle already (anything else there is never touched).")]
Name = Annotated[Optional[str], typer.Option(help="The new bundle's name (default: the parts' names joined by +).")]


@bundle_app.command("combine")
@user_errors
def combine(detector: DetectorBundle, out: NewBundle, embedder: EmbedderBundle = None,
            landmarks: LandmarksBundle = None, force: Force = False, name: Name = None,
            json_out: JsonOption = False) -> None:
    """Put a detector bundle (with its landmark model, if it has one) together with an embedder bundle, a landmarks bundle or both, into one bundle."""
    from edgeface.bundle import combine as combine_bundles
    from edgeface.bundle import load_bundle
    from edgeface.errors import BundleError

    if embedder is None and landmarks is None:
        raise BundleError("bundle combine: give --embedder, --landmarks or both to add to the --detector bundle")
    given = {"detector": detector, "embedder": embedder, "landmarks": landmarks}
    _check_new_bundle_path(out, force, tuple(p for p in given.values() if p is not None))
    opened = {role: load_bundle(path) for role, path in given.items() if path is not None}
    _refuse_both_models(opened["detector"], "detector", "--detector")
    if embedder is not None:
        _refuse_both_models(opened["embedder"], "embedder", "--embedder")
    written = combine_bundles(opened["detector"], opened.get("embedder"), out, name=name,
                              landmarks=opened.get("landmarks"),
                              extra={"source": {role: b.manifest.name for role, b in opened.items()}})
    info = {"bundle": str(written), **{role: str(b.location) for role, b in opened.items()},
            "name": load_bundle(written).manifest.name}
    if json_out:
        return print_json(info)
    typer.echo(f"wrote {written}: " + ", ".join(f"the {role} of {b.location}" for role, b in opened.items()))


def _check_new_bundle_path(out: Path, force: bool, inputs: tuple[Path, ...]) -> None:
    """Refuse an ``--out`` that exists (without --force) or that is one of the input bundles:
    the user's files there are never replaced by surprise."""
    from edgeface.errors import BundleError

    if any(out.resolve() == Path(p).resolve() for p in inputs):
        raise BundleError(f"--out {out}: is one of the bundles to combine: choose a new directory")
    if (out.exists() or out.is_symlink()) and not force:
        raise BundleError(f"--out {out}: already exists: choose a new directory, or pass --force to replace "
                          f"the bundle there")


def _refuse_both_models(bundle, role: str, flag: str) -> None:
    """A bundle given for ``role`` that has the other model too leaves two candidates for
    that other model: say so rather than silently drop one."""
    from edgeface.errors import BundleError

    other = "embedder" if role == "detector" else "detector"
    if bundle.manifest.detector is not None and bundle.manifest.embedder is not None:
        raise BundleError(f"{flag} {bundle.location}: has both a detector and an embedder, so it is not clear "
                          f"which {other} to take: give a bundle with only the {role} (or use this bundle as "
                          f"it is)")
