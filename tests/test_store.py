import json

import h5py
import numpy as np
import pytest

from pipeline.atomic import atomic_path
from pipeline.build import build_split
from pipeline.density import density_map
from pipeline.errors import DataError
from pipeline.exports.csrnet import export_csrnet
from pipeline.kernels import DensityParams
from pipeline.readers import read
from pipeline.store import Record, encode_density, read_split, write_split


def _record(i, shape=(300, 520)):
    rng = np.random.default_rng(i)
    dens = rng.random(shape, dtype=np.float32)
    return Record(f"IMG_{i}", f"images/IMG_{i}.jpg", shape[0], shape[1], dens, rng.random((4, 2)), rng.random(4), 4, i)


def test_direct_chunk_encoding_reads_back_bit_exact(tmp_path):
    recs = [_record(1), _record(2, (17, 9))]
    encoded = [Record(**{**r.__dict__, "density": encode_density(r.density)}) for r in recs]
    write_split(tmp_path / "s.h5", encoded, dataset="d", split="train", source_root=tmp_path, params={})
    store = read_split(tmp_path / "s.h5")
    for r in recs:
        assert np.array_equal(store[r.image_id].density, r.density)


def test_store_round_trip_and_attributes(sha_root, tmp_path):
    params = DensityParams(beta=0.25, border="renormalize")
    out = tmp_path / "out" / "train.h5"
    assert build_split("shanghaitech", sha_root, "train", out, params=params, dataset="sha") == 3
    store = read_split(out)
    assert store.attrs["format"] == "headcount-density" and store.attrs["format_version"] == 1
    assert store.attrs["dataset"] == "sha" and store.attrs["split"] == "train"
    assert store.attrs["created_by"].startswith("headcount ")
    assert json.loads(store.attrs["params"])["beta"] == 0.25 and store.params["border"] == "renormalize"
    assert list(store) == ["IMG_1", "IMG_2", "IMG_10"]
    samples = {s.image_id: s for s in read("shanghaitech", sha_root, "train")}
    for image_id, rec in store.items():
        s = samples[image_id]
        assert rec.density.dtype == np.float32 and rec.density.shape == s.shape == (rec.height, rec.width)
        np.testing.assert_array_equal(rec.density, density_map(s.points, s.shape, beta=0.25, border="renormalize"))
        assert rec.points.dtype == np.float32 and rec.count == len(s.points) == len(rec.points)
        assert rec.sigma.dtype == np.float32 and len(rec.sigma) == rec.count
        assert rec.image == f"train_data/images/{image_id}.jpg"
        assert store.image_path(image_id) == (sha_root / rec.image).resolve()
    with h5py.File(out) as f:
        ds = f["images/IMG_1/density"]
        assert ds.compression == "gzip" and ds.chunks is not None


def test_parallel_workers_write_the_same_maps(sha_root, tmp_path):
    build_split("shanghaitech", sha_root, "train", tmp_path / "a.h5", workers=1)
    build_split("shanghaitech", sha_root, "train", tmp_path / "b.h5", workers=2)
    a, b = read_split(tmp_path / "a.h5"), read_split(tmp_path / "b.h5")
    assert list(a) == list(b)
    for k in a:
        assert np.array_equal(a[k].density, b[k].density)


def test_out_of_image_points_are_recorded_as_dropped(tmp_path):
    from conftest import write_sha

    write_sha(tmp_path, "test", {1: np.array([[1.0, 1.0], [70.0, 5.0], [-1.0, 3.0]])})
    build_split("shanghaitech", tmp_path, "test", tmp_path / "t.h5")
    rec = read_split(tmp_path / "t.h5")["IMG_1"]
    assert (rec.count, rec.dropped) == (1, 2)


def test_interrupted_write_leaves_no_file_and_no_temp(tmp_path):
    def records():
        yield _record(1)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_split(tmp_path / "s.h5", records(), dataset="d", split="x", source_root=tmp_path, params={})
    assert list(tmp_path.iterdir()) == []


def test_failed_rewrite_keeps_the_previous_file(tmp_path):
    write_split(tmp_path / "s.h5", [_record(1)], dataset="d", split="x", source_root=tmp_path, params={})
    with pytest.raises(DataError, match="density shape"):
        write_split(
            tmp_path / "s.h5",
            [_record(1), Record(**{**_record(2).__dict__, "height": 3})],
            dataset="d",
            split="x",
            source_root=tmp_path,
            params={},
        )
    assert list(read_split(tmp_path / "s.h5")) == ["IMG_1"]
    assert [p.name for p in tmp_path.iterdir()] == ["s.h5"]


def test_a_temp_file_left_by_a_killed_writer_is_cleaned_up(tmp_path):
    (tmp_path / ".s.h5.tmp-abc123").write_bytes(b"half")
    with atomic_path(tmp_path / "s.h5") as tmp:
        tmp.write_bytes(b"whole")
    assert [p.name for p in tmp_path.iterdir()] == ["s.h5"]


def test_reading_something_else_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_split(tmp_path / "missing.h5")
    (tmp_path / "junk.h5").write_bytes(b"junk")
    with pytest.raises(DataError, match="junk.h5: not a readable HDF5"):
        read_split(tmp_path / "junk.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = 1
    with pytest.raises(DataError, match="not a headcount density store"):
        read_split(tmp_path / "other.h5")


def test_csrnet_export_writes_one_file_per_image(tmp_path):
    recs = [_record(1), _record(2)]
    write_split(tmp_path / "s.h5", recs, dataset="d", split="x", source_root=tmp_path, params={})
    assert export_csrnet(tmp_path / "s.h5", tmp_path / "csrnet") == 2
    with h5py.File(tmp_path / "csrnet" / "IMG_2.h5") as f:
        assert np.array_equal(f["density"][...], recs[1].density)


def test_a_relative_dataset_root_makes_the_store_location_independent(tmp_path, monkeypatch):
    import hashlib
    import shutil

    from conftest import write_sha

    for clone in ("a", "b"):
        project = tmp_path / clone
        write_sha(project / "data" / "raw", "test", {1: np.array([[3.0, 4.0]])})
        monkeypatch.chdir(project)
        build_split("shanghaitech", "data/raw", "test", "data/density/x/test.h5")
    digests = {hashlib.md5((tmp_path / c / "data/density/x/test.h5").read_bytes()).hexdigest() for c in "ab"}
    assert len(digests) == 1  # byte for byte the same in two clones: dvc.lock does not churn
    store = read_split(tmp_path / "a" / "data/density/x/test.h5")
    assert store.attrs["source_root"] == "../../raw"
    shutil.move(tmp_path / "a", tmp_path / "moved")
    moved = read_split(tmp_path / "moved" / "data/density/x/test.h5")
    assert moved.image_path("IMG_1") == tmp_path / "moved" / "data/raw/test_data/images/IMG_1.jpg"


def test_a_heads_encoded_store_reads_back_the_very_same_maps_and_is_far_smaller(tmp_path):
    from conftest import write_sha

    from pipeline.build import build_split
    from pipeline.kernels import DensityParams

    rng = np.random.default_rng(0)
    items = {n: np.column_stack([rng.uniform(0, 320, 40 * n), rng.uniform(0, 240, 40 * n)]) for n in (1, 2, 3)}
    write_sha(tmp_path / "sha", "train", items, size=(320, 240))
    stores = {}
    for enc, border in (("map", "drop"), ("heads", "drop"), ("heads", "renormalize"), ("map", "renormalize")):
        params = DensityParams(encoding=enc, border=border)
        out = tmp_path / f"{enc}-{border}.h5"
        build_split("shanghaitech", tmp_path / "sha", "train", out, params=params, progress=False)
        stores[enc, border] = read_split(out)
    for border in ("drop", "renormalize"):
        maps, heads = stores["map", border], stores["heads", border]
        assert heads.attrs["format_version"] == 2 and maps.attrs["format_version"] == 1
        for image_id in maps:
            a, b = maps[image_id], heads[image_id]
            assert np.array_equal(a.density, b.density)  # bit for bit
            assert np.array_equal(a.sigma, b.sigma) and np.array_equal(a.points, b.points) and a.count == b.count
    assert stores["heads", "drop"].path.stat().st_size * 20 < stores["map", "drop"].path.stat().st_size
    export_csrnet(stores["heads", "drop"].path, tmp_path / "csrnet")
    with h5py.File(tmp_path / "csrnet" / "IMG_2.h5") as f:
        assert np.array_equal(f["density"][...], stores["map", "drop"]["IMG_2"].density)
