"""DVC stage: write the synthetic default dataset (params: synth.*)."""

from pipeline.errors import run_stage
from pipeline.params import load_params, section, value
from pipeline.synth import SynthConfig, make_dataset


def main() -> None:
    params = load_params()
    make_dataset(value(params, "synth.root"), section(params, "synth", SynthConfig, skip=("root",)))


run_stage(main)
