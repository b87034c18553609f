"""The typer application: SDK commands (detect, embed, verify, enroll, identify) and doctor."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgeface import __version__
from edgeface.cli.common import (BundleOption, JsonOption, SearchOption, SocOption, ThreadsOption, analyzer_for,
                                 check_output_file, console, load_images, print_json, require_gallery, shown,
                                 user_errors)

app = typer.Typer(
    name="edgeface", no_args_is_help=True,
    help="Face models from data to phones: detect, embed and match faces with a bundle "
         "(models + settings), and check what this machine can run.")

Images = Annotated[list[Path], typer.Argument(help="Image files (PNG, JPEG, ...).", show_default=False)]
Image = Annotated[Path, typer.Argument(help="An image file.", show_default=False)]
EnrollGallery = Annotated[str, typer.Option(
    "--gallery", "-g", help="Gallery file (created if missing), or a Milvus URI (docs/gallery.md).")]
SearchGallery = Annotated[str, typer.Option(
    "--gallery", "-g", help="Gallery file to search (edgeface enroll makes it), or a Milvus URI.")]


def _register_toolchain_commands() -> None:
    from edgeface.cli.bundle import bundle_app
    from edgeface.cli.compile import compile_model
    from edgeface.cli.convert import convert, quantize
    from edgeface.cli.models import models_app
    from edgeface.cli.profiles import profiles_app
    from edgeface.cli.hub import hub_app
    from edgeface.cli.bench import bench_app
    from edgeface.cli.track import track
    from edgeface.cli.liveness import liveness
    from edgeface.cli.feeds import serve_feeds_command
    from edgeface.cli.train import eval_command, train_app
    from edgeface.cli.pipeline import pipeline

    app.command()(convert)
    app.command()(quantize)
    app.command(name="compile")(compile_model)
    app.add_typer(models_app, name="models")
    app.add_typer(bundle_app, name="bundle")
    app.add_typer(profiles_app, name="profiles")
    app.add_typer(hub_app, name="hub")
    app.add_typer(bench_app, name="bench")
    app.add_typer(train_app, name="train")
    app.command(name="eval", short_help="Evaluate a bundle through the SDK: detection AP, keypoint NME, "
                                        "verification accuracy and ROC.")(eval_command)
    app.command()(track)
    app.command()(liveness)
    app.command(name="serve-feeds", short_help="Process many video feeds at once: track faces, match them "
                                               "against the watch-list.")(serve_feeds_command)
    app.command(name="pipeline", short_help="From data to a benchmarked bundle: train, quantize, convert, "
                                            "evaluate, bundle, benchmark, report.")(pipeline)


_register_toolchain_commands()


def _version(value: bool) -> None:
    if value:
        typer.echo(f"edgeface {__version__}")
        raise typer.Exit()


@app.callback()
def root(version: Annotated[Optional[bool], typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit.")] = None) -> None:
    """edgeface command line."""


@app.command()
@user_errors
def doctor(json_out: JsonOption = False) -> None:
    """What is installed, what this CPU offers, and what each capability still needs."""
    from edgeface.cli.doctor import diagnose

    report = diagnose()
    if json_out:
        return print_json(report)
    from rich.table import Table

    out = console()
    out.print(f"edgeface {report['edgeface']} on Python {report['python']} ({report['platform']})")
    out.print(f"CPU: {report['cpu']['model']}; {report['cpu']['cores']} cores; "
              f"features: {', '.join(report['cpu']['features']) or 'unknown'}")
    table = Table("capability", "status", "needs")
    for cap in report["capabilities"]:
        status = "[green]ready[/]" if cap["ready"] else "[yellow]missing[/]"
        table.add_row(cap["name"], status, "" if cap["ready"] else shown(cap["install"]))
    out.print(table)
    packages = Table("package", "version")
    for name, version in report["packages"].items():
        packages.add_row(name, version or "[dim]not installed[/]")
    out.print(packages)


@app.command()
@user_errors
def detect(images: Images, bundle: BundleOption = None, json_out: JsonOption = False,
           threads: ThreadsOption = 1, soc: SocOption = None, search: SearchOption = None,
           score_threshold: Annotated[Optional[float], typer.Option(
               min=0.0, max=1.0, help="Override the bundle's score threshold.")] = None) -> None:
    """Find faces: boxes, scores and keypoints in original-image pixels."""
    decoded = load_images(images)
    analyzer = analyzer_for(bundle, threads, search, soc=soc, score_threshold=score_threshold)
    results = []
    for path in images:
        rgb = next(decoded)
        faces = analyzer.detect(rgb)
        results.append({"image": str(path), "width": rgb.shape[1], "height": rgb.shape[0],
                        "faces": [f.to_dict() for f in faces]})
        del rgb  # one decoded image at a time (zip would keep it alive through the next decode)
    if json_out:
        return print_json(results)
    from rich.table import Table

    table = Table("image", "face", "score", "box (x1, y1, x2, y2)", "keypoints")
    for result in results:
        if not result["faces"]:
            table.add_row(shown(result["image"]), "-", "-", "no face found", "")
        for i, face in enumerate(result["faces"]):
            box = ", ".join(f"{v:.1f}" for v in face["bbox"])
            table.add_row(shown(result["image"]), str(i + 1), f"{face['score']:.3f}", box,
                          str(len(face["keypoints"])))
    console().print(table)


@app.command()
@user_errors
def embed(image: Image, bundle: BundleOption = None, json_out: JsonOption = False,
          threads: ThreadsOption = 1, soc: SocOption = None, search: SearchOption = None,
          out: Annotated[Optional[Path], typer.Option(help="Also save the (N, D) embeddings as .npy.")] = None,
          flip: Annotated[bool, typer.Option(help="Average with the mirrored face.")] = False) -> None:
    """Embed every face in an image (unit vectors, one per face)."""
    import numpy as np

    if out is not None:
        check_output_file(out, "--out", inputs=[image], atomic=True)
    decoded = load_images([image])
    analyzer = analyzer_for(bundle, threads, search, soc=soc, flip_average=flip)
    (rgb,) = decoded
    faces = analyzer.analyze(rgb)
    if out is not None:
        from edgeface.fsutil import atomic_write

        matrix = np.stack([f.embedding for f in faces]) if faces else np.zeros((0, analyzer.embedding_size))
        atomic_write(out, lambda handle: np.save(handle, matrix.astype(np.float32)))
    if json_out:
        return print_json({"image": str(image), "faces": [
            {**f.to_dict(), "embedding": [round(float(v), 6) for v in f.embedding]} for f in faces]})
    console().print(shown(f"{image}: {len(faces)} face(s), {analyzer.embedding_size}-d embeddings"
                          + (f", saved to {out}" if out else "")))
    for i, face in enumerate(faces):
        head = " ".join(f"{v:+.3f}" for v in face.embedding[:6])
        console().print(f"  face {i + 1} (score {face.score:.3f}): [{head} ...]")


@app.command()
@user_errors
def verify(image_a: Image, image_b: Image, bundle: BundleOption = None, json_out: JsonOption = False,
           threads: ThreadsOption = 1, soc: SocOption = None) -> None:
    """Are the best faces of two images the same person? (1:1 verification)"""
    analyzer = analyzer_for(bundle, threads, soc=soc)
    a, b = load_images([image_a, image_b])
    result = analyzer.verify(a, b)
    if json_out:
        return print_json({"a": str(image_a), "b": str(image_b), **result.to_dict()})
    verdict = "[green]same person[/]" if result.is_same else "[red]different people[/]"
    console().print(f"{verdict}: similarity {result.similarity:.4f} (threshold {result.threshold:.4f})")


@app.command()
@user_errors
def enroll(name: Annotated[str, typer.Argument(help="The identity's name.")], images: Images,
           gallery: EnrollGallery, bundle: BundleOption = None, json_out: JsonOption = False,
           threads: ThreadsOption = 1, soc: SocOption = None) -> None:
    """Add a person to a gallery: the best face of each image becomes a template."""
    analyzer = analyzer_for(bundle, threads, soc=soc, gallery=gallery)
    count = analyzer.enroll(name, load_images(images))
    if json_out:
        return print_json({"identity": name, "templates": count, "gallery": str(gallery),
                           "identities": len(analyzer.gallery.identities())})
    console().print(shown(f"enrolled {name!r}: {count} template(s) in {gallery} "
                          f"({len(analyzer.gallery.identities())} identities)"))


@app.command()
@user_errors
def identify(image: Image, gallery: SearchGallery, bundle: BundleOption = None, json_out: JsonOption = False,
             threads: ThreadsOption = 1, soc: SocOption = None, search: SearchOption = None,
             top_k: Annotated[int, typer.Option("--top-k", min=1, help="Candidates per face.")] = 5) -> None:
    """Who is in the image? (1:N search of each face against a gallery)"""
    require_gallery(gallery)
    analyzer = analyzer_for(bundle, threads, search, soc=soc, gallery=gallery)
    (rgb,) = load_images([image])
    faces = analyzer.identify(rgb, top_k=top_k)
    rows = [{**face.to_dict(), "candidates": [{"identity": m.identity, "similarity": round(m.similarity, 4)}
                                               for m in face.matches]} for face in faces]
    if json_out:
        return print_json({"image": str(image), "threshold": analyzer.threshold, "faces": rows})
    from rich.table import Table

    table = Table("face", "box", "identity", "similarity", "other candidates")
    for i, row in enumerate(rows):
        box = ", ".join(f"{v:.0f}" for v in row["bbox"])
        best = row["candidates"][0] if row["candidates"] else None
        others = ", ".join(f"{c['identity']} {c['similarity']:.3f}" for c in row["candidates"][1:])
        table.add_row(str(i + 1), box, shown(best["identity"]) if best else "[dim]unknown[/]",
                      f"{best['similarity']:.3f}" if best else "-", shown(others))
    if not rows:
        table.add_row("-", "no face found", "", "", "")
    console().print(table)


if __name__ == "__main__":
    app()
