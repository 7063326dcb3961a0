"""P2PNet (Song et al. ICCV 2021) layout, as its ``crowd_datasets/SHHA`` loader reads it.

``OUT/<split>/<id>.jpg`` with ``OUT/<split>/<id>.txt`` (one ``x y`` line per head,
a single space between), and ``OUT/<split>.list`` with one
``<split>/<id>.jpg <split>/<id>.txt`` line per image, paths relative to OUT.
Their loader splits list lines on whitespace, so an id with a space is refused;
it also parses the number after the id's last ``_`` as the image's integer id
(``IMG_12`` gives 12), so ids of that shape suit it best.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.atomic import write_bytes
from pipeline.errors import DataError
from pipeline.paths import contained


def write(item, out: Path, split: str, fmt: str) -> None:  # noqa: ANN001 - an exports.Item
    if any(c.isspace() for c in item.image_id):
        raise DataError(item.source, f"image id {item.image_id!r} has a space, which P2PNet's list files cannot hold")
    folder = contained(out, split, option="--split", write=True)
    folder.mkdir(parents=True, exist_ok=True)
    item.save_jpeg(contained(folder, f"{item.image_id}.jpg", write=True))
    lines = "".join(f"{x:.9g} {y:.9g}\n" for x, y in item.points.astype("float32").tolist())
    write_bytes(contained(folder, f"{item.image_id}.txt", write=True), lines.encode())


def finish(out: Path, fmt: str, written: list[tuple[str, str]]) -> None:
    """Write each split's list file (whole, atomically) once all its images are in."""
    for split in dict.fromkeys(s for s, _ in written):
        lines = [f"{s}/{i}.jpg {s}/{i}.txt\n" for s, i in written if s == split]
        write_bytes(contained(out, f"{split}.list", option="--split", write=True), "".join(lines).encode())
