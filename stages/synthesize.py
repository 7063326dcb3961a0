"""DVC stage: write the synthetic default dataset (params: synth.*)."""

from pipeline.params import load_params, section
from pipeline.synth import SynthConfig, make_dataset

params = load_params()
make_dataset(params["synth"]["root"], section(params, "synth", SynthConfig, skip=("root",)))
