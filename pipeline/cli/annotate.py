"""The annotation tool's command."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli import options
from pipeline.cli.group import cli
from pipeline.kernels import DensityParams


@cli.command("annotate")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Bind address (keep it loopback).")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option(
    "--checkpoint",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A trained checkpoint for model-proposed heads (default: the shipped real-photo model).",
)
@click.option("--no-model", is_flag=True, help="No proposals: annotate by hand only.")
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
    "--user",
    "users",
    multiple=True,
    help="Who annotates: saves record this name (default: your login name). Repeat it for a team: "
    "each user gets an own link, and saves record the name behind the link.",
)
@click.option(
    "--reviewer",
    "reviewers",
    multiple=True,
    help="Who may review (accept or reject an image); a user too, with a link. Repeatable. "
    "Without one, nobody can mark an image reviewed.",
)
@click.option(
    "--compare",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="A second annotator's folder (or folder of point files): O overlays its heads, unmatched ones marked.",
)
@click.option(
    "--compare-radius",
    type=options.FiniteRange(0, min_open=True),
    default=8.0,
    show_default=True,
    help="Heads of the two annotators within this many pixels match (as `headcount agree --radius`).",
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
    users: tuple[str, ...],
    reviewers: tuple[str, ...],
    compare: Path | None,
    compare_radius: float,
    device: str,
    no_model: bool,
) -> None:
    """Serve the point-click annotation tool for FOLDER (images/ and points/).

    \b
    Examples:
      headcount annotate data/annotated
      headcount annotate DIR --user ann --user bo --reviewer rita
    """
    import secrets
    from urllib.parse import quote

    from annotate.guard import is_loopback_host
    from annotate.server import serve
    from pipeline.params import load_params, section
    from pipeline.presets.shipped import SHIPPED_MODEL

    if no_model and checkpoint is not None:
        raise click.BadParameter("--no-model with --checkpoint: choose one", param_hint="--no-model")
    if checkpoint is None and not no_model and SHIPPED_MODEL.is_file():
        checkpoint = SHIPPED_MODEL
    if params_file is None and Path("params.yaml").exists():
        params_file = Path("params.yaml")
    density = DensityParams()
    if params_file:
        density = section(load_params(params_file), "density", DensityParams, where=params_file)
    from pipeline.work import MAX_NAME

    for name in (*users, *reviewers):
        if not 0 < len(name) <= MAX_NAME or name != name.strip():
            raise click.BadParameter(f"{name!r}: a name of 1..{MAX_NAME} characters", param_hint="--user")
    if len(set(users)) != len(users) or len(set(reviewers)) != len(reviewers):
        raise click.BadParameter("each name once", param_hint="--user")
    users = (*users, *(r for r in reviewers if r not in users))  # a reviewer is a user with a link too
    token, tokens, user, named = None, None, None, ()
    if not is_loopback_host(host):
        if not allow_remote:
            raise click.BadParameter(
                f"{host} is not loopback; add --allow-remote to serve the network", param_hint="--host"
            )
        click.echo(f"WARNING: serving {folder} to the network; anyone with a link can edit it:")
        if users:
            tokens = {secrets.token_urlsafe(24): name for name in users}
            for t, name in tokens.items():
                click.echo(f"  {name}: http://{host}:{port}/?token={t}")
        else:
            token = secrets.token_urlsafe(24)
            click.echo(f"  http://{host}:{port}/?token={token}")
    else:
        if len(users) > 1:  # one machine, several people: a link each, no token (the machine is the boundary)
            named = users
            click.echo(f"annotating {folder} at http://{host}:{port}/ (Ctrl-C stops; every edit is saved):")
            for name in users:
                role = " (reviewer)" if name in reviewers else ""
                click.echo(f"  {name}{role}: http://{host}:{port}/?user={quote(name)}")
        else:
            user = users[0] if users else login_name()
            click.echo(f"annotating {folder} as {user} at http://{host}:{port}/  (Ctrl-C stops; every edit is saved)")
    serve(
        folder,
        host=host,
        port=port,
        density=density,
        checkpoint=checkpoint,
        token=token,
        device=device,
        user=user,
        tokens=tokens,
        compare=compare,
        compare_radius=compare_radius,
        users=named,
        reviewers=reviewers,
    )


def login_name() -> str | None:
    """The OS user's login name (what a save records without --user), or None where there is none."""
    import getpass

    try:
        return getpass.getuser()[:64] or None
    except (KeyError, OSError):
        return None
