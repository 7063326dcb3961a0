"""headcount: crowd-counting ground truth, training and evaluation as one pipeline.

The public Python API, each name loaded on first use (``import pipeline`` stays light):

>>> import pipeline
>>> points = [(10.0, 12.0), (30.0, 20.0), (31.0, 24.0)]
>>> round(float(pipeline.density_map(points, (48, 64), border="renormalize").sum()), 6)
3.0

- `read_dataset(format, root, split)`: the samples (image path, head points) of a dataset split;
- `density_map`, `compute_density`, `DensityParams`: a density map from head points;
- `read_split(path)`: a density store (HDF5) as a mapping of image id to record;
- `DensityDataset`: a store as a torch Dataset, for your own training code;
- `count(image)`: count, head points and density of one photo or frame, with the shipped model by default;
- `score(truth, points, counts, source)`: MAE, MSE, NAE, GAME and localization F1, as the benchmarks score.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_API = {  # name -> the module that defines it
    "read_dataset": ("pipeline.readers", "read"),
    "density_map": ("pipeline.density", "density_map"),
    "compute_density": ("pipeline.density", "compute_density"),
    "DensityParams": ("pipeline.kernels", "DensityParams"),
    "read_split": ("pipeline.store", "read_split"),
    "DensityDataset": ("pipeline.exports.dataset", "DensityDataset"),
    "count": ("pipeline.infer.counter", "count"),
    "Counted": ("pipeline.infer.counter", "Counted"),
    "score": ("pipeline.score", "score"),
    "record_truth": ("pipeline.score", "record_truth"),
}
__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
    module, attribute = _API[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
