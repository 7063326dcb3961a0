"""DVC stage: density stores for every split of one dataset (params: density.*, datasets.<name>)."""

import sys
from pathlib import Path

from pipeline.build import build_split
from pipeline.density import DensityParams
from pipeline.errors import run_stage
from pipeline.params import dataset_config, load_params, run_config, section


def main() -> None:
    name = sys.argv[1]
    params = load_params()
    ds = dataset_config(params, name)
    kernel, workers = section(params, "density", DensityParams), run_config(params).workers
    for split in ds.splits:
        out = Path("data/density") / name / f"{split}.h5"
        build_split(
            ds.format, ds.root, split, out, params=kernel, workers=workers, dataset=name, reader_options=ds.options
        )


run_stage(main)
