"""Option types and callbacks the commands share: devices, WxH sizes, finite numbers."""

from __future__ import annotations

import functools
import math

import click

from pipeline.config.train import check_crop
from pipeline.errors import ConfigError
from pipeline.params import DEVICE_SPEC

DEVICE_HELP = "auto (a GPU when there is one), cpu, cuda or cuda:N."


def device(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A device spec, checked before anything is built."""
    if value is not None and not DEVICE_SPEC.fullmatch(value):
        raise click.BadParameter(f"expected auto, cpu, cuda or cuda:N, got {value!r}")
    return value


def shape(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, int] | None:
    """``WxH`` as people write sizes, to the (H, W) shape the library takes: the only place WxH is parsed."""
    if value is None:
        return None
    try:
        w, h = (int(v) for v in value.lower().split("x"))
        if w <= 0 or h <= 0:
            raise ValueError
    except ValueError:
        raise click.BadParameter(f"expected WxH with positive integers, got {value!r}") from None
    return h, w


def crop(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, int] | None:
    """A training crop ``WxH`` as an (H, W) shape, refused unless a multiple of the model's stride."""
    parsed = shape(ctx, param, value)
    try:
        if parsed is not None:
            check_crop(parsed)
    except ConfigError as exc:  # the library's rule, said as click says a bad option
        raise click.BadParameter(exc.problem) from None
    return parsed


def infer_cases(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple:
    try:
        cases = [tuple(int(v) for v in case.lower().split("x")) for case in value]
        if any(len(c) != 3 or min(c) <= 0 for c in cases):
            raise ValueError
    except ValueError:
        raise click.BadParameter(f"expected WxHxBATCH with positive integers, got {value!r}") from None
    return tuple((h, w, b) for w, h, b in cases)  # (H, W, batch)


class FiniteRange(click.FloatRange):
    """A float range that also refuses nan and inf (``nan`` passes every comparison click makes)."""

    name = "finite float range"

    def convert(self, value, param, ctx):  # noqa: ANN001, ANN201 - click's signature
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


def scale(default: float, help: str):  # noqa: ANN201 - a click decorator
    """``--scale F``: images and frames resized by F before the model (`count`, `bench stream`)."""
    from pipeline.infer.scale import MAX_SCALE

    return click.option(
        "--scale", type=FiniteRange(0, MAX_SCALE, min_open=True), default=default, show_default=True, help=help
    )


def renamed(old: str, new: str, dest: str, *, required: bool = False, to=None, **option_kw):
    """The old spelling `old` of option `new` (parameter `dest`), hidden and kept for one release.

    Given, it warns on stderr and stands in for `new` where `new` was not given; `to` maps its value
    (``--bf16`` to ``precision="bf16"``). `required` is `new`'s: checked here, since either spelling
    may carry it. Put it among the command's options, under ``@cli.command``.
    """
    alias = "_renamed_" + old.lstrip("-").replace("-", "_")

    def decorate(f):
        @functools.wraps(f)
        def wrapper(*args, **kwargs):
            value = kwargs.pop(alias)
            if value is not None and value is not False:
                click.echo(f"warning: {old} is now {new} (the old name goes in the next release)", err=True)
                if kwargs.get(dest) is None:
                    kwargs[dest] = to(value) if to is not None else value
            if required and kwargs.get(dest) is None:
                raise click.MissingParameter(param_hint=f"'{new}'", param_type="option")
            return f(*args, **kwargs)

        return click.option(old, alias, hidden=True, default=None, **option_kw)(wrapper)

    return decorate


def _pairs(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        key, sep, text = value.partition("=")
        key = key.strip()
        if not sep or not key:
            raise click.BadParameter(f"{value!r} is not KEY=VALUE", param_hint="--option")
        if key in out:
            raise click.BadParameter(f"{key} given twice", param_hint="--option")
        out[key] = text
    return out


def reader_option(f):
    """``--option KEY=VALUE``, repeatable: an option of the --from format's reader, as a dataset's
    ``options`` in params.yaml (`pipeline.readers.options_from_text` types it)."""
    return click.option(
        "--option",
        "reader_options",
        multiple=True,
        metavar="KEY=VALUE",
        callback=_pairs,
        help="An option of the --from reader (repeatable), as a dataset's options in params.yaml: "
        "label=head, keypoint=head, annotator=ann@example.org, fold=2.",
    )(f)
