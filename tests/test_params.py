import pytest

from pipeline.errors import DataError
from pipeline.params import density_params, synth_config, train_config


def test_sections_build_configs_and_skip_keys_read_elsewhere():
    p = {"synth": {"root": "data/raw", "train": 5}, "train": {"dataset": "x", "epochs": 2}, "density": {"beta": 0.2}}
    assert synth_config(p).train == 5 and train_config(p).epochs == 2 and density_params(p).beta == 0.2


def test_an_unknown_key_is_an_error_not_ignored():
    with pytest.raises(DataError, match="unknown key.*'density': betta"):
        density_params({"density": {"betta": 0.2}})
    with pytest.raises(DataError, match="'train': root"):
        train_config({"train": {"root": "x"}})
