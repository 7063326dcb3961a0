"""DVC stage: density stores for every split of one dataset (params: density.*, datasets.<name>)."""

import sys
from pathlib import Path

from pipeline.build import build_split
from pipeline.density import DensityParams
from pipeline.params import load_params, run_config, section

name = sys.argv[1]
params = load_params()
ds = params["datasets"][name]
for split in ds["splits"]:
    build_split(
        ds["format"],
        ds["root"],
        split,
        Path("data/density") / name / f"{split}.h5",
        params=section(params, "density", DensityParams),
        workers=run_config(params).workers,
        dataset=name,
        reader_options=ds.get("options"),
    )
