"""The annotator simulation behind benchmarks/assist.py: actions a head, by the tool's own operations."""

from __future__ import annotations

import numpy as np

from annotate.assist import at_threshold, simulate


def _grid(n_side: int, step: float = 10.0) -> np.ndarray:
    g = np.stack(np.meshgrid(np.arange(n_side) * step + 5, np.arange(n_side) * step + 5), -1)
    return g.reshape(-1, 2)


def test_no_proposals_is_one_click_a_head():
    truth = _grid(5)
    a = simulate(np.zeros((0, 2)), np.zeros(0), truth)
    assert (a.total, a.clicks, a.per_head) == (25, 25, 1.0)


def test_perfect_proposals_cost_the_threshold_and_one_accept():
    truth = _grid(10)  # 100 heads: A asks for confirmation
    a = simulate(truth + 1.0, np.ones(100), truth)
    assert (a.setup, a.moves, a.deletes, a.clicks) == (3, 0, 0, 0) and a.per_head == 0.03


def test_each_fix_is_one_action_a_near_miss_a_move_a_stray_a_delete_a_miss_a_click():
    truth = _grid(4)  # 16 heads, 10 px apart
    props = truth.copy()
    props[0] += 7.0  # 9.9 px off: dragged back (not a delete and a click)
    props = np.vstack([props[:-1], [[200.0, 200.0]]])  # the last head missed, a stray far away
    a = at_threshold(props, np.ones(len(props)), truth, 0.5)
    assert (a.setup, a.moves, a.deletes, a.clicks) == (2, 1, 1, 1) and a.total == 5


def test_the_threshold_drops_what_is_weak_when_that_is_cheaper():
    truth = _grid(4)
    noise = np.random.default_rng(0).uniform(300, 400, (30, 2))  # 30 false proposals, all weak
    props = np.vstack([truth, noise])
    scores = np.r_[np.full(16, 0.9), np.full(30, 0.2)]
    best = simulate(props, scores, truth)
    assert best.threshold == 0.9 and best.total == 2
    assert at_threshold(props, scores, truth, 0.0).deletes == 30


def test_the_benchmark_runs_a_checkpoint_over_a_stores_held_out_images(tiny_stores, tmp_path):
    """benchmarks/assist.py end to end: a model that proposes nothing leaves 1.0 action a head."""
    import sys
    from pathlib import Path

    import torch

    from pipeline.checkpoint import save_checkpoint
    from pipeline.model import CSRNet, ModelConfig

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from assist import run

    model = CSRNet(0.0625)
    with torch.no_grad():
        model.output.weight.zero_()
        model.output.bias.fill_(0.0)  # a FIDT map of zeros: no head anywhere
    ck = tmp_path / "none.pt"
    cfg = ModelConfig(width=0.0625).__dict__
    save_checkpoint(ck, model=model.state_dict(), model_config=cfg, train_config={"target": "fidt"})
    out = run(tiny_stores["test"], ck, val_fraction=0, crop=32)
    assert out["images"] == 3 and out["heads"] > 0 and out["actions_per_head"] == 1.0
    assert all(r["clicks"] == r["heads"] and r["proposed"] == 0 for r in out["rows"])
