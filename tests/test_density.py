import numpy as np
import pytest
import scipy.ndimage
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.bench.reference import classic_density
from pipeline.density import compute_density, density_map, gaussian_weights
from pipeline.errors import ConfigError, DataError
from pipeline.kernels import DensityParams


def random_points(seed, n, shape):
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.uniform(0, shape[1], n), rng.uniform(0, shape[0], n)])


@pytest.mark.parametrize(
    ("shape", "n", "seed"),
    [((48, 64), 12, 0), ((37, 91), 40, 1), ((120, 90), 150, 2), ((16, 16), 5, 3), ((200, 30), 25, 4)],
)
def test_adaptive_map_matches_classic_recipe(shape, n, seed):
    pts = random_points(seed, n, shape)
    ours = density_map(pts, shape)
    ref = classic_density(pts, shape)
    assert ours.dtype == np.float32 and ours.shape == shape
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6)


@st.composite
def crowd(draw):
    h = draw(st.integers(8, 40))
    w = draw(st.integers(8, 40))
    pixel = st.tuples(st.integers(0, w - 1), st.integers(0, h - 1))
    cells = draw(st.lists(pixel, min_size=4, max_size=30, unique=True))
    offset = st.tuples(st.floats(0, 0.999), st.floats(0, 0.999))
    offsets = draw(st.lists(offset, min_size=len(cells), max_size=len(cells)))
    pts = np.array([[c + dx, r + dy] for (c, r), (dx, dy) in zip(cells, offsets, strict=True)])
    return pts, (h, w)


@settings(max_examples=60, deadline=None)
@given(crowd())
def test_parity_holds_for_any_point_set_with_more_than_k_heads(case):
    pts, shape = case
    np.testing.assert_allclose(density_map(pts, shape), classic_density(pts, shape), rtol=0, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(crowd(), st.sampled_from(["adaptive", "fixed"]))
def test_renormalized_map_sums_to_head_count(case, method):
    pts, shape = case
    d = density_map(pts, shape, method=method, sigma=6.0, border="renormalize")
    assert float(d.sum(dtype=np.float64)) == pytest.approx(len(pts), rel=1e-5)


def test_drop_loses_mass_at_the_border_but_renormalize_keeps_it():
    pts = np.array([[0.5, 0.5], [63.5, 47.5], [0.2, 47.9]])
    dropped = density_map(pts, (48, 64), method="fixed", sigma=4.0)
    kept = density_map(pts, (48, 64), method="fixed", sigma=4.0, border="renormalize")
    corner = gaussian_weights(4.0)[16:].sum() ** 2  # each head sits on a corner pixel: a quarter and a bit
    assert dropped.sum() == pytest.approx(3 * corner, rel=1e-6)
    assert kept.sum() == pytest.approx(3.0, rel=1e-6)


def test_gaussian_weights_are_scipys_impulse_response():
    for sigma in (0.3, 1.0, 2.7, 9.5):
        w = gaussian_weights(sigma)
        r = int(4 * sigma + 0.5)
        impulse = np.zeros(2 * r + 11)
        impulse[r + 5] = 1
        ref = scipy.ndimage.gaussian_filter1d(impulse, sigma, mode="constant")[5 : 5 + 2 * r + 1]
        np.testing.assert_allclose(w, ref, atol=1e-15)


def test_kernel_touches_only_its_window():
    d = density_map([[50.5, 40.5]], (100, 120), method="fixed", sigma=2.0)  # radius 8
    rows, cols = np.nonzero(d)
    assert rows.min() == 40 - 8 and rows.max() == 40 + 8 and cols.min() == 50 - 8 and cols.max() == 50 + 8


def test_merge_collapses_points_on_one_pixel_and_keep_counts_each():
    pts = [[10.2, 10.7], [10.9, 10.1], [30.5, 20.5], [5.5, 25.5], [40.5, 5.5]]
    merged = compute_density(pts, (32, 48), DensityParams(border="renormalize"))
    kept = compute_density(pts, (32, 48), DensityParams(border="renormalize", duplicates="keep"))
    assert len(merged.heads) == 4 and merged.density.sum() == pytest.approx(4, rel=1e-5)
    assert len(kept.heads) == 5 and kept.density.sum() == pytest.approx(5, rel=1e-5)
    assert np.isfinite(kept.sigma).all()


@pytest.mark.parametrize("n", [0, 1, 2, 3])
def test_few_heads_give_finite_sigmas(n):
    pts = [[5.5, 5.5], [20.5, 5.5], [5.5, 25.5]][:n]
    d = compute_density(pts, (40, 30))
    assert np.isfinite(d.density).all() and np.isfinite(d.sigma).all()
    assert len(d.sigma) == n
    if n == 1:
        assert d.sigma[0] == pytest.approx((40 + 30) / 2 / 4)
    if n == 2:
        assert d.sigma.tolist() == pytest.approx([0.3 * 15, 0.3 * 15])
    if n == 3:  # each head averages its two neighbours
        assert d.sigma[0] == pytest.approx(0.3 * (15 + 20) / 2)
    if n == 0:
        assert not d.density.any()


def test_points_outside_the_image_are_dropped_and_counted_not_wrapped():
    pts = [[-0.5, 3.0], [10.0, -2.0], [64.0, 5.0], [5.0, 48.0], [3.5, 4.5], [-30.0, -30.0]]
    d = compute_density(pts, (48, 64), DensityParams(border="renormalize"))
    assert d.dropped == 5 and len(d.points) == 1
    assert d.density.sum() == pytest.approx(1.0, rel=1e-6)
    assert d.density[4, 3] == d.density.max()
    assert d.density[47, 63] < d.density.max() * 1e-3  # nothing wrapped to the far corner


def test_point_on_the_last_pixel_edge_is_inside_and_on_the_edge_is_outside():
    assert compute_density([[63.999, 47.999]], (48, 64)).dropped == 0
    assert compute_density([[64.0, 47.0]], (48, 64)).dropped == 1


def test_non_finite_points_are_an_error():
    with pytest.raises(DataError, match="non-finite"):
        density_map([[1.0, np.nan], [2.0, 3.0]], (10, 10))
    with pytest.raises(DataError, match="non-finite"):
        density_map([[np.inf, 1.0]], (10, 10))


def test_bad_parameters_are_rejected():
    with pytest.raises(ConfigError, match="method"):
        density_map([], (10, 10), method="gauss")
    with pytest.raises(ConfigError, match="border"):
        density_map([], (10, 10), border="clip")
    with pytest.raises(DataError, match="no density map"):
        density_map([], (0, 10))
    with pytest.raises(DataError, match=r"\(N, 2\)"):
        density_map(np.zeros((2, 3)), (10, 10))


def test_fixed_kernel_uses_the_given_sigma():
    d = compute_density(random_points(0, 10, (50, 50)), (50, 50), DensityParams(method="fixed", sigma=3.5))
    assert np.all(d.sigma == np.float32(3.5))
    one = density_map([[25.5, 25.5]], (50, 50), method="fixed", sigma=3.5)
    impulse = np.zeros((50, 50), np.float32)
    impulse[25, 25] = 1
    np.testing.assert_allclose(one, scipy.ndimage.gaussian_filter(impulse, 3.5, mode="constant"), atol=1e-7)


def test_density_benchmark_reports_parity_on_a_small_image():
    from pipeline.bench.density import bench_density_map

    r = bench_density_map(shape=(64, 96), heads=40, repeats=2)
    assert r["heads"] == 40 and r["max_abs_diff"] <= 1e-6 and r["ratio"] > 1


def test_box_kernels_take_sigma_from_the_annotated_head_size():
    from pipeline.density import compute_density

    pts = np.array([[10.5, 10.5], [40.5, 20.5], [70.5, 30.5], [70.7, 30.2]])  # the last two share a pixel
    sizes = np.array([10.0, 0.0, 6.0, 8.0])  # 0: no box for that head
    d = compute_density(pts, (48, 96), DensityParams(method="box", box_scale=0.5), sizes=sizes)
    adaptive = compute_density(pts[:3], (48, 96)).sigma
    assert d.sigma.tolist() == pytest.approx([5.0, adaptive[1], 0.5 * 7.0])  # merged head: mean size
    kept = compute_density(
        pts, (48, 96), DensityParams(method="box", duplicates="keep", border="renormalize"), sizes=sizes
    )
    assert kept.sigma.tolist() == pytest.approx([3.0, kept.sigma[1], 1.8, 2.4])  # default box_scale 0.3
    assert float(kept.density.sum(dtype=np.float64)) == pytest.approx(4.0, rel=1e-5)
    with pytest.raises(DataError, match="needs head sizes"):
        compute_density(pts, (48, 96), DensityParams(method="box"))


def test_box_method_runs_on_a_dataset_with_head_boxes_and_refuses_one_without(tmp_path, sha_root):
    from conftest import write_image

    from pipeline.build import build_split
    from pipeline.kernels import DensityParams
    from pipeline.store import read_split

    write_image(tmp_path / "jhu" / "train" / "images" / "0001.jpg", 64, 48)
    (tmp_path / "jhu" / "train" / "gt").mkdir()
    (tmp_path / "jhu" / "train" / "gt" / "0001.txt").write_text("10 20 4 9 1 0\n30 30 8 8 1 0\n")
    box = DensityParams(method="box", box_scale=0.5)
    build_split("jhu", tmp_path / "jhu", "train", tmp_path / "j.h5", params=box, progress=False)
    assert read_split(tmp_path / "j.h5")["0001"].sigma.tolist() == [3.0, 4.0]
    with pytest.raises(DataError, match="method 'box' needs head sizes; shanghaitech"):
        build_split("shanghaitech", sha_root, "train", tmp_path / "s.h5", params=box, progress=False)


def test_max_side_makes_maps_of_large_images_smaller_and_keeps_every_head(tmp_path):
    from conftest import write_sha

    from pipeline.build import build_split
    from pipeline.kernels import DensityParams
    from pipeline.store import read_split
    from pipeline.training_data import TrainingCrops

    pts = np.array([[0.2, 0.3], [199.9, 99.9], [100.0, 50.0], [150.5, 20.5]])
    write_sha(tmp_path / "sha", "train", {1: pts}, size=(200, 100))
    params = DensityParams(max_side=64, border="renormalize")
    build_split("shanghaitech", tmp_path / "sha", "train", tmp_path / "s.h5", params=params, progress=False)
    store = read_split(tmp_path / "s.h5")
    rec = store["IMG_1"]
    assert (rec.height, rec.width) == (32, 64) and rec.density.shape == (32, 64)
    assert rec.count == 4 and rec.dropped == 0  # the corner heads stay inside
    assert np.allclose(rec.points, pts * [64 / 200, 32 / 100], atol=1e-4)
    assert float(rec.density.sum(dtype=np.float64)) == pytest.approx(4.0, rel=1e-5)
    assert store.image("IMG_1").shape == (32, 64, 3)  # the image in the map's frame
    sample = TrainingCrops(tmp_path / "s.h5")[0]
    assert sample["image"].shape == (32, 64, 3) and sample["target"].shape == (1, 4, 8)


def test_a_preview_is_the_full_map_scaled_down_with_the_same_count():
    from annotate.preview import preview_map

    rng = np.random.default_rng(3)
    pts = np.column_stack([rng.uniform(0, 600, 300), rng.uniform(0, 400, 300)])
    params = DensityParams(border="renormalize")
    full = compute_density(pts, (400, 600), params).density
    assert np.array_equal(preview_map(pts, (400, 600), 600, params), full)  # at full size it is the map itself
    small = preview_map(pts, (400, 600), 150, params)
    assert small.shape == (100, 150) and small.sum() == pytest.approx(300, rel=1e-5)
    # the same picture, pooled: each 4x4 block of the full map against the preview's pixel
    pooled = full.reshape(100, 4, 150, 4).sum(axis=(1, 3))
    assert np.corrcoef(pooled.ravel(), small.ravel())[0, 1] > 0.95
    assert preview_map(pts, (400, 600), 150, DensityParams()).sum() < 300  # "drop" loses border mass as usual
