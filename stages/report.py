"""DVC stage: one dataset report per density store of a dataset (reports/<name>/<split>/index.html)."""

import sys
from pathlib import Path

from pipeline.params import load_params
from pipeline.report import write_report

name = sys.argv[1]
for split in load_params()["datasets"][name]["splits"]:
    write_report(Path("data/density") / name / f"{split}.h5", Path("reports") / name / split)
