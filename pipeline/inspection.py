"""Per-image health report of a density store (``headcount inspect``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.store import read_split

MIN_SIGMA = 0.5  # below this a kernel is a single pixel: near-duplicate annotations
MAX_BORDER_LOSS = 0.10  # "drop" maps losing more than this at the border are flagged
SUM_TOLERANCE = 1e-3  # relative, for maps that should sum to their head count


@dataclass
class ImageReport:
    image_id: str
    count: int
    heads: int
    density_sum: float
    dropped: int
    sigma_min: float
    sigma_max: float
    problems: list[str] = field(default_factory=list)
    height: int = 0
    width: int = 0
    sigma: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32), repr=False)  # one per head


def inspect_store(path: str | Path) -> tuple[dict, list[ImageReport]]:
    """The store's attributes and one `ImageReport` per image, problems flagged."""
    store = read_split(path)
    renormalized = store.params.get("border") == "renormalize"
    reports = []
    for image_id in store:
        rec = store[image_id]
        dens = np.asarray(rec.density, dtype=np.float64)
        total = float(dens.sum()) if np.isfinite(dens).all() else float("nan")
        sig = rec.sigma
        rep = ImageReport(
            image_id,
            rec.count,
            len(sig),
            total,
            rec.dropped,
            float(sig.min()) if len(sig) else float("nan"),
            float(sig.max()) if len(sig) else float("nan"),
            height=rec.height,
            width=rec.width,
            sigma=sig,
        )
        if not np.isfinite(dens).all():
            rep.problems.append("non-finite values in density")
        elif dens.min() < 0:
            rep.problems.append("negative density values")
        if rec.count == 0:
            rep.problems.append("no heads")
        if rec.dropped:
            rep.problems.append(f"{rec.dropped} point(s) outside the image")
        if len(sig) and not np.isfinite(sig).all():
            rep.problems.append("non-finite sigma")
        elif len(sig) and (small := int((sig < MIN_SIGMA).sum())):
            rep.problems.append(f"{small} head(s) with sigma < {MIN_SIGMA} px (near-duplicate points?)")
        if np.isfinite(total) and len(sig):
            if renormalized and abs(total - len(sig)) > SUM_TOLERANCE * len(sig):
                rep.problems.append(f"sum {total:.3f} != {len(sig)} heads")
            elif not renormalized and (loss := 1 - total / len(sig)) > MAX_BORDER_LOSS:
                rep.problems.append(f"{100 * loss:.0f}% of the mass lost at the border")
        reports.append(rep)
    return store.attrs, reports
