"""Readers for the dataset formats people have, and the dispatch behind ``load_*``.

Every reader parses its annotation file eagerly (so a malformed line fails at once, naming
the file, the line and the fix) and reads images lazily, on ``__getitem__``, with
``edgeface.image.read_image``. Formats: docs/data.md.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeface.data.types import (
    NUM_KEYPOINTS,
    DatasetError,
    DetectionSample,
    DetectionSubset,
    IdentitySample,
    Pair,
)
from edgeface.errors import ImageError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


def _read_image(path: Path) -> np.ndarray:
    from edgeface.image import read_image
    try:
        return read_image(path)
    except ImageError as exc:
        raise DatasetError(f"{exc}: replace or remove the file, or fix the annotation that names it") from None


# ----------------------------------------------------------------------------- specs


def parse_spec(spec: str, defaults: dict, what: str) -> tuple[int | None, dict]:
    """``"synthetic[:N][:key=value...]"`` -> (N or None, options). Unknown keys fail."""
    parts = spec.split(":")
    if parts[0].strip().lower() != "synthetic":
        raise DatasetError(f"{spec!r}: not a synthetic spec")
    n, options = None, dict(defaults)
    for part in parts[1:]:
        part = part.strip()
        if not part:
            continue
        key, eq, value = part.partition("=")
        try:
            if not eq:
                if n is not None:
                    raise ValueError
                n = int(part)
                continue
            if key not in defaults:
                raise DatasetError(f"{spec!r}: unknown option {key!r} for a synthetic {what} set; "
                                   f"known: {', '.join(defaults)}")
            options[key] = type(defaults[key])(value)
        except ValueError:
            raise DatasetError(f"{spec!r}: cannot read {part!r}; write synthetic:N or "
                               f"synthetic:N:key=value with keys {', '.join(defaults)}") from None
    if n is not None and n <= 0:
        raise DatasetError(f"{spec!r}: the count must be positive")
    return n, options


def _known(options: dict, defaults: dict) -> dict:
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise TypeError(f"unexpected options for a synthetic set: {', '.join(unknown)} "
                        f"(known: {', '.join(defaults)})")
    return options


def _is_synthetic(spec) -> bool:
    return isinstance(spec, str) and spec.strip().lower().split(":")[0] == "synthetic"


# ----------------------------------------------------------------------------- detection


@dataclass
class _Record:
    image: str
    boxes: np.ndarray      # (N, 4) x1 y1 x2 y2
    keypoints: np.ndarray  # (N, 5, 2), NaN where absent
    line: int = 0


class FileDetectionDataset:
    """Annotation records parsed from a file; images read from ``images_root`` on access.
    ``subsets``: evaluation subsets by name (WIDER FACE's easy / medium / hard when its
    .mat files were found), empty otherwise."""

    def __init__(self, records: list[_Record], images_root: Path, annotation: Path, fmt: str,
                 subsets: dict[str, DetectionSubset] | None = None):
        self.records = records
        self.images_root = Path(images_root)
        self.annotation = Path(annotation)
        self.format = fmt
        self.subsets = subsets or {}

    def __len__(self) -> int:
        return len(self.records)

    def image_path(self, index: int) -> Path:
        return self.images_root / self.records[index].image

    def __getitem__(self, index: int) -> DetectionSample:
        index = int(index)
        if index < 0:
            index += len(self.records)
        if not 0 <= index < len(self.records):
            raise IndexError(f"index {index} out of range for {len(self.records)} images")
        rec = self.records[index]
        path = self.images_root / rec.image
        if not path.is_file():
            raise DatasetError(f"{self.annotation}:{rec.line}: image {rec.image!r} is not under "
                               f"{self.images_root}: pass images_root= the folder that holds it")
        return DetectionSample(_read_image(path), rec.boxes.copy(), rec.keypoints.copy(), str(path))

    def __repr__(self) -> str:
        return f"FileDetectionDataset({self.format}, {len(self)} images, {self.annotation})"


def _floats(tokens: list[str], path: Path, lineno: int, fix: str) -> list[float]:
    try:
        values = [float(t) for t in tokens]
    except ValueError:
        bad = next(t for t in tokens if not _is_float(t))
        raise DatasetError(f"{path}:{lineno}: {bad!r} is not a number; {fix}") from None
    if not all(math.isfinite(v) for v in values):
        raise DatasetError(f"{path}:{lineno}: a value is not finite; {fix}")
    return values


def _is_float(t: str) -> bool:
    try:
        float(t)
        return True
    except ValueError:
        return False


def _xywh_box(values: list[float], path: Path, lineno: int) -> np.ndarray:
    x, y, w, h = values[:4]
    if w < 0 or h < 0:
        raise DatasetError(f"{path}:{lineno}: negative box size (w={w:g}, h={h:g}); boxes are "
                           f"'x y w h' with the top-left corner first")
    return np.array([x, y, x + w, y + h], np.float32)


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not a UTF-8 text file ({exc}); is it the annotation file?") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror})") from None


def read_wider(path: Path, keep_invalid: bool = False) -> list[_Record]:
    """WIDER FACE ``wider_face_{train,val}_bbx_gt.txt``: an image path line, a count line,
    then that many ``x y w h blur expression illumination invalid occlusion pose`` lines
    (one all-zero line when the count is 0). Faces flagged invalid, and boxes of zero width
    or height, are dropped unless ``keep_invalid``."""
    lines = _lines(path)
    records: list[_Record] = []
    i = 0
    fix = "each image is a path line, a count line, then one 'x y w h ...' line per face"
    while i < len(lines):
        name = lines[i].strip()
        if not name:
            i += 1
            continue
        head = i + 1
        if _is_float(name.split()[0]) and len(name.split()) >= 4:
            raise DatasetError(f"{path}:{head}: expected an image path, found box values {name!r}; {fix}")
        if i + 1 >= len(lines) or not lines[i + 1].strip():
            raise DatasetError(f"{path}:{head + 1}: missing the face count after {name!r}; {fix}")
        try:
            count = int(lines[i + 1].split()[0])
            if count < 0 or len(lines[i + 1].split()) != 1:
                raise ValueError
        except ValueError:
            raise DatasetError(f"{path}:{head + 1}: expected a face count (one integer) after "
                               f"{name!r}, got {lines[i + 1].strip()!r}; {fix}") from None
        rows = max(count, 1)
        if i + 2 + rows > len(lines):
            raise DatasetError(f"{path}:{len(lines)}: the file ends inside {name!r} ({count} faces "
                               f"announced at line {head + 1}); is it truncated?")
        boxes = []
        for j in range(rows):
            lineno = i + 3 + j
            tokens = lines[i + 2 + j].split()
            if len(tokens) < 4:
                raise DatasetError(f"{path}:{lineno}: expected 'x y w h blur expression illumination "
                                   f"invalid occlusion pose', got {lines[i + 2 + j].strip()!r}; "
                                   f"is the face count at line {head + 1} right?")
            values = _floats(tokens, path, lineno, fix)
            if count == 0:
                continue
            invalid = len(values) >= 8 and values[7] == 1
            box = _xywh_box(values, path, lineno)  # fails on a negative size
            if values[2] == 0 or values[3] == 0 or (invalid and not keep_invalid):
                continue
            boxes.append(box)
        b = np.array(boxes, np.float32).reshape(-1, 4)
        records.append(_Record(name, b, np.full((len(b), NUM_KEYPOINTS, 2), np.nan, np.float32), head))
        i += 2 + rows
    if not records:
        raise DatasetError(f"{path}: no images in this WIDER FACE annotation file")
    return records


def read_retinaface(path: Path) -> list[_Record]:
    """RetinaFace ``label.txt``: ``# <image path>`` lines, each followed by one line per
    face: ``x y w h`` then, optionally, 5 landmarks as ``lx ly flag`` triples (15 values,
    sometimes a final score: 20 values in all) or ``lx ly`` pairs (10 values). Landmarks
    of -1 mean none: that face's keypoints are NaN. Landmark order: the eye, then the mouth
    corner, on the image's left first (= the subject's right, KEYPOINT_NAMES order)."""
    lines = _lines(path)
    records: list[_Record] = []
    current: _Record | None = None
    boxes: list[np.ndarray] = []
    kps: list[np.ndarray] = []
    fix = ("face lines are 'x y w h' optionally followed by 5 landmarks "
           "('lx ly flag' x5 [score]) or ('lx ly' x5)")

    def close():
        if current is not None:
            current.boxes = np.array(boxes, np.float32).reshape(-1, 4)
            current.keypoints = np.array(kps, np.float32).reshape(-1, NUM_KEYPOINTS, 2)
            records.append(current)

    for lineno, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            close()
            tokens = line[1:].split()
            if not tokens:
                raise DatasetError(f"{path}:{lineno}: '#' without an image path; write '# dir/image.jpg'")
            current, boxes, kps = _Record(tokens[0], None, None, lineno), [], []
            continue
        if current is None:
            raise DatasetError(f"{path}:{lineno}: a face line before any '# image path' line; "
                               f"every image starts with '# dir/image.jpg'")
        tokens = line.split()
        values = _floats(tokens, path, lineno, fix)
        if len(values) == 4:
            pts = None
        elif len(values) in (19, 20):
            pts = np.array(values[4:19], np.float32).reshape(5, 3)[:, :2]
        elif len(values) == 14:
            pts = np.array(values[4:14], np.float32).reshape(5, 2)
        else:
            raise DatasetError(f"{path}:{lineno}: {len(values)} values on a face line; {fix}")
        if values[2] < 0 or values[3] < 0:
            raise DatasetError(f"{path}:{lineno}: negative box size; boxes are 'x y w h'")
        boxes.append(_xywh_box(values, path, lineno))
        if pts is None or (pts == -1).any():
            pts = np.full((5, 2), np.nan, np.float32)
        kps.append(pts)
    close()
    if not records:
        raise DatasetError(f"{path}: no '# image path' lines: not a RetinaFace label.txt")
    return records


def read_csv(path: Path) -> list[_Record]:
    """``image,x1,y1,x2,y2[,k0x,k0y,...,k4x,k4y]``, one face per row, an optional header
    row; rows of one image need not be consecutive. An image with no face: a row whose
    other cells are empty. Empty keypoint cells: no keypoints (NaN) for that face."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror})") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{path}: not a readable CSV file ({exc})") from None
    fix = "rows are image,x1,y1,x2,y2 optionally followed by the 10 keypoint values k0x,k0y,...,k4x,k4y"
    records: dict[str, _Record] = {}
    faces: dict[str, list] = {}
    for lineno, row in enumerate(rows, 1):
        cells = [c.strip() for c in row]
        if not cells or not any(cells):
            continue
        if lineno == 1 and len(cells) > 1 and cells[1] and not _is_float(cells[1]):
            continue  # header
        if len(cells) not in (5, 15) and not (len(cells) >= 1 and not any(cells[1:])):
            raise DatasetError(f"{path}:{lineno}: {len(cells)} columns; {fix}")
        name = cells[0]
        if not name:
            raise DatasetError(f"{path}:{lineno}: the image cell is empty; {fix}")
        if name not in records:
            records[name] = _Record(name, None, None, lineno)
            faces[name] = []
        if not any(cells[1:]):
            continue  # an image without faces
        if not all(cells[1:5]):
            raise DatasetError(f"{path}:{lineno}: a box cell is empty; {fix}")
        box = np.array(_floats(cells[1:5], path, lineno, fix), np.float32)
        if box[2] < box[0] or box[3] < box[1]:
            raise DatasetError(f"{path}:{lineno}: x2 < x1 or y2 < y1; boxes are x1,y1,x2,y2 "
                               f"(corners), not x,y,w,h")
        kp = np.full((5, 2), np.nan, np.float32)
        if len(cells) == 15:
            if all(cells[5:]):
                kp = np.array(_floats(cells[5:], path, lineno, fix), np.float32).reshape(5, 2)
            elif any(cells[5:]):
                raise DatasetError(f"{path}:{lineno}: some keypoint cells are empty; give all 10 "
                                   f"values or leave all 10 empty")
        faces[name].append((box, kp))
    if not records:
        raise DatasetError(f"{path}: no rows; {fix}")
    out = []
    for name, rec in records.items():
        f = faces[name]
        rec.boxes = np.array([b for b, _ in f], np.float32).reshape(-1, 4)
        rec.keypoints = np.array([k for _, k in f], np.float32).reshape(-1, 5, 2)
        out.append(rec)
    return out


def _wider_split(path: Path) -> str:
    return "train" if "train" in path.name else "val" if "val" in path.name else "test"


def _wider_images_root(path: Path) -> Path | None:
    split = _wider_split(path)
    for cand in (path.parent / "images", path.parent.parent / f"WIDER_{split}" / "images",
                 path.parent / f"WIDER_{split}" / "images"):
        if cand.is_dir():
            return cand
    return None


def _sniff_txt(path: Path) -> str:
    """RetinaFace when the file is called label.txt or has '# image' lines, else WIDER."""
    lines = [line.strip() for line in _lines(path)[:200] if line.strip()]
    if not lines:
        raise DatasetError(f"{path}: the file is empty")
    if path.name == "label.txt" or any(line.startswith("#") for line in lines):
        return "retinaface"
    return "wider"


def _wider_subsets(path: Path, records: list[_Record], wider_mat) -> dict[str, DetectionSubset]:
    """easy / medium / hard from the toolkit's .mat files: in ``wider_mat``, or found beside
    the annotation file (or in ../eval_tools/ground_truth); none when not found."""
    from edgeface.data import wider_mat as mat

    split = _wider_split(path)
    folder = Path(wider_mat) if wider_mat is not None else mat.find_mat_folder(path, split)
    if folder is None:
        return {}
    return mat.read_wider_subsets(folder, split, [r.image for r in records], path)


def _no_wider_mat(wider_mat, what) -> None:
    if wider_mat is not None:
        raise DatasetError(f"wider_mat={wider_mat} (--wider-mat): the easy / medium / hard .mat files go with a "
                           f"WIDER FACE *_bbx_gt.txt, not {what}")


def load_detection(path_or_spec, images_root=None, *, seed: int = 0, size: int | None = None,
                   keep_invalid: bool = False, wider_mat: str | Path | None = None, **options):
    """See ``edgeface.data.load_detection``."""
    if _is_synthetic(path_or_spec):
        _no_wider_mat(wider_mat, "a synthetic set")
        from edgeface.data.synthetic import SyntheticFaces
        defaults = {"size": 128, "max_faces": 3, "seed": seed}
        n, opts = parse_spec(path_or_spec, defaults, "detection")
        opts.update(_known(options, defaults))
        if size is not None:
            opts["size"] = size
        return SyntheticFaces(opts["seed"]).detection_set(n or 1000, size=opts["size"],
                                                          max_faces=opts["max_faces"])
    if options:
        raise TypeError(f"unexpected options for a dataset file: {', '.join(options)}")
    path = Path(path_or_spec)
    if path.is_dir():
        if (path / "label.txt").is_file():
            path = path / "label.txt"
        else:
            raise DatasetError(f"{path}: a folder without label.txt; pass the annotation file "
                               f"(WIDER FACE .txt, RetinaFace label.txt or .csv) or 'synthetic'")
    if not path.is_file():
        raise DatasetError(f"{path}: no such annotation file; pass a WIDER FACE .txt, a RetinaFace "
                           f"label.txt, a .csv, or 'synthetic[:N]'")
    suffix = path.suffix.lower()
    subsets = {}
    if suffix == ".csv":
        records, fmt = read_csv(path), "csv"
        root = Path(images_root) if images_root is not None else path.parent
    elif suffix == ".txt":
        fmt = _sniff_txt(path)
        if fmt == "retinaface":
            records = read_retinaface(path)
            root = Path(images_root) if images_root is not None else path.parent / "images"
        else:
            records = read_wider(path, keep_invalid=keep_invalid)
            root = Path(images_root) if images_root is not None else _wider_images_root(path)
            if root is None:
                raise DatasetError(f"{path}: cannot find the WIDER FACE images (tried images/ and "
                                   f"../WIDER_<split>/images beside it): pass images_root=")
            subsets = _wider_subsets(path, records, wider_mat)
    else:
        raise DatasetError(f"{path}: unknown annotation format {suffix!r}; expected .txt (WIDER FACE "
                           f"or RetinaFace label.txt) or .csv")
    if fmt != "wider":
        _no_wider_mat(wider_mat, path.name)
    if not root.is_dir():
        raise DatasetError(f"{root}: the images folder does not exist: pass images_root= the "
                           f"folder the paths in {path.name} are relative to")
    return FileDetectionDataset(records, root, path, fmt, subsets)


# ----------------------------------------------------------------------------- recognition


class FolderRecognitionDataset:
    """``root/<identity>/<image>``: identities sorted by name are labels 0..K-1."""

    def __init__(self, root: Path, min_images: int = 1):
        root = Path(root)
        if not root.is_dir():
            raise DatasetError(f"{root}: no such folder; pass root/ holding one folder per identity "
                               f"(root/<identity>/<image>) or 'synthetic[:N]'")
        self.root = root
        self.identity_names: list[str] = []
        self.items: list[tuple[Path, int]] = []
        loose = []
        for entry in sorted(root.iterdir(), key=lambda p: p.name):
            if entry.name.startswith("."):
                continue
            if entry.is_file():
                if entry.suffix.lower() in IMAGE_EXTENSIONS:
                    loose.append(entry.name)
                continue
            images = sorted(p for p in entry.iterdir()
                            if p.is_file() and not p.name.startswith(".")
                            and p.suffix.lower() in IMAGE_EXTENSIONS)
            if len(images) < min_images or not images:
                continue
            label = len(self.identity_names)
            self.identity_names.append(entry.name)
            self.items.extend((p, label) for p in images)
        if not self.items:
            hint = (f" (found {len(loose)} images directly in it: move them into one folder per "
                    f"identity)" if loose else "")
            raise DatasetError(f"{root}: no identity folders with images{hint}; the layout is "
                               f"root/<identity>/<image> with extensions {', '.join(IMAGE_EXTENSIONS)}")
        self.num_identities = len(self.identity_names)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> IdentitySample:
        index = int(index)
        if index < 0:
            index += len(self.items)
        if not 0 <= index < len(self.items):
            raise IndexError(f"index {index} out of range for {len(self.items)} images")
        path, label = self.items[index]
        return IdentitySample(_read_image(path), label, str(path))

    def __repr__(self) -> str:
        return f"FolderRecognitionDataset({self.root}, {self.num_identities} identities, {len(self)} images)"


def load_recognition(path_or_spec, *, seed: int = 0, size: int | None = None, min_images: int = 1,
                     **options):
    """See ``edgeface.data.load_recognition``."""
    if _is_synthetic(path_or_spec):
        from edgeface.data.synthetic import SyntheticFaces
        defaults = {"per_identity": 20, "size": 112, "seed": seed, "identity_offset": 0}
        n, opts = parse_spec(path_or_spec, defaults, "recognition")
        opts.update(_known(options, defaults))
        if size is not None:
            opts["size"] = size
        return SyntheticFaces(opts["seed"]).recognition_set(
            n or 100, opts["per_identity"], size=opts["size"], identity_offset=opts["identity_offset"])
    if options:
        raise TypeError(f"unexpected options for an identity folder: {', '.join(options)}")
    return FolderRecognitionDataset(Path(path_or_spec), min_images=min_images)


# ----------------------------------------------------------------------------- pairs


class FilePair(Pair):
    """A pair whose images are read from disk on access (nothing is kept in memory)."""

    def __init__(self, path_a: Path, path_b: Path, same: bool, fold: int, source: str):
        self.path_a, self.path_b = Path(path_a), Path(path_b)
        self.same, self.fold, self.source = same, fold, source

    @property
    def a(self) -> np.ndarray:  # type: ignore[override]
        return _read_image(self.path_a)

    @property
    def b(self) -> np.ndarray:  # type: ignore[override]
        return _read_image(self.path_b)

    def __repr__(self) -> str:
        return f"FilePair({self.path_a.name}, {self.path_b.name}, same={self.same}, fold={self.fold})"


def _lfw_path(root: Path, name: str, number: str, path: Path, lineno: int) -> Path:
    try:
        n = int(number)
        if n <= 0:
            raise ValueError
    except ValueError:
        raise DatasetError(f"{path}:{lineno}: {number!r} is not an image number (1, 2, ...); "
                           f"lines are 'name n1 n2' or 'name1 n1 name2 n2'") from None
    for ext in (".jpg", ".png", ".jpeg"):
        p = root / name / f"{name}_{n:04d}{ext}"
        if p.is_file():
            return p
    raise DatasetError(f"{path}:{lineno}: image {name}/{name}_{n:04d}.jpg is not under {root}: "
                       f"pass images_root= the folder holding one folder per person (lfw/)")


def read_lfw_pairs(path: Path, images_root: Path) -> list[Pair]:
    """LFW ``pairs.txt``: a header ``folds pairs_per_fold`` (``10 300``), then per fold
    ``pairs_per_fold`` same-person lines ``name n1 n2`` followed by as many
    different-person lines ``name1 n1 name2 n2``. A one-number header (``pairsDevTrain.txt``,
    ``pairsDevTest.txt``: ``n``) means one fold of n same then n different pairs."""
    lines = [(i, line.split()) for i, line in enumerate(_lines(path), 1) if line.strip()]
    if not lines:
        raise DatasetError(f"{path}: the file is empty; expected a header like '10 300'")
    head_no, head = lines[0]
    try:
        nums = [int(t) for t in head]
        if len(nums) == 1:
            folds, per = 1, nums[0]
        elif len(nums) == 2:
            folds, per = nums
        else:
            raise ValueError
        if folds <= 0 or per <= 0:
            raise ValueError
    except ValueError:
        raise DatasetError(f"{path}:{head_no}: expected a header 'folds pairs_per_fold' (LFW: "
                           f"'10 300'), got {' '.join(head)!r}") from None
    body = lines[1:]
    if len(body) != folds * 2 * per:
        raise DatasetError(f"{path}: the header at line {head_no} announces {folds} folds of {per} "
                           f"same + {per} different pairs ({folds * 2 * per} lines), the file has "
                           f"{len(body)} pair lines; fix the header or the file")
    pairs: list[Pair] = []
    for k, (lineno, tokens) in enumerate(body):
        fold, pos = divmod(k, 2 * per)
        same = pos < per
        if same:
            if len(tokens) != 3:
                raise DatasetError(f"{path}:{lineno}: expected a same-person line 'name n1 n2' "
                                   f"(pair {pos + 1} of fold {fold + 1}), got {len(tokens)} fields")
            a = _lfw_path(images_root, tokens[0], tokens[1], path, lineno)
            b = _lfw_path(images_root, tokens[0], tokens[2], path, lineno)
        else:
            if len(tokens) != 4:
                raise DatasetError(f"{path}:{lineno}: expected a different-person line "
                                   f"'name1 n1 name2 n2' (pair {pos + 1} of fold {fold + 1}), "
                                   f"got {len(tokens)} fields")
            a = _lfw_path(images_root, tokens[0], tokens[1], path, lineno)
            b = _lfw_path(images_root, tokens[2], tokens[3], path, lineno)
        pairs.append(FilePair(a, b, same, fold, f"{path}:{lineno}"))
    return pairs


def load_pairs(path, images_root=None, *, seed: int = 0, size: int | None = None, **options) -> list[Pair]:
    """See ``edgeface.data.load_pairs``."""
    if _is_synthetic(path):
        from edgeface.data.synthetic import PAIR_IDENTITY_OFFSET, SyntheticFaces
        defaults = {"identities": 100, "size": 112, "seed": seed, "identity_offset": PAIR_IDENTITY_OFFSET}
        n, opts = parse_spec(path, defaults, "pairs")
        opts.update(_known(options, defaults))
        if size is not None:
            opts["size"] = size
        return SyntheticFaces(opts["seed"]).pairs(opts["identities"], n or 60, size=opts["size"],
                                                  identity_offset=opts["identity_offset"])
    if options:
        raise TypeError(f"unexpected options for a pairs file: {', '.join(options)}")
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such pairs file; pass an LFW pairs.txt or 'synthetic[:N]'")
    if images_root is None:
        images_root = path.parent / "lfw" if (path.parent / "lfw").is_dir() else path.parent
    images_root = Path(images_root)
    if not images_root.is_dir():
        raise DatasetError(f"{images_root}: no such folder: pass images_root= the LFW image folder")
    return read_lfw_pairs(path, images_root)


# ----------------------------------------------------------------------------- caching


class CachedDataset:
    """Keeps every sample of ``dataset`` in memory once read (or generated), so epochs
    after the first skip decoding / rendering. Memory: about H x W x 3 bytes per sample
    (10,000 synthetic 128x128 images: 490 MB). ``num_identities`` and
    ``identity_names`` pass through for recognition sets, ``subsets`` for detection sets."""

    def __init__(self, dataset):
        self.dataset = dataset
        self._items: dict[int, object] = {}
        for name in ("num_identities", "identity_names", "subsets"):
            if hasattr(dataset, name):
                setattr(self, name, getattr(dataset, name))

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        index = int(index)
        if index < 0:
            index += len(self.dataset)
        item = self._items.get(index)
        if item is None:
            item = self._items[index] = self.dataset[index]
        return item

    def __repr__(self) -> str:
        return f"CachedDataset({self.dataset!r}, {len(self._items)} cached)"
