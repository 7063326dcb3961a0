"""C-3-Framework (Gao et al. 2019) layout, as its dataset classes (``datasets/SHHB/SHHB.py``) read it.

``OUT/<split>/img/<id>.jpg`` with ``OUT/<split>/den/<id>.csv``: the density map,
comma-separated, one image row per line, no header (they read it with
``pandas.read_csv(..., header=None)``). Values are written with 9 significant
digits, so each float32 reads back exactly and the map's sum is the store's.
Their training multiplies the map by ``LOG_PARA`` itself; the file holds the
plain map that sums to the count.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from pipeline.atomic import write_bytes
from pipeline.paths import contained


def write(item, out: Path, split: str, fmt: str) -> None:  # noqa: ANN001 - an exports.Item
    folder = contained(out, split, option="--split", write=True)
    (folder / "img").mkdir(parents=True, exist_ok=True)
    (folder / "den").mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savetxt(buf, np.asarray(item.density(), np.float32), fmt="%.9g", delimiter=",")
    item.save_jpeg(contained(folder, "img", f"{item.image_id}.jpg", write=True))
    write_bytes(contained(folder, "den", f"{item.image_id}.csv", write=True), buf.getvalue())


def finish(out: Path, fmt: str, written: list[tuple[str, str]]) -> None:
    """Nothing beyond the per-image files."""
