"""Help and shell completion answer without the library: no numba, scipy, torch or h5py on their path
(`headcount --help` took half a second when every command module imported pipeline.density)."""

from __future__ import annotations

import os
import subprocess
import sys

from pipeline.bench.startup import HEAVY

HELP_EVERYTHING = """
import sys
import click
from click.testing import CliRunner
from pipeline.cli import cli

runner = CliRunner()
lines = [[]]
for name in cli.list_commands(None):
    command = cli.get_command(None, name)
    lines.append([name])
    if isinstance(command, click.Group):
        lines += [[name, sub] for sub in command.commands]
for args in lines:
    result = runner.invoke(cli, [*args, "--help"])
    assert result.exit_code == 0, (args, result.output)
print(" ".join(m for m in {heavy!r} if m in sys.modules))
"""


def test_every_help_page_loads_none_of_the_heavy_libraries():
    code = HELP_EVERYTHING.format(heavy=HEAVY)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == ""


def test_shell_completion_lists_commands_and_formats_without_the_heavy_libraries():
    code = (
        "import sys\n"
        "sys.argv = ['headcount']\n"  # the console script's name, which names the completion variable
        "from pipeline.cli import main\n"
        "try:\n    main()\n"
        "except SystemExit:\n    pass\n"
        f"print('HEAVY:', ' '.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n"
    )
    for words, cword, want in (("headcount den", "1", "density"), ("headcount density --from ", "3", "shanghaitech")):
        env = {**os.environ, "_HEADCOUNT_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": cword}
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
        assert want in r.stdout, (words, r.stdout, r.stderr)
        assert r.stderr.strip().endswith("HEAVY:"), r.stderr
