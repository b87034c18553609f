"""The README's main job, for now: real face detection on a real photograph, with a
detector imported and quantized by edgeface.

1. ``edgeface models fetch blazeface``: MediaPipe's BlazeFace from the mediapipe wheel on
   the package registry, into a verified bundle;
2. ``edgeface models fetch blazeface-int8``: the same model quantized to int8 by
   edgeface's own converter, with its fidelity report;
3. ``edgeface detect`` with both on ``skimage.data.astronaut()`` saved as a PNG.

The full training pipeline replaces this as its issue lands.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def edgeface(*args: str, capture: bool = False) -> str:
    command = [sys.executable, "-m", "edgeface.cli.app", *args]
    print("== edgeface " + " ".join(args), flush=True)
    result = subprocess.run(command, check=True, text=True, stdout=subprocess.PIPE if capture else None)
    return result.stdout or ""


def main() -> int:
    from PIL import Image
    from skimage import data

    out = ROOT / "runs" / "demo"
    out.mkdir(parents=True, exist_ok=True)
    image = out / "astronaut.png"
    Image.fromarray(data.astronaut()).save(image)
    try:
        bundles = [json.loads(edgeface("models", "fetch", name, "--json", capture=True))["bundle"]
                   for name in ("blazeface", "blazeface-int8")]
        for bundle in bundles:
            edgeface("detect", str(image), "--bundle", bundle)
    except subprocess.CalledProcessError as exc:
        return exc.returncode
    print(f"bundles: {', '.join(bundles)}\nimage: {image.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
