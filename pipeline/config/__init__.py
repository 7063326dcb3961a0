"""What each stage computes, as declared configurations: light modules (no torch, no numba), one per
section, so that `headcount preset` checks a whole params.yaml without loading the training code, and each
DVC stage depends on its own section's declaration only (this package's `__init__` stays empty)."""
