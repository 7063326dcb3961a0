"""The speed benchmarks run, on tiny sizes, and report what they claim to measure."""

from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner

from pipeline.cli import cli


def test_bench_loader_prints_one_json_line_per_epoch():
    """Each epoch yields every image's crop once (crops, not batches of 2, are counted), and its time is part of
    the wall-clock time the test measured around the whole run."""
    args = ["bench", "loader", "--workers", "1", "--images", "4", "--size", "96x64", "--crop", "64x32"]
    start = time.perf_counter()
    r = CliRunner().invoke(cli, [*args, "--batch", "2", "--epochs", "3", "--json"])
    wall = time.perf_counter() - start
    assert r.exit_code == 0, r.output
    lines = [json.loads(line) for line in r.output.splitlines()]
    assert [x["epoch"] for x in lines] == [1, 2, 3]
    assert all(x["images"] == 4 and x["workers"] == 1 for x in lines)
    assert 0 < sum(x["seconds"] for x in lines) < wall
    assert all(x["img_per_s"] > 4 / wall for x in lines)  # an epoch takes less than the whole run


def test_bench_loader_refuses_a_crop_the_model_cannot_use():
    r = CliRunner().invoke(cli, ["bench", "loader", "--crop", "60x32"])
    assert r.exit_code == 2 and "multiples of 8" in r.output


def test_bench_train_on_a_device_times_the_reference_and_the_fast_settings_end_to_end():
    args = ["bench", "train", "--device", "cpu", "--width", "0.0625", "--crop", "32x32", "--steps", "2"]
    args += ["--warmup", "1", "--images", "2", "--workers", "0", "--no-compile", "--infer", "48x32x2"]
    r = CliRunner().invoke(cli, [*args, "--json"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in r.output.splitlines()]
    train = {x["case"]: x for x in rows if x["phase"] == "train"}
    assert set(train) == {"reference", "fp32", "bf16+channels_last"}  # "fast" is the compiled one: skipped
    assert train["reference"]["batch"] == 1 and train["reference"]["precision"] == "fp32"
    assert train["bf16+channels_last"] == {**train["bf16+channels_last"], "batch": 16, "channels_last": True}
    assert all(x["img_per_s"] > 0 and x["e2e_img_per_s"] > 0 and x["device"] == "cpu" for x in train.values())
    infer = [x for x in rows if x["phase"] == "inference"]
    assert [(x["case"], x["size"], x["batch"]) for x in infer] == [
        ("fp32", "48x32", 2),
        ("bf16+channels_last", "48x32", 2),
    ]


@pytest.mark.slow
def test_bench_model_times_every_row_of_the_cpu_table_in_both_numerics_modes():
    """`headcount bench train` without --device: the README's CPU table, on tiny shapes."""
    import math

    from pipeline.bench.train import bench_model
    from pipeline.numerics import configure

    try:
        r = bench_model(repeats=1, train_shape=(32, 32), infer_shape=(32, 48), demo_shape=(2, 32, 32))
    finally:
        configure("reproducible")
    for key in ("train_step_s", "demo_step_s", "inference_s"):
        assert 0 < r[key] < math.inf and 0 < r["reproducible_" + key] < math.inf
    assert 0 < r["plain_train_step_s"] < math.inf and 0 < r["plain_inference_s"] < math.inf


def test_bench_density_prints_the_speed_ratio_and_parity_then_a_split():
    r = CliRunner().invoke(cli, ["bench", "density", "--heads", "20", "--split-images", "2", "--workers", "1"])
    assert r.exit_code == 0, r.output
    lines = dict(line.strip().split(maxsplit=1) for line in r.output.splitlines() if line.startswith("  "))
    assert set(lines) == {"classic", "headcount", "speed", "parity", "end"}
    assert float(lines["parity"].split()[-1]) <= 1e-6  # the benchmark checks the map it times
    assert "one 768x1024 image, 20 clustered heads" in r.output and "split of 2 images" in r.output


def test_bench_train_prints_the_cpu_table_at_the_sizes_asked():
    r = CliRunner().invoke(cli, ["bench", "train", "--repeats", "1", "--crop", "32x32", "--infer", "48x32x1"])
    assert r.exit_code == 0, r.output
    rows = [line for line in r.output.splitlines() if line.startswith(("full width", "demo", "inference"))]
    assert [row.split(",")[0] for row in rows] == ["full width", "demo: width 0.25+BN", "inference 48x32"]
    assert "32x32, batch 1" in rows[0]
    for row in rows:
        seconds = [float(v.rstrip("s")) for v in row.split()[-3:] if v.endswith("s") and v[0].isdigit()]
        assert len(seconds) == (2 if row.startswith("demo") else 3) and all(s > 0 for s in seconds)


def test_every_bench_subcommand_has_a_smoke_test_here_or_in_test_stream():
    from pipeline.cli.bench import bench

    assert set(bench.commands) == {"density", "loader", "train", "stream", "startup"}  # stream: tests/test_stream.py


def test_bench_startup_times_every_help_in_fresh_processes():
    r = CliRunner().invoke(cli, ["bench", "startup", "--repeats", "1", "--json"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in r.output.splitlines()]
    assert rows[0]["command"] == "headcount --help" and any(x["command"] == "headcount density --help" for x in rows)
    assert all(0 < x["best_s"] <= x["median_s"] for x in rows)
