"""Proposals are the project's one decoder (`pipeline.decoder.decode`) kept inside the image, with its confidence."""

import numpy as np
import pytest

from annotate.proposals import model_proposals
from pipeline.decoder import decode


def test_a_density_models_proposals_are_its_strongest_peaks_each_as_sure_as_its_head_mass():
    d = np.zeros((12, 16))
    d[3, 4] = 0.9  # one head in a cell
    d[8, 10], d[8, 11] = 0.6, 0.5  # one head split over two cells: one peak
    d[1, 14] = 0.1  # noise: a peak, but round(2.1) heads leave no room for it
    heads = model_proposals(d, (96, 128), "density")
    # cell (r, c) covers pixels 8c..8c+8: centres at (8c + 4, 8r + 4)
    assert heads.points.tolist() == [[36.0, 28.0], [84.0, 68.0]]
    assert heads.scores.tolist() == pytest.approx([0.9, 1.1]) and heads.count == pytest.approx(2.1)


def test_proposals_are_what_evaluation_and_count_decode_only_kept_inside_the_image():
    d = np.zeros((3, 3), np.float32)
    d[2, 2] = 1.0  # the padded border cell of a 20x20 image: its centre (20, 20) lies outside
    heads = model_proposals(d, (20, 20), "density")
    assert decode(d, "density").points.tolist() == [[20.0, 20.0]]
    assert (heads.points < 20).all() and heads.points[0] == pytest.approx([20.0, 20.0], abs=1e-2)


def test_empty_output_proposes_nothing():
    assert model_proposals(np.zeros((4, 4)), (32, 32), "density").points.shape == (0, 2)
    assert model_proposals(np.zeros((4, 4)), (32, 32), "fidt").points.shape == (0, 2)


def test_a_fidt_models_proposals_are_its_lmds_peaks_as_sure_as_their_height():
    f = np.zeros((6, 8), np.float32)
    f[1, 2], f[4, 6] = 1.0, 0.6
    heads = model_proposals(f, (48, 64), "fidt")
    assert heads.points.tolist() == [[20.0, 12.0], [52.0, 36.0]] and heads.scores.tolist() == pytest.approx([1.0, 0.6])
    assert heads.count == 2.0
    d = np.full((6, 8), 0.05, np.float32)
    assert model_proposals(d, (48, 64), "density").count == pytest.approx(48 * 0.05)  # a density counts by its sum
