"""The ``headcount`` click group every command module registers on, and its grouped help.

The group imports a command's module when the command is asked for (`COMMAND_MODULES`): running one
command loads that module and not the others, and the package's root imports none of them.
"""

from __future__ import annotations

import importlib
import inspect

import click

from pipeline import __version__

# the help's sections, in order, each the commands of one module under pipeline.cli (a command in none
# of them is listed under "other")
SECTIONS = {
    "Ground truth": ("synth", "density", "inspect", "report", "convert", "export"),
    "Training": ("preset", "train", "evaluate", "recipe", "export-model"),
    "Scoring": ("score", "agree"),
    "Counting": ("count",),
    "Annotation": ("annotate",),
    "Speed": ("bench",),
}
SECTION_MODULES = {
    "Ground truth": "data",
    "Training": "model",
    "Scoring": "score",
    "Counting": "count",
    "Annotation": "annotate",
    "Speed": "bench",
}
# the module that registers each command, imported on first use
COMMAND_MODULES = {name: SECTION_MODULES[title] for title, names in SECTIONS.items() for name in names}


def summary(command: click.Command) -> str:
    """A command's first docstring sentence, whole: help lists never cut a summary mid-phrase."""
    text = (command.help or "").strip().split("\n\n")[0]
    text = " ".join(text.split())
    end = text.find(". ")
    return text[: end + 1] if end >= 0 else text


def split_examples(text: str) -> tuple[str, str]:
    """(description, examples) of a help text whose examples follow a ``\\b`` line and ``Example(s):``."""
    text = inspect.cleandoc(text)
    at = text.find("\b\nExample")
    return (text, "") if at < 0 else (text[:at].rstrip(), text[at:])


class ExamplesLast:
    """Help that ends with the command's examples, after the options (a mixin for click commands)."""

    def format_help_text(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        description, _ = split_examples(self.help or "")
        if description:
            formatter.write_paragraph()
            with formatter.indentation():
                formatter.write_text(description)

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        _, examples = split_examples(self.help or "")
        if examples:
            formatter.write_paragraph()
            formatter.write_text(examples)


class Command(ExamplesLast, click.Command):
    """A headcount command: its help ends with examples."""


class Headcount(ExamplesLast, click.Group):
    """Commands listed by section, each with its whole first sentence."""

    command_class = Command

    def list_commands(self, ctx: click.Context | None) -> list[str]:
        return sorted({*self.commands, *COMMAND_MODULES})

    def get_command(self, ctx: click.Context | None, name: str) -> click.Command | None:
        if name not in self.commands and name in COMMAND_MODULES:
            importlib.import_module(f"pipeline.cli.{COMMAND_MODULES[name]}")  # registers it on this group
        return self.commands.get(name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        placed = {n for group in SECTIONS.values() for n in group}
        sections = [*SECTIONS.items(), ("Other", tuple(n for n in names if n not in placed))]
        for title, group in sections:
            rows = [(n, summary(c)) for n in group if n in names and (c := self.get_command(ctx, n)) is not None]
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


class Subcommands(ExamplesLast, click.Group):
    """A command group whose listing gives each subcommand's whole first sentence."""

    command_class = Command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(n, summary(self.commands[n])) for n in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=Headcount, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="headcount")
def cli() -> None:
    """headcount: crowd-counting ground truth, training, evaluation, annotation and video counting.

    \b
    Examples:
      headcount density --from shanghaitech --root DATA/part_B --split train --out train.h5
      headcount count photo.jpg --heatmap overlay.png
      headcount COMMAND --help
    """
