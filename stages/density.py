"""DVC stage: density stores for every split of one dataset (params: density.*, datasets.<name>)."""

import sys
from pathlib import Path

from pipeline.build import build_dataset
from pipeline.errors import run_stage
from pipeline.kernels import DensityParams
from pipeline.params import dataset_config, load_params, run_config, section


def main() -> None:
    name, params = sys.argv[1], load_params()
    kernel, workers = section(params, "density", DensityParams), run_config(params).workers
    build_dataset(name, dataset_config(params, name), Path("data/density") / name, params=kernel, workers=workers)


run_stage(main)
