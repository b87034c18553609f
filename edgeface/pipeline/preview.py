"""Contact sheets of a dataset's first samples, so a person sees what was trained and
tested on (boxes and keypoints drawn as the loaders read them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeface.fsutil import atomic_write


def _save(image, path: Path) -> None:
    atomic_write(path, lambda f: image.save(f, format="PNG"))


def detection_preview(dataset, path: Path, count: int = 8, tile: int = 160) -> Path:
    """Up to ``count`` images with their boxes (green) and keypoints (red)."""
    from PIL import Image, ImageDraw

    n = min(count, len(dataset))
    sheet = Image.new("RGB", (tile * max(n, 1), tile), "black")
    for i in range(n):
        sample = dataset[i]
        image = Image.fromarray(np.asarray(sample.image, np.uint8))
        scale = tile / max(image.size)
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))
        draw = ImageDraw.Draw(image)
        for box in np.asarray(sample.boxes, np.float32).reshape(-1, 4) * scale:
            draw.rectangle(box.tolist(), outline=(0, 255, 0))
        for x, y in np.asarray(sample.keypoints, np.float32).reshape(-1, 2) * scale:
            draw.point((float(x), float(y)), fill=(255, 0, 0))
        sheet.paste(image, (i * tile, 0))
    _save(sheet, path)
    return path


def pairs_preview(pairs, path: Path, count: int = 6, tile: int = 96) -> Path:
    """Up to ``count`` pairs, one per column (a above b), a green bar under same-person pairs
    and a red one under different-person pairs."""
    from PIL import Image, ImageDraw

    n = min(count, len(pairs))
    sheet = Image.new("RGB", (tile * max(n, 1), 2 * tile + 6), "black")
    draw = ImageDraw.Draw(sheet)
    for i, pair in enumerate(pairs[:n]):
        for row, chip in enumerate((pair.a, pair.b)):
            image = Image.fromarray(np.asarray(chip, np.uint8)).resize((tile, tile))
            sheet.paste(image, (i * tile, row * tile))
        draw.rectangle([i * tile, 2 * tile, (i + 1) * tile - 2, 2 * tile + 5],
                       fill=(0, 200, 0) if pair.same else (200, 0, 0))
    _save(sheet, path)
    return path
