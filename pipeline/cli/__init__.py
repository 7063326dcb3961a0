"""The ``headcount`` command: parses arguments and calls the library, one module per command group.

Exit codes (`pipeline.errors.exit_code_of`, shared with the DVC stages): 0 success,
1 bad data (one line naming the file), 2 bad usage or settings. Each command's module is imported
when the command is asked for (`pipeline.cli.group.COMMAND_MODULES`).
"""

from __future__ import annotations

import sys

import click

from pipeline.cli.group import cli
from pipeline.errors import exit_code_of

__all__ = ["cli", "main"]


def main() -> None:
    """Entry point: `exit_code_of` turns errors into exit codes and one line, as for the DVC stages."""
    sys.exit(exit_code_of(_run))


def _run() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        raise KeyboardInterrupt from None
    except click.ClickException as exc:  # one line, like every other error
        hint = ""
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            hint = f" (see {exc.ctx.command_path} --help)"
        click.echo(f"error: {exc.format_message()}{hint}", err=True)
        sys.exit(exc.exit_code)
