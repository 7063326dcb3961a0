import numpy as np
import pytest

from annotate.proposals import propose_points


def test_one_proposal_per_head_blob_at_its_centre():
    d = np.zeros((12, 16))
    d[3, 4] = 0.9  # one head in a cell
    d[8, 10], d[8, 11] = 0.5, 0.5  # one head split over two cells
    d[1, 14] = 0.1  # noise: too little mass
    pts = propose_points(d, (96, 128))
    assert len(pts) == 2
    # cell (r, c) covers pixels 8c..8c+8: centres at (8c + 4, 8r + 4); the split head sits between its cells
    assert pts.tolist() == [[36.0, 28.0], [88.0, 68.0]]


def test_a_plateau_is_one_head_even_when_the_total_allows_more():
    d = np.zeros((8, 8))
    d[4, 4] = d[4, 5] = d[5, 4] = 0.7  # 2.1 heads of mass, one flat blob
    assert len(propose_points(d, (64, 64))) == 1


def test_empty_density_proposes_nothing():
    assert propose_points(np.zeros((4, 4)), (32, 32)).shape == (0, 2)


def test_a_faint_blob_is_not_proposed_even_when_the_total_count_has_room_for_it():
    d = np.zeros((8, 12))
    d[4, 4] = d[4, 5] = d[5, 4] = 0.7  # one plateau head holding 2.1 of mass: round(total) leaves room
    d[2, 10] = 0.3  # a faint blob: under MIN_MASS
    pts = propose_points(d, (64, 96))
    assert len(pts) == 1 and pts[0, 0] < 48
    d[2, 10] = 0.6  # the same blob with enough mass is a head
    assert len(propose_points(d, (64, 96))) == 2


def test_a_fidt_models_proposals_are_its_lmds_peaks_as_sure_as_their_height():
    from annotate.proposals import model_proposals

    f = np.zeros((6, 8), np.float32)
    f[1, 2], f[4, 6] = 1.0, 0.6
    points, scores, count = model_proposals(f, (48, 64), "fidt")
    assert points.tolist() == [[20.0, 12.0], [52.0, 36.0]] and scores.tolist() == pytest.approx([1.0, 0.6])
    assert count == 2.0
    d = np.full((6, 8), 0.05, np.float32)
    assert model_proposals(d, (48, 64), "density")[2] == pytest.approx(48 * 0.05)  # a density counts by its sum
