"""The real ShanghaiTech Part B (../shared/datasets, never committed): read, mapped, reported, inspected.

Marked `real`; skipped with a message where the data is absent. What real files have that the synthetic
ones do not: `number` stored as uint8 up to 255 heads and uint16 above, and files with exact duplicate
points (the classic recipe merges them into one head).
"""

from __future__ import annotations

import collections

import numpy as np
import pytest
import scipy.io
from conftest import real_dataset

from pipeline.build import build_split
from pipeline.inspection import inspect_store
from pipeline.kernels import DensityParams
from pipeline.readers import read
from pipeline.report import write_report
from pipeline.store import read_split

pytestmark = pytest.mark.real
SPLITS = {"train": 400, "test": 316}


@pytest.fixture(scope="module")
def part_b():
    return real_dataset("ShanghaiTech", "part_B")


def _number(root, split, image_id):
    mat = scipy.io.loadmat(root / f"{split}_data" / "ground-truth" / f"GT_{image_id}.mat")
    return mat["image_info"][0, 0][0, 0]["number"]


@pytest.mark.parametrize("split", sorted(SPLITS))
def test_every_file_reads_with_the_count_its_number_field_says(part_b, split):
    samples = list(read("shanghaitech", part_b, split))
    assert len(samples) == SPLITS[split]
    dtypes = collections.Counter()
    for s in samples:
        number = _number(part_b, split, s.image_id)
        dtypes[number.dtype.name] += 1
        assert int(number.ravel()[0]) == len(s.points), s.image_id
        assert s.shape == (768, 1024)  # Part B: one size, RGB
    assert set(dtypes) == {"uint8", "uint16"}  # both encodings of `number` occur, and both read
    duplicated = [s for s in samples if len(np.unique(s.points, axis=0)) < len(s.points)]
    assert len(duplicated) == 14  # files with exact duplicate points: kept as annotated by the reader


@pytest.fixture(scope="module")
def test_store(part_b, tmp_path_factory):
    out = tmp_path_factory.mktemp("real") / "test.h5"
    build_split("shanghaitech", part_b, "test", out, params=DensityParams(encoding="heads"), workers=2, progress=False)
    return out


@pytest.mark.slow
def test_the_test_split_maps_count_every_head_and_merge_only_exact_duplicates(part_b, test_store):
    store = read_split(test_store)
    counts = [store[i].count for i in store]
    assert len(counts) == 316 and sum(counts) == 39121 and (min(counts), max(counts)) == (9, 539)
    samples = {s.image_id: s for s in read("shanghaitech", part_b, "test")}
    for image_id in store:
        rec, s = store[image_id], samples[image_id]
        heads = len(np.unique(np.floor(s.points).astype(int), axis=0))  # points on one pixel are one head
        assert len(rec.sigma) == heads and rec.count == len(s.points)
        # border "drop": the map holds its heads' mass, less what falls outside the image
        assert 0.75 * heads < float(np.asarray(rec.density, np.float64).sum()) <= heads + 1e-3


@pytest.mark.slow
def test_inspect_and_the_report_of_the_test_split_find_only_border_loss(test_store, tmp_path):
    _, reports = inspect_store(test_store)
    kinds = collections.Counter(p.split("%")[-1].strip() for r in reports for p in r.problems)
    assert set(kinds) <= {"of the mass lost at the border"}, kinds  # the classic recipe's "drop" border
    page = write_report(test_store, tmp_path / "report")
    html = page.read_text()
    assert "316" in html and "39121" in html.replace(",", "")


@pytest.mark.slow
def test_three_epochs_on_part_b_at_128_px_beat_the_mean_count(part_b, tmp_path):
    """A short real training learns: maps and images at a 128 px long side (density.max_side keeps every
    head), width 0.125 without BatchNorm, 3 epochs, judged on the validation images held out of train_data
    (test_data is for final figures). Deterministic, so the figure is fixed: validation MAE 40.22 against
    the mean-count baseline's 66.92 on those images (2 epochs at lr 3e-3: 69.27, not yet learnt)."""
    from pipeline.model import ModelConfig
    from pipeline.train import TrainConfig, split_ids, train

    store = tmp_path / "train.h5"
    params = DensityParams(max_side=128, encoding="heads")
    build_split("shanghaitech", part_b, "train", store, params=params, workers=2, progress=False)
    cfg = TrainConfig(
        epochs=3, batch_size=8, lr=1e-3, crop_height=96, crop_width=128, val_fraction=0.1, weight_decay=0.0
    )
    summary = train(store, tmp_path / "m", cfg, ModelConfig(width=0.125), progress=False)
    records = read_split(store)
    counts = {i: records[i].count for i in records}
    fit, held_out = split_ids(list(counts), cfg.val_fraction, cfg.seed)  # the split train() validates on
    mean = np.mean([counts[i] for i in fit])
    baseline = float(np.mean([abs(mean - counts[i]) for i in held_out]))
    assert summary["val_images"] == len(held_out) == 40
    assert summary["best_val_mae"] < 0.7 * baseline, (summary, baseline)
