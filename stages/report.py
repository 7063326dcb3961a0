"""DVC stage: one dataset report per density store of a dataset (reports/<name>/<split>/index.html)."""

import sys
from pathlib import Path

from pipeline.errors import run_stage
from pipeline.params import dataset_config, load_params
from pipeline.report import write_report


def main() -> None:
    name = sys.argv[1]
    for split in dataset_config(load_params(), name).splits:
        write_report(Path("data/density") / name / f"{split}.h5", Path("reports") / name / split)


run_stage(main)
