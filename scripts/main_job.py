"""The README's main job, for now: the SDK end to end on a real photograph.

Saves ``skimage.data.astronaut()`` as a PNG, runs ``edgeface detect`` on it with the
fixture bundle, then enrolls and identifies through the Python API, and prints where
everything is. The fixture bundle holds test models (a blob detector and a random-weight
embedder), so the boxes show the SDK's plumbing and coordinate mapping, not face
recognition quality; the real pretrained bundle and the full training pipeline replace
it as those issues land.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUNDLE = ROOT / "tests" / "fixtures" / "bundles" / "blob_blazeface"


def main() -> int:
    import numpy as np
    from PIL import Image
    from skimage import data

    from edgeface import FaceAnalyzer

    out = ROOT / "runs" / "demo"
    out.mkdir(parents=True, exist_ok=True)
    image_path = out / "astronaut.png"
    Image.fromarray(data.astronaut()).save(image_path)
    print(f"== edgeface detect {image_path.relative_to(ROOT)} --bundle {BUNDLE.relative_to(ROOT)}", flush=True)
    code = subprocess.call([sys.executable, "-m", "edgeface.cli.app", "detect", str(image_path),
                            "--bundle", str(BUNDLE)])
    if code:
        return code
    analyzer = FaceAnalyzer.create_from_bundle(BUNDLE, gallery=out / "gallery.efg")
    rgb = np.asarray(Image.open(image_path).convert("RGB"))
    analyzer.enroll("astronaut", [rgb])
    analyzer.gallery.save()
    faces = analyzer.analyze(rgb)
    print(f"== FaceAnalyzer.analyze: {len(faces)} face(s); identities: "
          f"{[f.identity for f in faces]}; gallery at {(out / 'gallery.efg').relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
