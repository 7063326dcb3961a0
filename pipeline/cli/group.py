"""The ``headcount`` click group every command module registers on."""

from __future__ import annotations

import click

from pipeline import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="headcount")
def cli() -> None:
    """headcount: crowd-counting density maps, training and evaluation."""
