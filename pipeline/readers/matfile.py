"""MATLAB ground-truth files: loading them with errors that name the file, and ShanghaiTech's bytes."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import scipy.io

from pipeline.errors import DataError

MAT_HEADER = b"MATLAB 5.0 MAT-file, written by headcount synth"  # fixed text: same points, same bytes


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


def gt_mat_bytes(points: np.ndarray) -> bytes:
    """A ``GT_IMG_<n>.mat`` with the official nesting: ``image_info{1}.location``/``.number``.

    The header's creation time is replaced by a fixed text so the same seed
    gives the same bytes.
    """
    struct = np.empty((1, 1), dtype=[("location", "O"), ("number", "O")])
    struct[0, 0]["location"] = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    struct[0, 0]["number"] = np.array([[float(len(points))]])
    cell = np.empty((1, 1), dtype=object)
    cell[0, 0] = struct
    buf = io.BytesIO()
    scipy.io.savemat(buf, {"image_info": cell})
    data = bytearray(buf.getvalue())
    data[:116] = MAT_HEADER.ljust(116, b" ")
    return bytes(data)
