"""The annotation tool's command."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli import options
from pipeline.cli.group import cli
from pipeline.density import DensityParams


@cli.command("annotate")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Bind address (keep it loopback).")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option(
    "--checkpoint",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A trained checkpoint: enables model-proposed heads.",
)
@click.option(
    "--params",
    "params_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="params.yaml whose density.* drive the preview (default: ./params.yaml if present).",
)
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Allow a non-loopback --host; every request then needs the access token printed at start.",
)
@click.option(
    "--device",
    callback=options.device,
    default="auto",
    show_default=True,
    help="For --checkpoint: " + options.DEVICE_HELP,
)
def annotate_cmd(
    folder: Path,
    host: str,
    port: int,
    checkpoint: Path | None,
    params_file: Path | None,
    allow_remote: bool,
    device: str,
) -> None:
    """Serve the point-click annotation tool for FOLDER (images/ and points/)."""
    import secrets

    from annotate.guard import is_loopback_host
    from annotate.server import serve
    from pipeline.params import load_params, section

    if params_file is None and Path("params.yaml").exists():
        params_file = Path("params.yaml")
    density = DensityParams()
    if params_file:
        density = section(load_params(params_file), "density", DensityParams, where=params_file)
    token = None
    if not is_loopback_host(host):
        if not allow_remote:
            raise click.BadParameter(
                f"{host} is not loopback; add --allow-remote to serve the network", param_hint="--host"
            )
        token = secrets.token_urlsafe(24)
        click.echo(f"WARNING: serving {folder} to the network; anyone with this link can edit it:")
        click.echo(f"  http://{host}:{port}/?token={token}")
    else:
        click.echo(f"annotating {folder} at http://{host}:{port}/  (Ctrl-C stops; every edit is saved)")
    serve(folder, host=host, port=port, density=density, checkpoint=checkpoint, token=token, device=device)
