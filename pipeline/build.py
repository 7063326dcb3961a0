"""Density stores for whole splits: a process pool computes, one writer writes."""

from __future__ import annotations

import ctypes
import math
import os
import signal
import sys
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, replace
from functools import partial
from pathlib import Path

from tqdm import tqdm

from pipeline.density import compute_density
from pipeline.errors import ConfigError, DataError
from pipeline.kernels import DensityParams
from pipeline.params import DatasetConfig
from pipeline.readers import FORMATS, read
from pipeline.sample import Sample
from pipeline.store import HeadKernels, Record, encode_density, write_split

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def resized(sample: Sample, max_side: int | None) -> Sample:
    """`sample` in the frame of its image shrunk to `max_side` (long side): points and head sizes scaled.

    Each axis scales by new/old size exactly, so a point inside stays inside and no
    head is lost: the count is unchanged. The map is then rendered at that size,
    never resampled from a full-size one.
    """
    h, w = sample.shape
    if not max_side or max(h, w) <= max_side:
        return sample
    s = max_side / max(h, w)
    h2, w2 = max(1, round(h * s)), max(1, round(w * s))
    sx, sy = w2 / w, h2 / h
    sizes = None if sample.sizes is None else sample.sizes * math.sqrt(sx * sy)
    return replace(sample, points=sample.points * [sx, sy], height=h2, width=w2, sizes=sizes)


def make_record(sample: Sample, params: DensityParams, source_root: Path) -> Record:
    """Density, sigmas and bookkeeping for one sample, compressed for the store."""
    sample = resized(sample, params.max_side)
    d = compute_density(sample.points, sample.shape, params, sample.sizes)
    try:
        rel = sample.image_path.resolve().relative_to(source_root.resolve())
    except ValueError:
        rel = sample.image_path.resolve()
    return Record(
        image_id=sample.image_id,
        image=str(rel),
        height=sample.height,
        width=sample.width,
        density=HeadKernels(d.heads, d.kernel_sigma, params.border == "renormalize")
        if params.encoding == "heads"
        else encode_density(d.density),
        points=d.points,
        sigma=d.sigma,
        count=len(d.points),
        dropped=d.dropped,
    )


def _die_with_parent(parent: int) -> None:
    """Pool worker set-up: a killed parent takes its workers along; SIGTERM ends them; Ctrl-C is the parent's."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)


def _records(samples: list[Sample], params: DensityParams, root: Path, workers: int) -> Iterator[Record]:
    fn = partial(make_record, params=params, source_root=root)
    if workers <= 1:
        yield from map(fn, samples)
        return
    with ProcessPoolExecutor(workers, initializer=_die_with_parent, initargs=(os.getpid(),)) as pool:
        # one image per task: with chunks, workers end unevenly loaded and a chunk's maps (tens of MB
        # each for large images) travel in one message
        yield from pool.map(fn, samples, chunksize=1)


def build_split(
    format: str,
    root: str | Path,
    split: str,
    out: str | Path,
    *,
    params: DensityParams = DensityParams(),
    workers: int = 1,
    dataset: str | None = None,
    reader_options: dict | None = None,
    progress: bool | None = None,
) -> int:
    """Read one split, make every density map, write the store atomically.

    Returns the number of images. `progress=None` shows a bar only on a terminal.
    """
    root = Path(root)
    samples = list(read(format, root, split, **(reader_options or {})))
    unlabelled = next((s for s in samples if not s.labelled), None)
    if unlabelled is not None:
        raise DataError(
            unlabelled.image_path, "no public labels (a test split): it can be counted, not made a density map"
        )
    if params.method == "box":
        no_sizes = next((s for s in samples if s.sizes is None), None)
        if no_sizes is not None:
            raise DataError(no_sizes.image_path, f"method 'box' needs head sizes; {format} annotations have none")
    ids = [s.image_id for s in samples]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise DataError(root, f"two images share the id {dup!r} (same file stem)")
    workers = min(max(int(workers), 1), os.cpu_count() or 1, len(samples))
    records: Iterable[Record] = _records(samples, params, root, workers)
    records = tqdm(
        records,
        total=len(samples),
        desc=f"density {split}",
        unit="img",
        disable=None if progress is None else not progress,
    )
    return write_split(
        out,
        records,
        dataset=dataset or root.name,
        split=split,
        source_root=source_root_attr(root, Path(out)),
        params=asdict(params),
    )


def build_dataset(
    name: str, ds: DatasetConfig, out_dir: str | Path, *, params: DensityParams = DensityParams(), workers: int = 1
) -> dict[str, int]:
    """Every split of one ``datasets:`` entry into ``out_dir/<split>.h5``; images per split.

    The entry is checked before anything is read, and a refusal names its key.
    """
    if ds.format not in FORMATS:
        known = ", ".join(sorted(FORMATS))
        raise ConfigError("params.yaml", f"datasets.{name}.format: unknown format {ds.format!r} (known: {known})")
    out_dir = Path(out_dir)
    return {
        split: build_split(
            ds.format,
            ds.root,
            split,
            out_dir / f"{split}.h5",
            params=params,
            workers=workers,
            dataset=name,
            reader_options=ds.options,
        )
        for split in ds.splits
    }


def source_root_attr(root: Path, out: Path) -> str:
    """How the store records its dataset root: relative to the store's folder when the root was given
    relative (a project's own data: the store then reads the same in any clone, byte for byte), else absolute.
    """
    if root.is_absolute():
        return str(root)
    return os.path.relpath(root.resolve(), out.resolve().parent)
