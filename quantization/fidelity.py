"""The fidelity gate: proof that a converted model still computes what its source did.

Converters rename and reorder outputs (TFLite), transpose 4-D outputs (onnx2tf: NCHW ->
NHWC), and have flipped signs of int16 outputs: every converted file is run on the same
inputs as its source and compared numerically. ``match_outputs`` pairs the outputs,
``compare_outputs`` measures raw agreement (``compare_variable_outputs`` for outputs whose
size varies per input, as post-processing inside a graph makes them), ``embedder_fidelity`` and
``detector_fidelity`` measure what users see (verification decisions, faces found), and
``FidelityReport.gate`` turns it into a pass / fail list.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from edgeface.errors import EdgefaceError
from edgeface.results import Detections

MATCH_IOU = 0.5  # a converted detection overlapping a source one this much is the same face


class FidelityError(EdgefaceError):
    """Outputs of a source and a converted model cannot be paired or compared."""


# ---------------------------------------------------------------- pairing outputs

Shape = Sequence[int | None]


def _dims_equal(a: Shape, b: Shape) -> bool:
    """Equal shapes; a dimension of None or <= 0 (dynamic) equals anything."""
    if len(a) != len(b):
        return False
    return all(x is None or y is None or x <= 0 or y <= 0 or x == y for x, y in zip(a, b))


def _preferred_perms(rank: int) -> list[tuple[int, ...]]:
    """Permutations p with src = transpose(dst, p), most plausible first: channels-last
    dst of a channels-first src (onnx2tf's NCHW -> NHWC), the reverse, then the rest."""
    if rank < 2:
        return []
    first = (0, rank - 1, *range(1, rank - 1))  # dst NHWC -> src NCHW
    last = (0, *range(2, rank), 1)  # dst NCHW -> src NHWC
    identity = tuple(range(rank))
    ordered = [first, last] + [p for p in itertools.permutations(range(rank)) if p not in (first, last)]
    return [p for i, p in enumerate(ordered) if p != identity and p not in ordered[:i]]


def _transpose_to(src: Shape, dst: Shape) -> tuple[int, ...] | None:
    if len(src) != len(dst):
        return None
    for perm in _preferred_perms(len(dst)):
        if _dims_equal(src, [dst[i] for i in perm]):
            return perm
    return None


def _fmt(outputs: Sequence[tuple[str, Shape]], i: int) -> str:
    name, shape = outputs[i]
    return f"{name!r} {tuple(shape)}"


def match_outputs(src: Sequence[tuple[str, Shape]], dst: Sequence[tuple[str, Shape]]
                  ) -> list[tuple[int, int, tuple[int, ...] | None]]:
    """Pair each source output with a converted output: ``(src_index, dst_index, perm)``,
    where ``np.transpose(dst_array, perm)`` has the source's layout (``perm`` None: as is).

    By exact name first, then by a shape only one pair shares, then by a shape only one
    pair shares up to a transpose. Raises ``FidelityError`` naming the shapes when the
    counts differ or a pairing is ambiguous or impossible.
    """
    if len(src) != len(dst):
        raise FidelityError(f"the source has {len(src)} outputs ({', '.join(_fmt(src, i) for i in range(len(src)))}), "
                            f"the converted model {len(dst)} ({', '.join(_fmt(dst, i) for i in range(len(dst)))}): "
                            f"convert all outputs, or compare a model with the same outputs")
    pairs: dict[int, tuple[int, tuple[int, ...] | None]] = {}
    used: set[int] = set()
    dst_names = [n for n, _ in dst]
    for i, (name, shape) in enumerate(src):  # 1. the same name (and a compatible shape)
        if dst_names.count(name) != 1 or [n for n, _ in src].count(name) != 1:
            continue
        j = dst_names.index(name)
        if _dims_equal(shape, dst[j][1]):
            pairs[i] = (j, None)
        else:
            perm = _transpose_to(shape, dst[j][1])
            if perm is None:
                raise FidelityError(f"output {name!r}: the source's is {tuple(shape)}, the converted model's "
                                    f"{tuple(dst[j][1])}, not the same even up to a transpose: the conversion "
                                    f"changed this output")
            pairs[i] = (j, perm)
        used.add(j)

    def unique_pass(fits) -> None:
        progress = True
        while progress:  # a pairing can make another one unique
            progress = False
            left_src = [i for i in range(len(src)) if i not in pairs]
            left_dst = [j for j in range(len(dst)) if j not in used]
            cands = {i: [j for j in left_dst if fits(src[i][1], dst[j][1])] for i in left_src}
            for i, js in cands.items():
                if len(js) == 1 and sum(js[0] in other for other in cands.values()) == 1:
                    j = js[0]
                    pairs[i] = (j, None if _dims_equal(src[i][1], dst[j][1]) else _transpose_to(src[i][1], dst[j][1]))
                    used.add(j)
                    progress = True
                    break

    unique_pass(_dims_equal)  # 2. a shape only one pair shares
    unique_pass(lambda a, b: _transpose_to(a, b) is not None)  # 3. the same up to a transpose

    left_src = [i for i in range(len(src)) if i not in pairs]
    if left_src:
        left_dst = [j for j in range(len(dst)) if j not in used]
        i = left_src[0]
        fits = [j for j in left_dst if _dims_equal(src[i][1], dst[j][1]) or _transpose_to(src[i][1], dst[j][1])]
        if fits:
            raise FidelityError(
                f"cannot tell which converted output is source output {_fmt(src, i)}: "
                f"{' or '.join(_fmt(dst, j) for j in fits)} fit (shapes alone are ambiguous); give the "
                f"outputs the same names in both models, or compare them in a known order")
        raise FidelityError(f"no converted output fits source output {_fmt(src, i)} (left: "
                            f"{', '.join(_fmt(dst, j) for j in left_dst) or 'none'}): the conversion changed it")
    return [(i, pairs[i][0], pairs[i][1]) for i in range(len(src))]


def align_outputs(got: Sequence[np.ndarray], matches: Sequence[tuple[int, int, tuple[int, ...] | None]]
                  ) -> list[np.ndarray]:
    """The converted model's outputs, in the source's order and layout."""
    out: list[np.ndarray | None] = [None] * len(matches)
    for i, j, perm in matches:
        array = np.asarray(got[j])
        out[i] = np.transpose(array, perm) if perm is not None else array
    return out  # type: ignore[return-value]


# ---------------------------------------------------------------- raw outputs

@dataclass
class OutputFidelity:
    name: str
    shape: list[int]
    max_abs_err: float
    mean_abs_err: float
    ref_max_abs: float  # the scale of the source output, to read the errors against
    cosine_mean: float  # cosine between flattened source and converted output, per sample
    cosine_worst: float
    finite: bool  # the converted output has no NaN / inf


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two (N, D) float64 arrays; 1 where both rows are 0,
    0 where only one is."""
    na = np.linalg.norm(a, axis=1)
    nb = np.linalg.norm(b, axis=1)
    dot = np.einsum("ij,ij->i", a, b)
    both = (na == 0) & (nb == 0)
    denom = np.where((na == 0) | (nb == 0), 1.0, na * nb)
    cos = np.where((na == 0) | (nb == 0), 0.0, dot / denom)
    cos[both] = 1.0
    return np.clip(cos, -1.0, 1.0)


def compare_outputs(ref: Sequence[np.ndarray], got: Sequence[np.ndarray],
                    names: Sequence[str] | None = None) -> list[OutputFidelity]:
    """Raw agreement per output (arrays already in the same order and layout, axis 0 the
    sample axis). Cosines are per sample over the flattened rest, then mean and worst."""
    if len(ref) != len(got):
        raise FidelityError(f"{len(ref)} source outputs but {len(got)} converted ones: pair them with "
                            f"match_outputs / align_outputs first")
    names = list(names) if names is not None else [f"output_{i}" for i in range(len(ref))]
    result = []
    for name, r, g in zip(names, ref, got):
        r = np.asarray(r, np.float64)
        g = np.asarray(g, np.float64)
        if r.shape != g.shape:
            raise FidelityError(f"output {name!r}: the source gave shape {r.shape}, the converted model "
                                f"{g.shape}: pair and transpose them with match_outputs / align_outputs first")
        finite = bool(np.isfinite(g).all())
        if r.ndim == 0:
            r, g = r.reshape(1, 1), g.reshape(1, 1)
        flat_r = r.reshape(r.shape[0], -1)
        flat_g = np.nan_to_num(g.reshape(g.shape[0], -1), nan=0.0, posinf=0.0, neginf=0.0)
        with np.errstate(invalid="ignore", over="ignore"):
            err = np.abs(flat_r - g.reshape(flat_r.shape))
        err[~np.isfinite(err)] = np.inf
        cos = _cosines(flat_r, flat_g) if flat_r.size else np.ones(r.shape[0])
        if not finite:
            cos = np.minimum(cos, 0.0)
        result.append(OutputFidelity(
            name=name, shape=list(r.shape), max_abs_err=float(err.max()) if err.size else 0.0,
            mean_abs_err=float(err.mean()) if err.size else 0.0,
            ref_max_abs=float(np.abs(flat_r).max()) if flat_r.size else 0.0,
            cosine_mean=float(cos.mean()) if cos.size else 1.0,
            cosine_worst=float(cos.min()) if cos.size else 1.0, finite=finite))
    return result


# ---------------------------------------------------------------- scalar outputs

@dataclass
class ScalarFidelity:
    """An output of one number per input (a face-presence logit or probability), judged
    by the decision it drives: the side of ``threshold`` each input falls on. A cosine of
    one number is only its sign (+-1), so it says nothing about such an output."""

    name: str
    samples: int
    threshold: float
    threshold_from: str  # how the threshold was chosen, in words
    flips: int  # inputs whose decision differs from the source's (a non-finite value is one)
    max_abs_err: float
    mean_abs_err: float


def is_scalar_output(shape: Shape) -> bool:
    """A per-input shape of one number: (N,), (N, 1), (N, 1, 1, 1), or a bare scalar."""
    return all(d == 1 for d in shape[1:])


def decision_threshold(ref: np.ndarray, threshold: float | None = None,
                       score_threshold: float | None = None) -> tuple[float, str]:
    """The threshold a scalar output's decisions are judged at, and how it was chosen:
    ``threshold`` as given; else a manifest's ``score_threshold`` (a probability), as a
    logit where the source's values leave [0, 1]; else 0.5 where they all lie in [0, 1]
    (a probability), 0 otherwise (a logit)."""
    values = np.asarray(ref, np.float64)
    probability = bool(values.size) and float(values.min()) >= 0.0 and float(values.max()) <= 1.0
    if threshold is not None:
        return float(threshold), "given"
    if score_threshold is not None:
        if not 0.0 < score_threshold < 1.0:
            raise FidelityError(f"score_threshold={score_threshold}: a probability strictly between 0 and 1")
        if probability:
            return float(score_threshold), "the manifest's score_threshold"
        logit = math.log(score_threshold / (1.0 - score_threshold))
        return logit, f"the manifest's score_threshold {score_threshold:g} as a logit"
    if probability:
        return 0.5, "0.5: the source's values lie in [0, 1], read as a probability"
    return 0.0, "0: the source's values leave [0, 1], read as a logit"


def scalar_fidelity(name: str, ref: np.ndarray, got: np.ndarray, threshold: float | None = None,
                    score_threshold: float | None = None) -> ScalarFidelity:
    """One scalar output of the same N inputs from the source and the converted model
    (any shape with one number per input); see ``decision_threshold`` for the threshold."""
    r = np.asarray(ref, np.float64).reshape(-1)
    g = np.asarray(got, np.float64).reshape(-1)
    if r.shape != g.shape:
        raise FidelityError(f"output {name!r}: {r.size} source values but {g.size} converted ones")
    value, chosen = decision_threshold(r, threshold, score_threshold)
    finite = np.isfinite(g)
    flipped = ((r >= value) != (g >= value)) | ~finite
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.where(finite, np.abs(r - g), np.inf)
    return ScalarFidelity(name=name, samples=int(r.size), threshold=value, threshold_from=chosen,
                          flips=int(np.count_nonzero(flipped)), max_abs_err=float(err.max()) if err.size else 0.0,
                          mean_abs_err=float(err.mean()) if err.size else 0.0)


def scalar_outputs(ref: Sequence[np.ndarray], got: Sequence[np.ndarray], names: Sequence[str],
                   threshold: float | None = None, score_threshold: float | None = None) -> list[ScalarFidelity]:
    """``scalar_fidelity`` of every scalar output among aligned outputs (axis 0 the inputs)."""
    return [scalar_fidelity(name, r, g, threshold, score_threshold)
            for name, r, g in zip(names, ref, got) if is_scalar_output(np.shape(r))]


# ---------------------------------------------------------------- outputs whose size varies

@dataclass
class VariableOutputFidelity:
    """An output whose size varies per input (post-processing inside the graph: NMS, TopK,
    NonZero), compared input by input: its sizes first, then its values where they agree."""

    name: str
    inputs: int
    size_mismatches: int  # inputs on which the two models' outputs differ in shape
    ref_items: int  # the source's elements, all inputs together
    got_items: int
    max_abs_err: float  # over the inputs whose shapes agree
    cosine_worst: float  # over the inputs whose shapes agree; 1 when none had values
    finite: bool  # the converted output has no NaN / inf


def compare_variable_outputs(ref: Sequence[Sequence[np.ndarray]], got: Sequence[Sequence[np.ndarray]],
                             names: Sequence[str]) -> list[VariableOutputFidelity]:
    """``ref[k][i]``, ``got[k][i]``: output ``k`` for input ``i`` from the source and the
    converted model. Concatenating such outputs over inputs would pair the items of
    different images, so each input is compared on its own."""
    result = []
    for name, refs, gots in zip(names, ref, got):
        if len(refs) != len(gots):
            raise FidelityError(f"output {name!r}: {len(refs)} inputs' outputs from the source but {len(gots)} "
                                f"from the converted model: run both on the same inputs")
        same = [(np.asarray(r, np.float64).reshape(1, -1), np.asarray(g, np.float64).reshape(1, -1))
                for r, g in zip(refs, gots) if np.shape(r) == np.shape(g)]
        finite = all(bool(np.isfinite(g).all()) for g in gots)
        errors = [float(np.max(np.abs(r - g))) for r, g in same if r.size]
        cosines = [float(_cosines(r, np.nan_to_num(g, nan=0.0, posinf=0.0, neginf=0.0))[0]) for r, g in same if r.size]
        result.append(VariableOutputFidelity(
            name=name, inputs=len(refs), size_mismatches=len(refs) - len(same),
            ref_items=int(sum(np.size(r) for r in refs)), got_items=int(sum(np.size(g) for g in gots)),
            max_abs_err=max(errors, default=0.0), cosine_worst=min(cosines, default=1.0), finite=finite))
    return result


def _variable_failures(outputs: Sequence[VariableOutputFidelity], max_cosine_drop: float | None) -> list[str]:
    """Gate failures of outputs whose size varies: a size that changed on any input, NaN or
    inf, and the worst cosine of the inputs whose sizes agree."""
    failures = []
    for out in outputs:
        if out.size_mismatches:
            failures.append(f"output {out.name!r} differs in size on {out.size_mismatches} of {out.inputs} inputs "
                            f"({out.ref_items} items from the source, {out.got_items} converted): post-processing "
                            f"in the graph decided differently; cut the graph before it (--outputs) to compare "
                            f"the raw outputs")
        if not out.finite:
            failures.append(f"output {out.name!r} has NaN or inf values")
        if max_cosine_drop is not None and out.cosine_worst < 1.0 - max_cosine_drop:
            failures.append(f"output {out.name!r} cosine worst {out.cosine_worst:.4f} < 1 - {max_cosine_drop:g} on "
                            f"the inputs where its size agrees (max abs err {out.max_abs_err:.4g})")
    return failures


# ---------------------------------------------------------------- embedders

@dataclass
class EmbedderFidelity:
    samples: int
    cosine_mean: float  # source vs converted embedding of the same input
    cosine_worst: float
    threshold: float  # cosine at or above which a pair is "same"
    pairs: int  # all pairs of inputs
    flips: int  # pairs whose same / different decision changed
    flip_fraction: float
    max_pair_delta: float  # largest change of a pair's cosine similarity


def _l2n(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norm == 0, 1.0, norm)


def embedder_fidelity(ref: np.ndarray, got: np.ndarray, threshold: float) -> EmbedderFidelity:
    """Embeddings (N, D) of the same N inputs from the source and the converted model."""
    ref = np.asarray(ref, np.float64)
    got = np.asarray(got, np.float64)
    if ref.ndim != 2 or ref.shape != got.shape:
        raise FidelityError(f"embeddings must be two (N, D) arrays of one shape, got {ref.shape} and {got.shape}")
    if not -1.0 <= threshold <= 1.0:
        raise FidelityError(f"threshold={threshold} is not a cosine similarity in [-1, 1]")
    if not np.isfinite(got).all():
        got = np.nan_to_num(got, nan=0.0, posinf=0.0, neginf=0.0)
        nonfinite = True
    else:
        nonfinite = False
    cos = _cosines(ref, got)
    if nonfinite:
        cos = np.minimum(cos, 0.0)
    r, g = _l2n(ref), _l2n(got)
    n = len(ref)
    iu = np.triu_indices(n, k=1)
    sim_r = (r @ r.T)[iu]
    sim_g = (g @ g.T)[iu]
    flips = int(np.count_nonzero((sim_r >= threshold) != (sim_g >= threshold)))
    pairs = len(sim_r)
    return EmbedderFidelity(
        samples=n, cosine_mean=float(cos.mean()) if n else 1.0, cosine_worst=float(cos.min()) if n else 1.0,
        threshold=float(threshold), pairs=pairs, flips=flips, flip_fraction=flips / pairs if pairs else 0.0,
        max_pair_delta=float(np.abs(sim_r - sim_g).max()) if pairs else 0.0)


# ---------------------------------------------------------------- detectors

@dataclass
class DetectorFidelity:
    images: int
    ref_faces: int
    got_faces: int
    matched: int
    missed: int  # source detections with no converted one at IoU >= 0.5
    extra: int  # converted detections with no source one
    mean_iou: float | None  # over matched pairs; None when nothing matched
    min_iou: float | None
    keypoint_error_mean: float | None  # keypoint distance / sqrt(source box area)
    keypoint_error_max: float | None
    score_delta_max: float | None


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(K, 4) x (M, 4) x1y1x2y2 boxes -> (K, M) IoU."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(w, 0, None) * np.clip(h, 0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def greedy_match(iou: np.ndarray, min_iou: float = MATCH_IOU) -> list[tuple[int, int]]:
    """Pairs (ref, got), best IoU first, each detection used once, IoU >= ``min_iou``."""
    pairs = []
    if iou.size == 0:
        return pairs
    order = np.argsort(-iou, axis=None, kind="stable")
    used_r, used_g = set(), set()
    for flat in order:
        i, j = divmod(int(flat), iou.shape[1])
        if iou[i, j] < min_iou:
            break
        if i in used_r or j in used_g:
            continue
        used_r.add(i)
        used_g.add(j)
        pairs.append((i, j))
    return pairs


def detector_fidelity(ref_dets: Sequence[Detections], got_dets: Sequence[Detections]
                      ) -> DetectorFidelity:
    """Final detections (decoded, after NMS, same coordinates) of the same images."""
    if len(ref_dets) != len(got_dets):
        raise FidelityError(f"{len(ref_dets)} images' detections from the source but {len(got_dets)} from "
                            f"the converted model: run both on the same images")
    ious, kp_errors, face_kp, score_deltas = [], [], [], []
    missed = extra = matched = 0
    for ref, got in zip(ref_dets, got_dets):
        pairs = greedy_match(box_iou(ref.boxes, got.boxes))
        matched += len(pairs)
        missed += len(ref) - len(pairs)
        extra += len(got) - len(pairs)
        for i, j in pairs:
            b = np.asarray(ref.boxes[i], np.float64)
            ious.append(float(box_iou(b, got.boxes[j])[0, 0]))
            score_deltas.append(abs(float(ref.scores[i]) - float(got.scores[j])))
            rk = np.asarray(ref.keypoints[i], np.float64).reshape(-1, 2)
            gk = np.asarray(got.keypoints[j], np.float64).reshape(-1, 2)
            if rk.size and rk.shape == gk.shape:
                size = math.sqrt(max((b[2] - b[0]) * (b[3] - b[1]), 1e-12))
                dist = np.linalg.norm(rk - gk, axis=1) / size
                kp_errors.extend(dist.tolist())
                face_kp.append(float(dist.mean()))
    return DetectorFidelity(
        images=len(ref_dets), ref_faces=int(sum(len(r) for r in ref_dets)),
        got_faces=int(sum(len(g) for g in got_dets)), matched=matched, missed=missed, extra=extra,
        mean_iou=float(np.mean(ious)) if ious else None, min_iou=float(np.min(ious)) if ious else None,
        keypoint_error_mean=float(np.mean(kp_errors)) if kp_errors else None,
        keypoint_error_max=float(np.max(kp_errors)) if kp_errors else None,
        score_delta_max=float(np.max(score_deltas)) if score_deltas else None)


# ---------------------------------------------------------------- landmark models

LANDMARK_ERROR_GATE = 0.01  # mean landmark error, as a fraction of the eye distance


@dataclass
class LandmarkFidelity:
    """How far a converted landmark model moves the points: per crop, the mean distance
    (x, y) between its points and the source's over the source's eye distance (the
    normalised mean error landmark benchmarks report), then over the crops."""

    crops: int
    points: int
    error_mean: float  # mean over crops of each crop's mean point error / eye distance
    error_max: float  # the worst crop's
    point_error_max: float  # the worst single point's, / eye distance


def landmark_fidelity(ref: np.ndarray, got: np.ndarray, points: int, right_eye: Sequence[int],
                      left_eye: Sequence[int]) -> LandmarkFidelity:
    """``ref`` and ``got``: a landmark output of the same crops (axis 0), ``points`` x 3
    values each (x, y, depth); the eye distance is between the centres of the two eye
    groups' points in ``ref``."""
    r = np.asarray(ref, np.float64).reshape(len(ref), points, -1)[..., :2]
    g = np.asarray(got, np.float64).reshape(len(got), points, -1)[..., :2]
    if r.shape != g.shape or not len(r):
        raise FidelityError(f"landmarks: source {r.shape} and converted {g.shape} points differ: compare the "
                            f"same crops with the same model")
    eyes = np.linalg.norm(r[:, list(right_eye)].mean(axis=1) - r[:, list(left_eye)].mean(axis=1), axis=1)
    per_point = np.linalg.norm(r - g, axis=2) / np.maximum(eyes, 1e-9)[:, None]
    per_crop = per_point.mean(axis=1)
    return LandmarkFidelity(crops=len(r), points=points, error_mean=float(per_crop.mean()),
                            error_max=float(per_crop.max()), point_error_max=float(per_point.max()))


# ---------------------------------------------------------------- the report and gate

@dataclass
class FidelityReport:
    """Fidelity of one converted file against its source."""

    file: str
    precision: str  # "float32", "float16", "int8", "int16x8", ...
    size_bytes: int
    outputs: list[OutputFidelity]
    embedder: EmbedderFidelity | None = None
    detector: DetectorFidelity | None = None
    landmarks: LandmarkFidelity | None = None
    coverage: dict[str, Any] | None = None  # CoverageReport.to_dict() for TFLite files
    notes: list[str] = field(default_factory=list)
    scalars: list[ScalarFidelity] = field(default_factory=list)  # judged by decisions, not cosine
    variable_outputs: list[VariableOutputFidelity] = field(default_factory=list)  # compared input by input

    def vector_outputs(self) -> list[OutputFidelity]:
        """The outputs a cosine says something about: all but the scalar ones."""
        scalar = {s.name for s in self.scalars}
        return [out for out in self.outputs if out.name not in scalar]

    def worst_cosine(self) -> float:
        """The worst per-input cosine over the vector outputs and the outputs whose size varies
        (nan when there are none)."""
        return min([o.cosine_worst for o in self.vector_outputs()] +
                   [o.cosine_worst for o in self.variable_outputs], default=float("nan"))

    def gate(self, max_cosine_drop: float | None, min_iou: float | None, *,
             max_flip_fraction: float | None = None, max_missed: int = 0, max_extra: int = 0,
             max_keypoint_error: float | None = None, max_decision_flips: int = 0,
             max_landmark_error: float = LANDMARK_ERROR_GATE) -> list[str]:
        """Human-readable failures; an empty list passes.

        ``max_cosine_drop``: every vector output's and the embedding's worst per-sample
        cosine must be >= 1 - drop. ``min_iou``: the worst matched detection IoU. Missed /
        extra faces fail beyond ``max_missed`` / ``max_extra``, scalar outputs' flipped
        decisions beyond ``max_decision_flips``; a landmark model's mean point error
        beyond ``max_landmark_error`` of the eye distance. Always checked, whatever the thresholds:
        non-finite outputs and negative cosines (a sign-flipped or anti-correlated output
        is never a faithful conversion).
        """
        floor = None if max_cosine_drop is None else 1.0 - max_cosine_drop
        failures = [f"output {out.name!r} has NaN or inf values" for out in self.outputs if not out.finite]
        for out in self.vector_outputs():
            if floor is not None and out.cosine_worst < floor:
                failures.append(f"output {out.name!r} cosine worst {out.cosine_worst:.4f} < 1 - {max_cosine_drop:g} "
                                f"(mean {out.cosine_mean:.4f}, max abs err {out.max_abs_err:.4g})")
            elif out.cosine_worst < 0:
                failures.append(f"output {out.name!r} cosine worst {out.cosine_worst:.4f} < 0: the converted "
                                f"output is sign-flipped or unrelated to the source")
        failures += self._scalar_failures(max_decision_flips)
        failures += _variable_failures(self.variable_outputs, max_cosine_drop)
        emb = self.embedder
        if emb is not None:
            if floor is not None and emb.cosine_worst < floor:
                failures.append(f"embedding cosine worst {emb.cosine_worst:.4f} < 1 - {max_cosine_drop:g} "
                                f"(mean {emb.cosine_mean:.4f})")
            elif emb.cosine_worst < 0:
                failures.append(f"embedding cosine worst {emb.cosine_worst:.4f} < 0: the converted embedding "
                                f"is sign-flipped or unrelated to the source")
            if max_flip_fraction is not None and emb.flip_fraction > max_flip_fraction:
                failures.append(f"embedding: {emb.flips} of {emb.pairs} same/different decisions at "
                                f"{emb.threshold:g} flip ({emb.flip_fraction:.2%} > {max_flip_fraction:.2%})")
        det = self.detector
        if det is not None:
            if det.missed > max_missed:
                failures.append(f"detector: {det.missed} face{'s' if det.missed != 1 else ''} missed "
                                f"(of {det.ref_faces} the source found)")
            if det.extra > max_extra:
                failures.append(f"detector: {det.extra} extra face{'s' if det.extra != 1 else ''} "
                                f"the source did not find")
            if min_iou is not None and det.min_iou is not None and det.min_iou < min_iou:
                failures.append(f"detector: min IoU {det.min_iou:.3f} < {min_iou:g} (mean {det.mean_iou:.3f})")
            if (max_keypoint_error is not None and det.keypoint_error_max is not None
                    and det.keypoint_error_max > max_keypoint_error):
                failures.append(f"detector: keypoint error max {det.keypoint_error_max:.4f} of the box size "
                                f"> {max_keypoint_error:g}")
        marks = self.landmarks
        if marks is not None and not marks.error_mean <= max_landmark_error:
            failures.append(f"landmarks: mean error {marks.error_mean:.2%} of the eye distance > "
                            f"{max_landmark_error:.2%} (worst crop {marks.error_max:.2%})")
        return failures

    def _scalar_failures(self, max_flips: int) -> list[str]:
        return [f"output {s.name!r}: {s.flips} of {s.samples} inputs flip their decision at threshold "
                f"{s.threshold:g} ({s.threshold_from}); max abs err {s.max_abs_err:.4g}"
                for s in self.scalars if s.flips > max_flips]

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN / inf; OutputFidelity.finite says why
    return value


# ---------------------------------------------------------------- running a converted file

def run_model(fmt: str, data: bytes, batch: np.ndarray, where: str = "model", layout: str = "auto",
              accelerator: str | None = None, on_sample: Callable[[int, int], None] | None = None
              ) -> tuple[list[np.ndarray], list[tuple[str, tuple[int, ...]]]]:
    """Run a model file the SDK's way (its backend; quantised inputs and outputs handled
    as ``edgeface.runtime.model.Model`` does) on a float32 NHWC batch, one sample at a
    time. Returns every output as float32 with the samples stacked on axis 0, and the
    model's output (name, shape) list for ``match_outputs``.

    ``layout``: the model input's layout; "auto" takes NCHW where the input's second
    dimension is 3 and its last is not. ``accelerator``: see ``edgeface.runtime.open_backend``.
    ``on_sample(done, total)`` is called before the first sample and after each one (an
    HTP simulator takes seconds per sample on a large model: callers show progress).
    """
    samples, outputs = run_model_samples(fmt, data, batch, where, layout, accelerator, on_sample)
    return [stack_samples(r) for r in samples], outputs


def stack_samples(samples: Sequence[np.ndarray]) -> np.ndarray:
    """Per-sample outputs as one array, samples on axis 0 (each sample's own batch axis, or
    a new one for scalars); FidelityError when their shapes differ."""
    shapes = sorted({np.shape(s) for s in samples})
    if len(shapes) > 1:
        raise FidelityError(f"an output changes shape from input to input ({shapes[0]}, {shapes[1]}, ...): an op "
                            f"that sizes it per image is inside the graph; cut the graph before it (--outputs)")
    return np.concatenate(samples, axis=0) if samples and np.ndim(samples[0]) else np.stack(samples)


def run_model_samples(fmt: str, data: bytes, batch: np.ndarray, where: str = "model", layout: str = "auto",
                      accelerator: str | None = None, on_sample: Callable[[int, int], None] | None = None
                      ) -> tuple[list[list[np.ndarray]], list[tuple[str, tuple[int, ...]]]]:
    """``run_model``, each output kept as a list of per-sample arrays (for outputs whose
    size varies per input, which cannot be stacked)."""
    from edgeface.runtime import open_backend
    from edgeface.runtime.model import run_float

    backend = open_backend(fmt, data, where, accelerator=accelerator)
    if len(backend.inputs) != 1:
        raise FidelityError(f"{where}: fidelity checks need a model with one input, this one has "
                            f"{len(backend.inputs)}")
    info = backend.inputs[0]
    x = np.asarray(batch, np.float32)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise FidelityError(f"{where}: expected an (N, H, W, 3) float32 batch, got {x.shape}")
    if layout == "auto":
        layout = "NCHW" if len(info.shape) == 4 and info.shape[1] == 3 and info.shape[-1] != 3 else "NHWC"
    if layout == "NCHW":
        x = np.ascontiguousarray(np.moveaxis(x, -1, 1))
    results: list[list[np.ndarray]] = [[] for _ in backend.outputs]
    report = on_sample or (lambda done, total: None)
    report(0, len(x))
    for i, sample in enumerate(x):
        for k, array in enumerate(run_float(backend, sample[None])):
            results[k].append(array.copy())
        report(i + 1, len(x))
    return results, [(o.name, tuple(o.shape)) for o in backend.outputs]
