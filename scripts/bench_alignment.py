#!/usr/bin/env python3
"""The recognizer's chip aligned from face-mesh points, against BlazeFace's keypoints and
dlib's own chips, in one run.

Faces: the scikit-image astronaut (scaled by 0.6, 1 and 1.5, turned by -15, 0 and 15
degrees) and the 100 ``lfw_subset`` faces (25x25, upscaled to 150x150, padded by 75 px,
upright and turned by 12 degrees), those on which dlib's HOG detector and BlazeFace each
find exactly one face.

``--measure`` prints the template: where the face mesh's group centres (eyes, nose tip,
mouth centre) land in dlib's 150x150 chip (``get_face_chip_details(shape, 150, 0.25)``
from its 5-point predictor; the image-to-chip map rebuilt as dlib's
``get_mapping_to_chip`` does), averaged over the template faces: the astronaut's and LFW
faces 50-99. ``DLIB_MESH_TEMPLATE`` in ``edgeface/cards/pretrained.py`` holds that
measurement.

The comparison runs on the held-out LFW faces 0-49, through the SDK with the same
BlazeFace detections and the fp32 ``dlib-resnet`` embedder, the chip cut three ways:
BlazeFace's keypoints onto ``DLIB_CHIP_TEMPLATE`` (a bundle without a landmark model),
the face mesh's group centres onto ``DLIB_MESH_TEMPLATE`` (the same embedder combined with
the face-mesh bundle: ``FaceAnalyzer.aligns_from == "landmarks"``), and dlib's own chip.
Genuine pairs: the same photograph upright and turned; impostor pairs: two different
lfw_subset faces (the subset does not label identities: a few pairs may be one person
twice). It prints each alignment's genuine and impostor cosines and its false accepts at
dlib's threshold (0.905), and always exits 0. Needs dlib (the dev extra).

    .venv/bin/python scripts/bench_alignment.py [--measure]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pretrained import dlib_models  # noqa: E402

GROUPS = ("right_eye", "left_eye", "nose_tip", "mouth_center")
TEMPLATE_FACES = range(50, 100)  # LFW faces the template is measured on (and the astronaut)
HELD_OUT = range(0, 50)


def photographs() -> list[tuple[str, np.ndarray]]:
    """(who, image) for every variant of every photograph."""
    from PIL import Image
    from skimage import data

    out = []
    astronaut = Image.fromarray(data.astronaut())
    for scale in (0.6, 1.0, 1.5):
        for angle in (-15, 0, 15):
            side = int(512 * scale)
            out.append(("astronaut", np.asarray(astronaut.resize((side, side), Image.BILINEAR)
                                                .rotate(angle, Image.BILINEAR))))
    for k, face in enumerate(data.lfw_subset()[:100]):
        grey = np.asarray(Image.fromarray(np.rint(face * 255).astype(np.uint8)).resize((150, 150), Image.BILINEAR))
        padded = np.pad(np.repeat(grey[..., None], 3, -1), ((75, 75), (75, 75), (0, 0)), constant_values=128)
        for angle in (0, 12):
            out.append((f"lfw{k}", np.asarray(Image.fromarray(padded).rotate(angle, Image.BILINEAR,
                                                                             fillcolor=(128, 128, 128)))))
    return out


def chip_mapping(details) -> np.ndarray:
    """dlib's image-to-chip map of a ``chip_details`` (as ``get_mapping_to_chip``): the
    rectangle turned by its angle about its centre, its corners onto the chip's."""
    from edgeface.align import similarity_transform

    rect, angle = details.rect, details.angle
    centre = np.array([(rect.left() + rect.right()) / 2, (rect.top() + rect.bottom()) / 2])
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    corners = np.array([[rect.left(), rect.top()], [rect.right(), rect.top()], [rect.right(), rect.bottom()]])
    chip = np.array([[0, 0], [details.cols - 1, 0], [details.cols - 1, details.rows - 1]], np.float64)
    return similarity_transform((corners - centre) @ turn.T + centre, chip)


def found_faces(mesh, dlib_parts) -> list[dict]:
    """Each photograph where both dlib and BlazeFace find one face: its detections, mesh
    group centres, dlib's chip and dlib's image-to-chip map."""
    import dlib

    detector, predictor, _ = dlib_parts
    faces = []
    for who, image in photographs():
        rects, _, _ = detector.run(image, 1, 0.0)
        detections = mesh.detect_arrays(image)
        if len(rects) != 1 or len(detections) != 1:
            continue
        shape = predictor(image, rects[0])
        landmarks = mesh.landmarks_arrays(image, detections)
        faces.append({"who": who, "image": image, "detections": detections,
                      "centres": np.array([landmarks.centre(g)[0, :2] for g in GROUPS]),
                      "dlib_chip": np.array(dlib.get_face_chip(image, shape, size=150, padding=0.25)),
                      "to_chip": chip_mapping(dlib.get_face_chip_details(shape, 150, 0.25))})
    return faces


def measure_template(faces: list[dict]) -> dict[str, list[float]]:
    chosen = [f for f in faces if f["who"] == "astronaut" or int(f["who"][3:]) in TEMPLATE_FACES]
    mapped = np.array([f["centres"] @ f["to_chip"][:, :2].T + f["to_chip"][:, 2] for f in chosen])
    mean, spread = mapped.mean(axis=0), mapped.std(axis=0)
    print(f"# template: {len(chosen)} faces (the astronaut's and LFW faces {TEMPLATE_FACES.start}-"
          f"{TEMPLATE_FACES.stop - 1}); mean (std) in dlib's 150x150 chip")
    for name, (x, y), (sx, sy) in zip(GROUPS, mean, spread):
        print(f"| {name} | {x:.2f}, {y:.2f} | {sx:.2f}, {sy:.2f} |")
    return {name: [round(float(x), 2), round(float(y), 2)] for name, (x, y) in zip(GROUPS, mean)}


def compare(faces: list[dict], by_keypoints, by_landmarks) -> None:
    from edgeface.cards.pretrained import DLIB_COSINE_THRESHOLD

    held = [f for f in faces if f["who"].startswith("lfw") and int(f["who"][3:]) in HELD_OUT]
    who = np.array([f["who"] for f in held])
    ways = {
        "BlazeFace keypoints (DLIB_CHIP_TEMPLATE)": [by_keypoints.embed_faces(f["image"], f["detections"])[0]
                                                     for f in held],
        "face-mesh group centres (DLIB_MESH_TEMPLATE)": [by_landmarks.embed_faces(f["image"], f["detections"])[0]
                                                         for f in held],
        "dlib's own chip": list(by_keypoints.embed_chips(np.stack([f["dlib_chip"] for f in held]))),
    }
    upper = np.triu_indices(len(held), 1)
    same = (who[:, None] == who[None, :])[upper]
    print(f"\n# verification on the held-out LFW faces {HELD_OUT.start}-{HELD_OUT.stop - 1}: {len(held)} chips of "
          f"{len(set(who))} faces; {int(same.sum())} genuine pairs (upright / turned 12 degrees), "
          f"{int((~same).sum())} impostor pairs; dlib-resnet fp32, threshold {DLIB_COSINE_THRESHOLD}")
    print("| chip aligned from | genuine mean | genuine min | impostor mean | impostor max | false accepts |")
    print("|---|---|---|---|---|---|")
    for name, embeddings in ways.items():
        e = np.array(embeddings)
        scores = (e @ e.T)[upper]
        genuine, impostor = scores[same], scores[~same]
        print(f"| {name} | {genuine.mean():.4f} | {genuine.min():.4f} | {impostor.mean():.4f} | {impostor.max():.4f} "
              f"| {int((impostor >= DLIB_COSINE_THRESHOLD).sum())} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--measure", action="store_true", help="also print the template measured on the "
                                                               "template faces")
    args = parser.parse_args(argv)
    from edgeface import FaceAnalyzer
    from edgeface.bundle import combine, load_bundle
    from edgeface.pretrained import fetch_model

    mesh_bundle, embedder = load_bundle(fetch_model("face-mesh")), load_bundle(fetch_model("dlib-resnet"))
    mesh = FaceAnalyzer.create_from_bundle(mesh_bundle.location, search="whole")
    faces = found_faces(mesh, dlib_models())
    print(f"# {len(faces)} photographs where dlib and BlazeFace each find one face")
    if args.measure:
        measure_template(faces)
    with tempfile.TemporaryDirectory(prefix="bench-alignment-") as tmp:
        with_mesh = combine(mesh_bundle, embedder, Path(tmp) / "mesh")
        keypoints_only = combine(load_bundle(fetch_model("blazeface")), embedder, Path(tmp) / "keypoints")
        by_landmarks = FaceAnalyzer.create_from_bundle(with_mesh, search="whole")
        by_keypoints = FaceAnalyzer.create_from_bundle(keypoints_only, search="whole")
        assert by_landmarks.aligns_from == "landmarks" and by_keypoints.aligns_from == "keypoints"
        compare(faces, by_keypoints, by_landmarks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
