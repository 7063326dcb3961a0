"""The speed benchmarks run, on tiny sizes, and report what they claim to measure."""

from __future__ import annotations

import json

from click.testing import CliRunner

from pipeline.cli import cli


def test_bench_loader_prints_one_json_line_per_epoch():
    args = ["bench", "loader", "--workers", "1", "--images", "4", "--size", "96x64", "--crop", "64x32"]
    r = CliRunner().invoke(cli, [*args, "--batch", "2", "--epochs", "3", "--json"])
    assert r.exit_code == 0, r.output
    lines = [json.loads(line) for line in r.output.splitlines()]
    assert [x["epoch"] for x in lines] == [1, 2, 3]
    for x in lines:
        assert x["images"] == 4 and x["workers"] == 1 and x["img_per_s"] > 0
        assert abs(x["img_per_s"] * x["seconds"] - x["images"]) < 1e-6


def test_bench_loader_refuses_a_crop_the_model_cannot_use():
    r = CliRunner().invoke(cli, ["bench", "loader", "--crop", "60x32"])
    assert r.exit_code == 2 and "multiples of 8" in r.output


def test_bench_train_on_a_device_times_the_reference_and_the_fast_settings_end_to_end():
    args = ["bench", "train", "--device", "cpu", "--width", "0.0625", "--crop", "32x32", "--steps", "2"]
    args += ["--warmup", "1", "--images", "2", "--loader-workers", "0", "--no-compile", "--infer", "48x32x2"]
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
