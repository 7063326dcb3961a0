"""Loading MATLAB ground-truth files with errors that name the file."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import scipy.io

from pipeline.errors import DataError


def ann_points_bytes(points: np.ndarray) -> bytes:
    """A .mat file with ``annPoints`` (N, 2) x, y: the ground truth of UCF_CC_50 and UCF-QNRF."""
    buf = io.BytesIO()
    scipy.io.savemat(buf, {"annPoints": np.asarray(points, np.float64).reshape(-1, 2)})
    return buf.getvalue()


def load_mat(path: Path, variable: str, hint: str) -> np.ndarray:
    """Return `variable` from the .mat file at `path`, or raise `DataError`.

    `hint` completes the missing-variable message, e.g. "is this a
    ShanghaiTech ground-truth file?".
    """
    try:
        mat = scipy.io.loadmat(path, variable_names=[variable])
    except NotImplementedError:
        raise DataError(path, "MATLAB v7.3 (HDF5) files are not supported; re-save with -v7") from None
    except Exception as exc:  # scipy raises many types for truncated/corrupt files
        raise DataError(path, f"corrupt or truncated .mat file ({type(exc).__name__}: {exc})") from None
    if variable not in mat:
        raise DataError(path, f"no {variable!r} variable ({hint})")
    return mat[variable]
