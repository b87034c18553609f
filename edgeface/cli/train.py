"""``edgeface train detector|recognizer`` and ``edgeface eval``."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from edgeface.cli.choices import NmeNormaliser
from edgeface.cli.common import JsonOption, SocOption, ThreadsOption, console, print_json, shown, user_errors
from edgeface.train.config import DetectorConfig, RecognizerConfig, TrainConfig

train_app = typer.Typer(
    no_args_is_help=True,
    help="Train the project's face models (TensorFlow; the toolchain extra) on synthetic faces (the default) or "
         "your data, then export .keras, SavedModel and bundles the SDK runs. See docs/training.md.")

def _option(cls: type, name: str, *flags: str) -> Any:
    """The option of the training config field ``name``: its help and bounds are the field's
    (edgeface/train/config.py), written once for the CLI, config.json and the pipeline."""
    spec = next(f for f in fields(cls) if f.name == name)
    limits = spec.metadata.get("range")
    bounds = {} if limits is None else {"min": limits.lo, "max": limits.hi}
    return typer.Option(*flags, help=spec.metadata["doc"], **bounds)


Data = Annotated[str, _option(TrainConfig, "data", "--data")]
Epochs = Annotated[int, _option(TrainConfig, "epochs", "--epochs")]
Steps = Annotated[Optional[int], _option(TrainConfig, "steps_per_epoch", "--steps-per-epoch")]
Batch = Annotated[int, _option(TrainConfig, "batch", "--batch")]
Lr = Annotated[Optional[float], _option(TrainConfig, "lr", "--lr")]
InputSize = Annotated[Optional[int], _option(TrainConfig, "input_size", "--input-size")]
Out = Annotated[Path, _option(TrainConfig, "out", "--out", "-o")]
Resume = Annotated[bool, _option(TrainConfig, "resume", "--resume")]
Seed = Annotated[int, _option(TrainConfig, "seed", "--seed")]
Int8 = Annotated[bool, _option(TrainConfig, "export_int8", "--export-int8")]
NoExport = Annotated[bool, typer.Option("--no-export", help="Skip the export after training.")]
ValData = Annotated[Optional[str], _option(TrainConfig, "val_data", "--val-data")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
Optim = Annotated[str, _option(TrainConfig, "optimizer", "--optimizer")]


def _report(result, json_out: bool, headline: str) -> None:
    summary = {"run": str(result.run_dir), "epochs": len(result.history), "final": result.final,
               "export": None}
    if result.export is not None:
        summary["export"] = {"keras": str(result.export.keras),
                             "saved_model": str(result.export.saved_model) if result.export.saved_model else None,
                             "bundles": {k: str(v) for k, v in result.export.bundles.items()},
                             "report": str(result.export.report) if result.export.report else None,
                             "evaluations": result.export.evaluations}
    if json_out:
        return print_json(summary)
    from rich.table import Table

    out = console()
    table = Table("epoch", "loss", headline, "lr", "images/s", title=shown(f"run {result.run_dir}"))
    for row in result.history:
        value = row.get(headline)
        table.add_row(str(row["epoch"]), f"{row['loss']:.4f}", "-" if value is None else f"{value:.4f}",
                      f"{row['lr']:.2e}", f"{row['images_per_s']:.1f}")
    out.print(table)
    if result.export is not None:
        for precision, bundle in result.export.bundles.items():
            ev = result.export.evaluations.get(precision, {})
            figure = ""
            if "subsets" in ev:
                figure = f": AP {ev['subsets']['all']['ap']:.4f} (SDK)"
            elif "accuracy" in ev:
                figure = (f": accuracy {ev['accuracy'] * 100:.2f} %, verify_threshold "
                          f"{ev['calibration']['threshold']:.4f} at FAR {ev['calibration']['far']:g}")
            out.print(shown(f"bundle {precision}: {bundle}{figure}"))
        out.print(shown(f"keras: {result.export.keras}; conversion report: {result.export.report}"))


@train_app.command()
@user_errors
def detector(data: Data = "synthetic", arch: Annotated[str, _option(DetectorConfig, "arch", "--arch")] = "blazeface",
             epochs: Epochs = 10, steps_per_epoch: Steps = None, batch: Batch = 32, lr: Lr = None,
             loss: Annotated[str, _option(DetectorConfig, "loss", "--loss")] = "focal",
             box_loss: Annotated[str, _option(DetectorConfig, "box_loss", "--box-loss")] = "smooth_l1",
             input_size: InputSize = None, out: Out = Path("runs/detector"), resume: Resume = False,
             seed: Seed = 0, export_int8: Int8 = False, no_export: NoExport = False, val_data: ValData = None,
             optimizer: Optim = "adamw", quiet: Quiet = False, json_out: JsonOption = False) -> None:
    """Train a face detector (box + 5 keypoints, SSD anchors) and export it as a bundle."""
    from edgeface.train import DetectorConfig, train_detector

    config = DetectorConfig(arch=arch, data=data, out=out, input_size=input_size, epochs=epochs,
                            steps_per_epoch=steps_per_epoch, batch=batch, loss=loss, box_loss=box_loss,
                            seed=seed, export=not no_export, export_int8=export_int8, resume=resume,
                            val_data=val_data, optimizer=optimizer, **({"lr": lr} if lr is not None else {}))
    result = train_detector(config, progress=not (quiet or json_out))
    _report(result, json_out, "val_ap")


@train_app.command()
@user_errors
def recognizer(data: Data = "synthetic", arch: Annotated[str, _option(RecognizerConfig, "arch", "--arch")]
               = "mobilefacenet",
               epochs: Epochs = 10, steps_per_epoch: Steps = None, batch: Batch = 32, lr: Lr = None,
               loss: Annotated[str, _option(RecognizerConfig, "loss", "--loss")] = "arcface",
               margin: Annotated[Optional[float], _option(RecognizerConfig, "margin", "--margin")] = None,
               scale: Annotated[float, _option(RecognizerConfig, "scale", "--scale")] = 32.0,
               embedding_size: Annotated[int, _option(RecognizerConfig, "embedding_size", "--embedding-size")] = 128,
               input_size: InputSize = None, out: Out = Path("runs/recognizer"), resume: Resume = False,
               seed: Seed = 0, export_int8: Int8 = False, no_export: NoExport = False,
               val_pairs: Annotated[Optional[str], _option(RecognizerConfig, "val_pairs", "--val-pairs")] = None,
               far: Annotated[float, _option(RecognizerConfig, "far", "--far")] = 1e-3,
               optimizer: Optim = "adamw", quiet: Quiet = False, json_out: JsonOption = False) -> None:
    """Train a face recognizer (margin softmax on L2-normalised embeddings) and export it as a bundle."""
    from edgeface.train import RecognizerConfig, train_recognizer

    config = RecognizerConfig(arch=arch, data=data, out=out, input_size=input_size, epochs=epochs,
                              steps_per_epoch=steps_per_epoch, batch=batch, loss=loss, margin=margin, scale=scale,
                              embedding_size=embedding_size, seed=seed, export=not no_export,
                              export_int8=export_int8, resume=resume, val_pairs=val_pairs, far=far,
                              optimizer=optimizer, **({"lr": lr} if lr is not None else {}))
    result = train_recognizer(config, progress=not (quiet or json_out))
    _report(result, json_out, "val_acc")


@user_errors
def eval_command(bundle: Annotated[Path, typer.Argument(help="Bundle directory or .zip.", show_default=False)],
                 data: Annotated[Optional[str], typer.Option(
                     "--data", help="Detection set for the detector: 'synthetic[:N]...', WIDER FACE "
                                    "*_bbx_gt.txt, RetinaFace label.txt or CSV.")] = None,
                 wider_mat: Annotated[Optional[Path], typer.Option(
                     "--wider-mat", help="Folder with the WIDER FACE evaluation toolkit's wider_face_val.mat and "
                                         "wider_{easy,medium,hard}_val.mat, for easy / medium / hard AP (default: "
                                         "found beside --data or in ../eval_tools/ground_truth).")] = None,
                 pairs: Annotated[Optional[str], typer.Option(
                     "--pairs", help="Verification pairs for the embedder: LFW pairs.txt or "
                                     "'synthetic[:pairs_per_fold]...'.")] = None,
                 soc: SocOption = None, threads: ThreadsOption = 1,
                 far: Annotated[float, typer.Option("--far", help="FAR to calibrate the threshold at.")] = 1e-3,
                 calibrate: Annotated[bool, typer.Option(
                     "--calibrate", help="Write the threshold at --far into the bundle (verify_threshold, "
                                         "verify_far).")] = False,
                 iou: Annotated[float, typer.Option("--iou", min=0.05, max=0.95, help="Detection match IoU.")]
                 = 0.5,
                 nme: Annotated[NmeNormaliser, typer.Option(
                     "--nme", help="Keypoint NME normaliser.")] = NmeNormaliser.inter_ocular,
                 report: Annotated[Optional[Path], typer.Option(
                     "--report", help="Folder for report .md/.json and plots (ROC, precision-recall).")] = None,
                 json_out: JsonOption = False) -> None:
    """Evaluate a bundle through the SDK: detection AP (IoU 0.5) and keypoint NME on --data (all faces, plus
    WIDER FACE's easy / medium / hard when its .mat files are found), LFW 10-fold accuracy, TAR@FAR and ROC on
    --pairs. With --soc the bundle's Hexagon builds run (HTP simulator)."""
    from edgeface.errors import EdgefaceError

    if data is None and pairs is None:
        raise EdgefaceError("edgeface eval: give --data (detection set) and/or --pairs (verification pairs)")
    if wider_mat is not None and data is None:
        raise EdgefaceError("--wider-mat: give the WIDER FACE annotation file with --data too")
    if not 0 < far < 1:
        raise EdgefaceError(f"--far {far}: must be between 0 and 1, e.g. 1e-3")
    import edgeface.eval as ev

    out = console()
    summary = {}
    quiet = json_out
    if data is not None:
        from edgeface.data import load_detection

        dataset = load_detection(data, wider_mat=wider_mat)
        with _bar(quiet, "detecting") as advance:
            result = ev.evaluate_detection_bundle(bundle, dataset, soc=soc, threads=threads, iou=iou,
                                                  normalizer=nme, progress=advance)
        summary["detection"] = result.summary()
        if report is not None:
            ev.write_detection_report(result, report)
    if pairs is not None:
        from edgeface.data import load_pairs

        pair_list = load_pairs(pairs)
        with _bar(quiet, "verifying") as advance:
            vresult = ev.evaluate_verification_bundle(bundle, pair_list, soc=soc, threads=threads, far=far,
                                                      progress=advance)
        summary["verification"] = vresult.summary()
        if report is not None:
            ev.write_verification_report(vresult, report)
        if calibrate:
            ev.calibrate_bundle(bundle, vresult.calibration["threshold"], far)
            summary["verification"]["calibrated"] = True
    if json_out:
        return print_json(summary)
    _print_eval(out, summary, report)


def _print_eval(out, summary: dict, report: Optional[Path]) -> None:
    from rich.table import Table
    from rich.text import Text

    if "detection" in summary:
        d = summary["detection"]
        table = Table("subset", "images", "faces", f"AP@{d['iou']}", "NME", title=shown(
            f"detection: {d['bundle']}" + (f" on {d['soc']}" if d["soc"] else "")))
        for name, s in d["subsets"].items():
            table.add_row(name, str(s["images"]), str(s["faces"]), f"{s['ap']:.4f}",
                          "-" if s["keypoint_nme"] is None else f"{s['keypoint_nme']:.4f} ({s['nme_normalizer']})")
        out.print(table)
    if "verification" in summary:
        v = summary["verification"]
        out.print(shown(f"verification: {v['bundle']}" + (f" on {v['soc']}" if v["soc"] else "")
                        + f": {v['pairs']} pairs, {v['folds']}-fold accuracy {v['accuracy'] * 100:.2f} % "
                          f"± {v['accuracy_std'] * 100:.2f}"))
        table = Table("FAR", "TAR", "threshold", "note")
        for t in v["tar_at_far"]:
            table.add_row(f"{t['far']:g}", f"{t['tar']:.4f}", f"{t['threshold']:.4f}", shown(t.get("note", "")))
        out.print(table)
        if v.get("note"):
            out.print(Text.from_markup("[yellow]note:[/] ") + shown(v["note"]))
        c = v["calibration"]
        verb = "written into the bundle" if v.get("calibrated") else "(--calibrate writes it into the bundle)"
        out.print(f"threshold at FAR {c['far']:g}: {c['threshold']:.4f} {verb}")
    if report is not None:
        out.print(shown(f"report: {report}"))


class _bar:
    """A transient rich progress bar; yields an ``advance(done, total)`` callback."""

    def __init__(self, quiet: bool, label: str):
        self.quiet, self.label = quiet, label
        self.progress = None

    def __enter__(self):
        if self.quiet:
            return None
        from rich.console import Console
        from rich.progress import Progress

        self.progress = Progress(console=Console(stderr=True), transient=True)
        self.progress.__enter__()
        task = self.progress.add_task(self.label, total=None)

        def advance(done: int, total: int) -> None:
            self.progress.update(task, completed=done, total=total)

        return advance

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.__exit__(*exc)
