"""DVC stage: write the synthetic default dataset (params: synth.*)."""

from pipeline.params import load_params, synth_config
from pipeline.synth import make_dataset

params = load_params()
make_dataset(params["synth"]["root"], synth_config(params))
