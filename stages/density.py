"""DVC stage: density stores for every split of one dataset (params: density.*, datasets.<name>)."""

import sys
from pathlib import Path

from pipeline.build import build_split
from pipeline.params import density_params, load_params

name = sys.argv[1]
params = load_params()
ds = params["datasets"][name]
for split in ds["splits"]:
    build_split(
        ds["format"],
        ds["root"],
        split,
        Path("data/density") / name / f"{split}.h5",
        params=density_params(params),
        workers=params["run"]["workers"],
        dataset=name,
        reader_options=ds.get("options"),
    )
