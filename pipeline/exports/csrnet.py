"""A density store as CSRNet-pytorch's ground truth: one ``<image_id>.h5`` with key ``density`` per image.

The layout the original CSRNet code (and its many forks) loads. The folder follows the one output
policy (`pipeline.outputs.claim_folder`): empty, or holding earlier CSRNet exports (its manifest), each
store's files keyed by the store's name, so a re-export of ``train.h5`` replaces exactly its own files
and ``test.h5`` may go beside it.
"""

from __future__ import annotations

from pathlib import Path

import h5py

from pipeline.atomic import atomic_path
from pipeline.outputs import claim_folder
from pipeline.paths import contained
from pipeline.store import read_split


def export_csrnet(path: str | Path, out_dir: str | Path) -> int:
    """Write one ``<image_id>.h5`` with key ``density`` per image (CSRNet-pytorch layout)."""
    store = read_split(path)
    out_dir = Path(out_dir)
    targets = {image_id: contained(out_dir, f"{image_id}.h5", named_in=path, write=True) for image_id in store}
    with claim_folder(out_dir, "csrnet", Path(path).stem).writing():
        for image_id, target in targets.items():
            with atomic_path(target) as tmp, h5py.File(tmp, "w") as f:
                f.create_dataset("density", data=store[image_id].density, compression="gzip")
    return len(store)
