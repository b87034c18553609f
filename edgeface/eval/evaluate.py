"""Evaluate any bundle the SDK loads, through the SDK: detection AP and keypoint NME on a
detection set, LFW-protocol verification on pairs, and the threshold calibration written
back into the bundle. fp32, int8 and the Hexagon simulator (``soc="SM8650"``: the bundle's
QNN targets) run through the same code, so their figures compare directly.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from edgeface.data.types import KEYPOINT_NAMES, DetectionSubset
from edgeface.errors import BundleError, EdgefaceError
from edgeface.eval import metrics as M
from edgeface.fsutil import atomic_write_bytes, atomic_write_text, write_json

DEFAULT_FARS = (1e-3, 1e-4)


class EvalError(EdgefaceError):
    """The data given to an evaluation does not fit the bundle or the protocol."""


def _analyzer(bundle, soc: str | None, threads: int, **options):
    from edgeface.analyzer import FaceAnalyzer, FaceAnalyzerOptions

    return FaceAnalyzer.create_from_options(FaceAnalyzerOptions(bundle=bundle, num_threads=threads, soc=soc,
                                                                **options))


# ----------------------------------------------------------------------- detection

@dataclass
class DetectionResult:
    bundle: str
    soc: str | None
    subsets: dict[str, M.DetectionEval]  # "all", then easy / medium / hard when the set has them
    iou: float
    score_threshold: float  # the low threshold used to trace the PR curve
    operating_point: dict  # precision / recall at the manifest's score threshold
    keypoint_names: list[str]
    seconds: float

    def summary(self) -> dict:
        return {"bundle": self.bundle, "soc": self.soc, "iou": self.iou,
                "subsets": {k: v.to_dict() for k, v in self.subsets.items()},
                "operating_point": self.operating_point, "keypoint_names": self.keypoint_names,
                "seconds": round(self.seconds, 2)}


def evaluate_detection_bundle(bundle: str | Path, dataset, soc: str | None = None, threads: int = 1,
                              iou: float = 0.5, score_threshold: float = 0.02, normalizer: str = "inter_ocular",
                              subsets: dict[str, Sequence[int] | DetectionSubset] | None = None,
                              progress: Callable[[int, int], None] | None = None) -> DetectionResult:
    """Detection AP (WIDER FACE style, IoU ``iou``) and keypoint NME of a bundle's
    detector on ``dataset`` (a sequence of ``DetectionSample``). "all" (every image, its
    own faces) is always reported, then each of ``subsets`` (or of the dataset's
    ``subsets`` attribute): a name such as easy / medium / hard mapped to image indices or
    to a ``DetectionSubset`` (its own faces, those outside the subset ignored)."""
    import time

    analyzer = _analyzer(bundle, soc, threads, score_threshold=score_threshold)
    if not analyzer.has_detector:
        raise BundleError(f"{bundle}: this bundle has no detector: evaluate detection with a bundle that has "
                          f"models.detector (or pass --pairs to evaluate its embedder)")
    if len(dataset) == 0:
        raise EvalError("--data: the detection set is empty")
    names = list(analyzer.keypoint_names)
    common = [n for n in KEYPOINT_NAMES if n in names]
    pick = [names.index(n) for n in common]
    truth_pick = [KEYPOINT_NAMES.index(n) for n in common]
    can_nme = "right_eye" in common and "left_eye" in common if normalizer == "inter_ocular" else bool(common)
    manifest_threshold = analyzer.bundle.manifest.detector.score_threshold
    preds, truths = [], []
    started = time.perf_counter()
    for i in range(len(dataset)):
        sample = dataset[i]
        found = analyzer.detect_arrays(sample.image)
        kps = found.keypoints[:, pick] if can_nme else None
        preds.append((found.boxes, found.scores, kps))
        truths.append((sample.boxes, sample.keypoints[:, truth_pick] if can_nme else None))
        if progress is not None:
            progress(i + 1, len(dataset))
    seconds = time.perf_counter() - started
    subsets = {"all": range(len(dataset)), **(subsets or getattr(dataset, "subsets", None) or {})}
    results = {name: _subset_eval(spec, preds, truths, iou, normalizer) for name, spec in subsets.items()}
    # precision / recall at the manifest's own threshold
    op_preds = [(b[s >= manifest_threshold], s[s >= manifest_threshold], None) for b, s, _ in preds]
    op = M.evaluate_detections(op_preds, [(t[0], None) for t in truths], iou)
    tp = int(round(op.recall[-1] * op.num_faces)) if len(op.recall) else 0
    operating = {"score_threshold": manifest_threshold, "recall": tp / op.num_faces if op.num_faces else None,
                 "precision": tp / op.num_detections if op.num_detections else None,
                 "detections": op.num_detections}
    return DetectionResult(str(bundle), soc, results, iou, score_threshold, operating, common, seconds)


def _subset_eval(spec: Sequence[int] | DetectionSubset, preds: list, truths: list, iou: float,
                 normalizer: str) -> M.DetectionEval:
    if isinstance(spec, DetectionSubset):
        return M.evaluate_detections([preds[i] for i in spec.images], [(b, None) for b in spec.boxes], iou,
                                     ignore=spec.ignore, normalizer=normalizer)
    index = list(spec)
    return M.evaluate_detections([preds[i] for i in index], [truths[i] for i in index], iou, normalizer=normalizer)


# --------------------------------------------------------------------- verification

@dataclass
class VerificationResult:
    bundle: str
    soc: str | None
    scores: np.ndarray = field(repr=False)
    same: np.ndarray = field(repr=False)
    folds: np.ndarray = field(repr=False)
    accuracy: dict  # kfold_accuracy
    tar: list[dict]  # tar_at_far per FAR
    calibration: dict  # {"far", "threshold", "tar", ...} at the chosen FAR
    mode: str  # "chips" (pairs are aligned crops) or "detect" (detect + align first)
    failures: int  # pairs where no face was found (scored -1)
    seconds: float
    note: str = ""

    def summary(self) -> dict:
        return {"bundle": self.bundle, "soc": self.soc, "pairs": int(len(self.scores)),
                "same": int(self.same.sum()), "different": int((~self.same).sum()), "mode": self.mode,
                "failures": self.failures, "accuracy": self.accuracy["accuracy"], "accuracy_std": self.accuracy["std"],
                "folds": self.accuracy["folds"], "tar_at_far": self.tar, "calibration": self.calibration,
                "seconds": round(self.seconds, 2), **({"note": self.note} if self.note else {})}


def evaluate_verification_bundle(bundle: str | Path, pairs: Sequence, soc: str | None = None, threads: int = 1,
                                 far: float = 1e-3, fars: Sequence[float] = DEFAULT_FARS, mode: str = "auto",
                                 flip: bool = False,
                                 progress: Callable[[int, int], None] | None = None) -> VerificationResult:
    """LFW-protocol verification of a bundle's embedder on ``pairs`` (``Pair`` objects with
    folds): 10-fold accuracy, TAR at each of ``fars``, the ROC, and the threshold at
    ``far``. ``mode``: "chips" embeds the pair images as aligned crops; "detect" finds and
    aligns the best face first (needs a detector in the bundle); "auto" takes chips when
    the images have the embedder's chip size or the bundle has no detector."""
    import time

    analyzer = _analyzer(bundle, soc, threads, flip_average=flip)
    if not analyzer.has_embedder:
        raise BundleError(f"{bundle}: this bundle has no embedder: evaluate verification with a bundle that has "
                          f"models.embedder (or pass --data to evaluate its detector)")
    pairs = list(pairs)
    if not pairs:
        raise EvalError("--pairs: no pairs to evaluate")
    if not 0 < far < 1:
        raise EvalError(f"--far {far}: must be between 0 and 1 (e.g. 1e-3)")
    align = analyzer.bundle.manifest.embedder.alignment
    chip = (align.height, align.width)
    if mode == "auto":
        mode = "chips" if not analyzer.has_detector or pairs[0].a.shape[:2] == chip else "detect"
    if mode == "detect" and not analyzer.has_detector:
        raise EvalError(f"{bundle}: mode 'detect' needs a detector in the bundle; the pairs are not aligned "
                        f"{chip[1]}x{chip[0]} chips")
    note = ""
    shape = pairs[0].a.shape[:2]
    if mode == "chips" and shape != chip and (shape[0] * chip[1] != shape[1] * chip[0] or shape[0] > 2 * chip[0]):
        note = (f"the pair images are {shape[1]}x{shape[0]}, not aligned {chip[1]}x{chip[0]} chips: they were "
                f"resized without alignment (evaluate a bundle with a detector to align them)")
    started = time.perf_counter()
    failures = 0
    scores = np.empty(len(pairs), np.float64)
    for i, pair in enumerate(pairs):
        if mode == "chips":
            e = analyzer.embed_chips(np.stack([_chip(pair.a, chip), _chip(pair.b, chip)]))
            scores[i] = float(np.dot(e[0], e[1]))
        else:
            from edgeface.analyzer import NoFaceError

            try:
                scores[i] = float(np.dot(analyzer.best_face_embedding(pair.a), analyzer.best_face_embedding(pair.b)))
            except NoFaceError:
                failures += 1
                scores[i] = -1.0
        if progress is not None:
            progress(i + 1, len(pairs))
    seconds = time.perf_counter() - started
    same = np.array([bool(p.same) for p in pairs])
    folds = np.array([int(getattr(p, "fold", 0)) for p in pairs])
    if same.all() or (~same).all():
        raise EvalError("--pairs: need both same-person and different-person pairs")
    accuracy = M.kfold_accuracy(scores, same, folds)
    tars = [M.tar_at_far(scores, same, f) for f in fars]
    calibration = M.tar_at_far(scores, same, far)
    return VerificationResult(str(bundle), soc, scores, same, folds, accuracy, tars, calibration, mode, failures,
                              seconds, note)


def _chip(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if image.shape[:2] == size:
        return image
    from edgeface.preprocess import resize_bilinear

    return np.asarray(resize_bilinear(image, size[1], size[0]), np.uint8)


def calibrate_bundle(bundle: str | Path, threshold: float, far: float) -> Path:
    """Write ``verify_threshold`` (clipped to [-1, 1]) and ``verify_far`` into a bundle
    directory's embedder entry (the bundle is rewritten whole, checksums kept)."""
    from edgeface.bundle import load_bundle, write_bundle

    path = Path(bundle)
    if not path.is_dir():
        raise BundleError(f"{bundle}: only a bundle directory can be calibrated in place: unzip it first")
    opened = load_bundle(path)
    if opened.manifest.embedder is None:
        raise BundleError(f"{bundle}: no embedder to calibrate")
    embedder = replace(opened.manifest.embedder, verify_threshold=float(min(max(threshold, -1.0), 1.0)),
                                   verify_far=float(far))
    return write_bundle(path, opened.manifest.with_model(embedder), opened.files())


# --------------------------------------------------------------------------- reports

def write_detection_report(result: DetectionResult, out: Path) -> dict[str, Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "detection.json", "md": out / "detection.md"}
    write_json(paths["json"], result.summary(), default=_jsonable)
    lines = [f"# Detection: {result.bundle}" + (f" on {result.soc}" if result.soc else ""), "",
             f"AP at IoU {result.iou} (WIDER FACE style, all-point), keypoint NME "
             f"({next(iter(result.subsets.values())).nme_normalizer} normalised).", "",
             "| subset | images | faces | AP | keypoint NME |", "|---|---|---|---|---|"]
    for name, r in result.subsets.items():
        nme = "-" if r.nme is None else f"{r.nme:.4f}"
        lines.append(f"| {name} | {r.num_images} | {r.num_faces} | {r.ap:.4f} | {nme} |")
    op = result.operating_point
    if op["recall"] is not None:
        precision = "no detections" if op["precision"] is None else f"precision {op['precision']:.3f}"
        lines += ["", f"At the manifest's score threshold {op['score_threshold']}: recall {op['recall']:.3f}, "
                      f"{precision}."]
    atomic_write_text(paths["md"], "\n".join(lines) + "\n")
    try:
        paths["png"] = _pr_plot(result, out / "precision_recall.png")
    except ImportError:
        pass
    return paths


def write_verification_report(result: VerificationResult, out: Path) -> dict[str, Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "verification.json", "md": out / "verification.md"}
    write_json(paths["json"], result.summary(), default=_jsonable)
    acc = result.accuracy
    lines = [f"# Verification: {result.bundle}" + (f" on {result.soc}" if result.soc else ""), "",
             f"{len(result.scores)} pairs ({int(result.same.sum())} same, {int((~result.same).sum())} different), "
             f"{acc['folds']} folds, mode {result.mode}" + (f", {result.failures} without a face" if result.failures else ""),
             "", f"Accuracy (threshold from the other folds): {acc['accuracy'] * 100:.2f} % "
                 f"± {acc['std'] * 100:.2f}", "", "| FAR | TAR | threshold | note |", "|---|---|---|---|"]
    for t in result.tar:
        lines.append(f"| {t['far']:g} | {t['tar']:.4f} | {t['threshold']:.4f} | {t.get('note', '')} |")
    c = result.calibration
    lines += ["", f"Calibrated verify_threshold {c['threshold']:.4f} at FAR {c['far']:g} (TAR {c['tar']:.4f})."]
    atomic_write_text(paths["md"], "\n".join(lines) + "\n")
    try:
        paths["png"] = roc_plot(result, out / "roc.png")
    except ImportError:
        pass
    return paths


def _jsonable(value: Any):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def roc_plot(result: VerificationResult, path: Path) -> Path:
    plt = _figure()
    far, tar, _ = M.roc_curve(result.scores, result.same)
    fig, ax = plt.subplots(figsize=(5, 4), dpi=100)
    positive = far > 0
    ax.plot(far[positive], tar[positive], color="#08519c")
    ax.set_xscale("log")
    negatives = int((~result.same).sum())
    ax.set_xlim(max(1.0 / max(negatives, 1), 1e-5) * 0.9, 1.0)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false accept rate")
    ax.set_ylabel("true accept rate")
    ax.set_title(f"ROC ({len(result.scores)} pairs, acc {result.accuracy['accuracy'] * 100:.1f} %)")
    for t in result.tar:
        if t["reliable"]:
            ax.axvline(t["far"], color="#bbbbbb", linewidth=0.8)
    ax.grid(alpha=0.3, which="both")
    return _save_png(plt, fig, path)


def _save_png(plt, fig, path: Path) -> Path:
    """Write ``fig`` to ``path`` atomically (a crash never leaves half a PNG) and close it."""
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def _pr_plot(result: DetectionResult, path: Path) -> Path:
    plt = _figure()
    fig, ax = plt.subplots(figsize=(5, 4), dpi=100)
    for name, r in result.subsets.items():
        ax.plot(r.recall, r.precision, label=f"{name}: AP {r.ap:.3f}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.legend(loc="lower left")
    ax.grid(alpha=0.3)
    return _save_png(plt, fig, path)
