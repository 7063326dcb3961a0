"""headcount: crowd-counting ground truth, training and evaluation as one pipeline."""

__version__ = "0.1.0"
