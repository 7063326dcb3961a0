"""`headcount score`: NWPU's counting and localization metrics for anyone's predictions."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.errors import DataError
from pipeline.score import Truth, match_count, score
from pipeline.scoring.files import read_nwpu_gt, read_nwpu_pred


def test_the_matching_is_maximum_where_a_greedy_one_is_not():
    """Prediction A is near both heads, B only near the first: greedy A->first leaves B out; maximum pairs both."""
    gt = np.array([[0.0, 0.0], [10.0, 0.0]])
    pred = np.array([[5.0, 0.0], [-3.0, 0.0]])  # A first, nearest to head 0 on a tie broken by order
    assert match_count(pred, gt, np.array([6.0, 6.0])).tolist() == [True, True]
    assert match_count(pred, gt, np.array([2.0, 6.0])).tolist() == [False, True]  # per-head radius
    assert match_count(np.zeros((0, 2)), gt, np.array([6.0, 6.0])).tolist() == [False, False]


def _write(path, lines, crlf=True):
    path.write_bytes(("\r\n" if crlf else "\n").join(lines).encode() + b"\r\n")
    return path


def test_nwpu_files_give_the_official_counts_precision_recall_per_level_and_nae(tmp_path):
    # image 1: 3 heads (levels 0, 1, 2), radii s=2 / l=5; image 2: no heads; image 3: 2 heads, no predictions
    gt = _write(
        tmp_path / "gt.txt",
        [
            "1 3 10 10 2 5 0 30 30 2 5 1 50 50 2 5 2",
            "2 0",
            "3 2 5 5 1 4 3 20 20 1 4 5",
        ],
    )
    # image 1: one exact hit, one 3 px away (sigma_l only), one far miss; image 2: two false positives
    pred = _write(tmp_path / "pred.txt", ["1 3 10 10 33 30 90 90", "2 2 1 1 2 2", "3 0"], crlf=False)
    truth, points = read_nwpu_gt(gt), read_nwpu_pred(pred)
    assert truth["1"].level.tolist() == [0, 1, 2] and truth["2"].count == 0
    r = score(truth, points, {k: float(len(v)) for k, v in points.items()}, pred)
    s, large = r["localization"]["sigma_s"], r["localization"]["sigma_l"]
    assert (s["tp"], s["fp"], s["fn"]) == (1, 4, 4) and (large["tp"], large["fp"], large["fn"]) == (2, 3, 3)
    assert s["precision"] == pytest.approx(1 / 5) and s["recall"] == pytest.approx(1 / 5)
    assert large["f1"] == pytest.approx(2 * 0.4 * 0.4 / 0.8)
    assert large["recall_by_level"] == pytest.approx([1, 1, 0, 0, 0, 0], abs=1e-12)  # levels 3 and 5: missed
    assert s["recall_by_level"] == pytest.approx([1, 0, 0, 0, 0, 0], abs=1e-12)
    # counts: errors 0, 2, 2 -> MAE 4/3, MSE sqrt(8/3); NAE over images with heads: (0/3 + 2/2) / 2
    assert r["mae"] == pytest.approx(4 / 3) and r["mse"] == pytest.approx(np.sqrt(8 / 3)) == r["rmse"]
    assert r["nae"] == pytest.approx(0.5)
    zero, low = r["bins"]["0-10"], r["bins"]["10-100"]
    assert list(r["bins"]) == ["0-10", "10-100", "100-500", "500-1000", "1000-inf"]
    assert zero["n_images"] == 3 and zero["nae"] == pytest.approx(0.5)
    assert low["n_images"] == 0 and low["mae"] is None


def test_score_of_a_store_against_its_own_points_is_perfect_at_4_and_8_px(tiny_stores, tmp_path):
    from pipeline.store import read_split

    store = read_split(tiny_stores["test"])
    rows = ["image_id,x,y"] + [
        f"{i},{x},{y}" for i in store for x, y in np.asarray(store[i].points).reshape(-1, 2).tolist()
    ]
    (tmp_path / "p.csv").write_text("\n".join(rows) + "\n")
    r = CliRunner().invoke(cli, ["score", str(tmp_path / "p.csv"), "--gt", str(tiny_stores["test"]), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["mae"] == 0 and doc["n_images"] == len(store)
    assert doc["localization"]["r4"]["f1"] == pytest.approx(1) and doc["localization"]["r8"]["f1"] == pytest.approx(1)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["1 3 1 1 2 2"], r"pred.txt: line 1: says 3.0 points but holds 2"),
        (["1 1 nan 2"], r"pred.txt: line 1: a value is not finite"),
        (["1 1 x 2"], r"pred.txt: line 1: expected numbers"),
        (["1 1 1 1", "1 0"], r"pred.txt: line 2: image 1 appears twice"),
        (["1 1 1e300 1e300"], r"pred.txt: line 1: a value beyond 1e\+06"),  # its distances would overflow
    ],
)
def test_a_bad_prediction_file_names_the_file_and_line(tmp_path, lines, message):
    with pytest.raises(DataError, match=message):
        read_nwpu_pred(_write(tmp_path / "pred.txt", lines))


def test_an_image_without_a_prediction_is_an_error_naming_it(tmp_path):
    truth = {"1": Truth(1, np.zeros((1, 2))), "2": Truth(0, np.zeros((0, 2)))}
    with pytest.raises(DataError, match=r"p.txt: no prediction for image 2"):
        score(truth, None, {"1": 1.0}, tmp_path / "p.txt")


def test_the_matching_size_equals_an_assignment_solvers_on_random_crowds():
    """An independent maximum matching (scipy's Hungarian solver on allowed pairs) finds the same TP."""
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial import distance_matrix

    rng = np.random.default_rng(3)
    for _ in range(20):
        gt, pred = rng.uniform(0, 60, (int(rng.integers(1, 40)), 2)), rng.uniform(0, 60, (int(rng.integers(1, 40)), 2))
        radius = rng.uniform(2, 9, len(gt))
        allowed = distance_matrix(pred, gt) <= radius[None, :]
        rows, cols = linear_sum_assignment(-allowed.astype(float))
        assert match_count(pred, gt, radius).sum() == allowed[rows, cols].sum()


def test_density_peaks_places_as_many_points_as_the_map_counts_at_its_highest_local_maxima():
    from pipeline.decoder import density_heads

    def density_peaks(d):
        return density_heads(d).points

    d = np.zeros((6, 8), np.float32)
    d[1, 1], d[1, 2] = 0.8, 0.3  # one peak and its shoulder: a shoulder is not a head
    d[4, 6], d[5, 0] = 0.6, 0.4
    assert density_peaks(d).tolist() == [[12.0, 12.0], [52.0, 36.0]]  # sum 2.1: the two highest maxima
    assert density_peaks(d * 2).tolist() == [[12.0, 12.0], [52.0, 36.0], [4.0, 44.0]]  # 4.2: all three there are
    assert density_peaks(np.zeros((3, 3))).shape == (0, 2) and density_peaks(-np.ones((3, 3))).shape == (0, 2)


def test_a_bad_csv_row_is_named_by_its_line_in_the_file_blank_lines_included(tmp_path):
    from pipeline.scoring.files import read_csv_pred

    (tmp_path / "p.csv").write_text("image_id,count\n\n1,3\nIMG_2,many\n")
    with pytest.raises(DataError, match=r"p.csv: line 4: expected numbers"):
        read_csv_pred(tmp_path / "p.csv")


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("image_id,count\n1,1e200\n", r"line 2: a count must be in 0..1e\+07, got 1e\+200"),  # MSE: Infinity
        ("image_id,count\n1,-3\n", r"line 2: a count must be in 0..1e\+07, got -3"),
        ("image_id,x,y\n1,1e300,1e300\n", r"line 2: a coordinate beyond 1e\+06 px"),
    ],
)
def test_a_count_or_point_no_image_can_hold_is_refused_as_it_is_read(tmp_path, rows, message):
    from pipeline.scoring.files import read_csv_pred

    (tmp_path / "p.csv").write_text(rows)
    with pytest.raises(DataError, match="p.csv: " + message):
        read_csv_pred(tmp_path / "p.csv")


def test_recall_by_level_follows_nwpus_matching_order_among_maximum_matchings(tmp_path):
    """Heads h0 (20, 0), h1 (30, 0), h2 (10, 0); p0 (15, 0) reaches h0 and h2, p1 (25, 0) reaches h0 and h1.
    {p0-h2, p1-h0} and {p0-h0, p1-h1} are both maximum. NWPU's search gives p0 its first head h0, then
    p1 displaces p0 onto h2: heads of levels 0 and 2 are recalled (Hopcroft-Karp gives levels 0 and 1)."""
    gt = _write(tmp_path / "gt.txt", ["7 3 20 0 1 6 0 30 0 1 6 1 10 0 1 6 2"])
    pred = _write(tmp_path / "pred.txt", ["7 2 15 0 25 0"])
    r = score(read_nwpu_gt(gt), read_nwpu_pred(pred), {"7": 2.0}, pred)
    assert r["localization"]["sigma_l"]["tp"] == 2
    assert r["localization"]["sigma_l"]["recall_by_level"][:3] == pytest.approx([1.0, 0.0, 1.0])


def test_a_5000_long_augmenting_path_needs_no_recursion():
    """p_k reaches h_k and h_k+1; the last prediction reaches only h_0, so it displaces every earlier one."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import maximum_bipartite_matching

    from pipeline.score import kuhn_matching

    n = 5000
    rows = [k for k in range(n - 1) for _ in range(2)] + [n - 1]
    cols = [c for k in range(n - 1) for c in (k, k + 1)] + [0]
    graph = csr_matrix((np.ones(len(rows), np.int8), (rows, cols)), shape=(n, n))
    match = kuhn_matching(graph.indptr, graph.indices, n)
    assert (match >= 0).all() and sorted(match.tolist()) == list(range(n))
    assert match[0] == n - 1 and match[1] == 0  # every earlier prediction moved one head on
    assert (maximum_bipartite_matching(graph, perm_type="column") >= 0).sum() == n


def test_score_reads_ground_truth_from_any_dataset_format(sha_root, tmp_path):
    from pipeline.readers import read

    counts = {s.image_id: len(s.points) for s in read("shanghaitech", sha_root, "train")}
    pred = tmp_path / "p.csv"
    pred.write_text("image_id,count\n" + "".join(f"{i},{n + 2}\n" for i, n in counts.items()))
    args = ["score", str(pred), "--from", "shanghaitech", "--root", str(sha_root), "--split", "train", "--json"]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["n_images"] == 3 and out["mae"] == pytest.approx(2.0)
    r = CliRunner().invoke(cli, ["score", str(pred), "--from", "shanghaitech"])
    assert r.exit_code == 2 and "--root" in r.output


def test_nwpu_loc_lines_by_hand_and_integer_ids(tmp_path):
    from pipeline.exports.nwpu_loc import gt_line
    from pipeline.score import numeric_id

    # a 30 px head: sigma_s 15, sigma_l round(21.2) = 21, area 900 in (100, 1000]: level 2; 3 px: 2, 2, level 0
    assert gt_line(12, np.array([[10.4, 20.6], [5.0, 5.0]]), np.array([30.0, 3.0])) == "12 2 10 21 15 21 2 5 5 2 2 0"
    assert numeric_id("IMG_12", tmp_path) == 12 and numeric_id("0031", tmp_path) == 31
    with pytest.raises(DataError, match="has no number"):
        numeric_id("crowd", tmp_path)


def test_a_store_exported_as_nwpu_ground_truth_scores_itself_perfectly(tiny_stores, tmp_path):
    from pipeline.store import read_split

    r = CliRunner().invoke(cli, ["export", str(tiny_stores["test"]), "--to", "nwpu-loc", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    gt = tmp_path / "test_gt_loc.txt"
    assert gt.read_bytes().count(b"\r\n") == 3  # one CRLF line per image, as NWPU releases it
    truth = read_nwpu_gt(gt)
    store = read_split(tiny_stores["test"])
    assert sorted(int(t.count) for t in truth.values()) == sorted(store[i].count for i in store)
    out = json.loads(CliRunner().invoke(cli, ["score", str(gt), "--gt", str(gt), "--json"]).output)
    assert out["mae"] == 0 and out["nae"] == 0
    assert out["localization"]["sigma_s"]["f1"] == pytest.approx(1.0) and out["localization"]["sigma_l"]["f1"] == 1.0
    # the same file as predictions of the store it came from: its integer ids meet the store's IMG_<n>,
    # where every image was "no prediction for image IMG_1"
    r = CliRunner().invoke(cli, ["score", str(gt), "--gt", str(tiny_stores["test"]), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["n_images"] == 3 and out["mae"] == 0 and out["localization"]["r4"]["f1"] == 1.0
