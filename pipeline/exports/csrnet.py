"""A density store as CSRNet-pytorch's ground truth: one ``<image_id>.h5`` with key ``density`` per image.

The layout the original CSRNet code (and its many forks) loads; an existing file
there that is not such a map is refused, never replaced.
"""

from __future__ import annotations

from pathlib import Path

import h5py

from pipeline.atomic import atomic_path
from pipeline.outputs import refuse_foreign
from pipeline.paths import contained
from pipeline.store import read_split


def _is_csrnet_map(path: Path) -> bool:
    try:
        with h5py.File(path, "r") as f:
            return list(f.keys()) == ["density"]
    except (OSError, ValueError):
        return False


def export_csrnet(path: str | Path, out_dir: str | Path) -> int:
    """Write one ``<image_id>.h5`` with key ``density`` per image (CSRNet-pytorch layout)."""
    store = read_split(path)
    out_dir = Path(out_dir)
    targets = {image_id: contained(out_dir, f"{image_id}.h5", named_in=path, write=True) for image_id in store}
    for target in targets.values():
        refuse_foreign(target, _is_csrnet_map, "a CSRNet-pytorch density file")
    for image_id, target in targets.items():
        with atomic_path(target) as tmp, h5py.File(tmp, "w") as f:
            f.create_dataset("density", data=store[image_id].density, compression="gzip")
    return len(store)
