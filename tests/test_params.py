import pytest
from conftest import committed

from pipeline.errors import ConfigError
from pipeline.kernels import DensityParams
from pipeline.params import RunConfig, run_config, section
from pipeline.synth import SynthConfig
from pipeline.train import TrainConfig


def test_sections_build_configs_and_skip_keys_read_elsewhere():
    p = {
        "synth": committed("synth", root="data/raw", train=5),
        "train": committed("train", dataset="x", epochs=2),
        "density": committed("density", beta=0.2),
    }
    assert section(p, "synth", SynthConfig, skip=("root",)).train == 5
    assert section(p, "train", TrainConfig, skip=("dataset",)).epochs == 2
    assert section(p, "density", DensityParams).beta == 0.2
    run = committed("run", threads=None, resume=True)
    assert run_config({"run": run}) == RunConfig(**run)


@pytest.mark.parametrize(("name", "cls"), [("train", TrainConfig), ("density", DensityParams), ("run", RunConfig)])
def test_a_missing_key_is_an_error_never_a_dataclass_default(name, cls):
    """params.yaml is the one source of every number: a key left out is named, not filled in."""
    skip = ("dataset",) if name == "train" else ()
    full = committed(name)
    assert section({name: full}, name, cls, skip=skip)  # the committed section is complete
    key = next(k for k in full if k not in skip)
    with pytest.raises(ConfigError, match=f"^params.yaml: {name} needs {key} "):
        section({name: {k: v for k, v in full.items() if k != key}}, name, cls, skip=skip)


def test_an_unknown_key_is_an_error_not_ignored():
    with pytest.raises(ConfigError, match="unknown key.*'density': betta"):
        section({"density": {"betta": 0.2}}, "density", DensityParams)
    with pytest.raises(ConfigError, match="'train': root"):
        section({"train": {"root": "x"}}, "train", TrainConfig)
    with pytest.raises(ConfigError, match="'train': resume"):  # a run setting, not a training one
        section({"train": {"resume": True}}, "train", TrainConfig)


@pytest.mark.parametrize(
    ("name", "cls", "key", "value", "message"),
    [
        ("train", TrainConfig, "lr", "abc", "train.lr must be a number, got 'abc'"),
        ("train", TrainConfig, "epochs", "2", "train.epochs must be a whole number, got '2'"),
        ("train", TrainConfig, "epochs", 2.5, "train.epochs must be a whole number"),
        ("train", TrainConfig, "flip", 1, "train.flip must be true or false, got 1"),
        ("train", TrainConfig, "optimizer", "adamw", "train.optimizer must be one of adam, sgd, got 'adamw'"),
        ("train", TrainConfig, "numerics", "exact", "train.numerics must be one of reproducible, fast"),
        ("density", DensityParams, "border", "wrap", "density.border must be one of drop, renormalize"),
        ("run", RunConfig, "threads", "4", "run.threads must be a whole number or null, got '4'"),
    ],
)
def test_a_value_of_the_wrong_type_or_choice_names_the_key(name, cls, key, value, message):
    with pytest.raises(ConfigError, match="^params.yaml: " + message.replace("(", r"\(")):
        section({name: committed(name, **{key: value})}, name, cls, skip=("dataset",) if name == "train" else ())


def test_a_number_key_takes_whole_numbers_and_null_only_where_allowed():
    assert section({"train": committed("train", lr=1)}, "train", TrainConfig, skip=("dataset",)).lr == 1
    with pytest.raises(ConfigError, match="train.lr must be a number, got None"):
        section({"train": committed("train", lr=None)}, "train", TrainConfig, skip=("dataset",))
