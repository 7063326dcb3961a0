"""CSRNet (Li et al., CVPR 2018), readable top to bottom.

Frontend: the first 10 conv layers of VGG-16 (three max-pools, stride 8).
Backend: six 3x3 convs with dilation 2. Output: a 1x1 conv to one density
channel at 1/8 resolution. `width` scales every channel count (1.0 = paper);
`batch_norm` adds BatchNorm after each 3x3 conv, as the reference code's
``make_layers(batch_norm=True)`` does: it lets a model trained from scratch
converge in minutes on a CPU.

`output_stride` 4 or 2 adds a decoder for localization in dense crowds, where
heads stand 3-8 px apart and one output cell of 8x8 pixels holds several: each
step doubles the resolution with a sub-pixel convolution (a 1x1 conv to four
times the channels, then `nn.PixelShuffle`, Shi et al. 2016) and joins the
frontend's features of that resolution (a U-Net skip), as FIDTM's decoder
joins its encoder's. Why sub-pixel and not bilinear upsampling: a pixel shuffle
only moves values, in both directions, so the exact convolution
(`pipeline.conv`) stays the only arithmetic and the bits stay the same on
every CPU.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pipeline.buffers import Pool
from pipeline.config.model import ModelConfig
from pipeline.conv import Conv2d
from pipeline.errors import ConfigError, DataError
from pipeline.geometry import OUTPUT_STRIDES, STRIDE
from pipeline.pool import MaxPool2d

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


FRONTEND = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512]  # VGG-16 conv1_1 .. conv4_3
BACKEND = [512, 512, 512, 256, 128, 64]  # dilation 2
DECODER = {4: 64, 2: 32}  # output stride -> channels of the decoder step that reaches it (x width)


def _channels(c: int, width: float) -> int:
    return max(1, round(c * width))


def _layers(cfg: list, in_ch: int, width: float, dilation: int, bn: bool) -> tuple[nn.Sequential, int]:
    layers: list[nn.Module] = []
    for v in cfg:
        if v == "M":
            layers.append(MaxPool2d())
        else:
            out = _channels(v, width)
            layers.append(Conv2d(in_ch, out, 3, padding=dilation, dilation=dilation))
            if bn:
                layers.append(nn.BatchNorm2d(out))
            layers.append(nn.ReLU(inplace=True))
            in_ch = out
    return nn.Sequential(*layers), in_ch


class UpStep(nn.Module):
    """Twice the resolution: sub-pixel convolution, then the frontend's features of that size, then a 3x3 conv."""

    def __init__(self, in_ch: int, skip_ch: int, out_ch: int, bn: bool) -> None:
        super().__init__()
        self.up = Conv2d(in_ch, 4 * out_ch, 1)
        self.shuffle = nn.PixelShuffle(2)
        layers: list[nn.Module] = [Conv2d(out_ch + skip_ch, out_ch, 3, padding=1)]
        if bn:
            layers.append(nn.BatchNorm2d(out_ch))
        layers.append(nn.ReLU(inplace=True))
        self.fuse = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.fuse(torch.cat([self.shuffle(self.up(x)), skip], 1))


def _skip_channels(width: float) -> dict[int, int]:
    """Channels of the frontend's last feature map at each stride below 8: what a decoder step joins."""
    out, stride, ch = {}, 1, 3
    for v in FRONTEND:
        if v == "M":
            out[stride] = ch
            stride *= 2
        else:
            ch = _channels(v, width)
    return out


WORKSPACE_BYTES = 4 << 30  # the most memory an exact model keeps for its convolutions' work arrays


class CSRNet(nn.Module):
    """CSRNet (VGG-16 frontend, dilated backend) at `width`, with an upsampling decoder to `output_stride`.

    `exact` routes every convolution on the CPU through the fixed-order path
    (`pipeline.conv`: the same bits on any x86-64 CPU); off, they are
    PyTorch's own. `set_exact` switches a built model.
    """

    __jit_unused_properties__ = ["exact"]  # TorchScript scripts plain convolutions (Conv2d.__prepare_scriptable__)

    def __init__(
        self, width: float = 1.0, batch_norm: bool = False, output_stride: int = 8, *, exact: bool = False
    ) -> None:
        super().__init__()
        ModelConfig(width=width, batch_norm=batch_norm, output_stride=output_stride)  # checks the stride
        self.width = width
        self.stride = output_stride
        # indices in `frontend` equal torchvision's `vgg16().features` (`vgg16_bn` with batch_norm),
        # so its weights load by name
        self.frontend, ch = _layers(FRONTEND, 3, width, dilation=1, bn=batch_norm)
        self.backend, ch = _layers(BACKEND, ch, width, dilation=2, bn=batch_norm)
        skips = _skip_channels(width)
        steps = []
        for s in OUTPUT_STRIDES[1 : OUTPUT_STRIDES.index(output_stride) + 1]:
            steps.append(UpStep(ch, skips[s], _channels(DECODER[s], width), batch_norm))
            ch = steps[-1].fuse[0].out_channels
        self.decoder = nn.ModuleList(steps)
        # the frontend's layers whose inputs the decoder joins (-1: none): the pools to strides 8 and 4
        pools = [i for i, v in enumerate(self.frontend) if isinstance(v, nn.MaxPool2d)]
        self.skip4 = pools[2] if len(steps) >= 1 else -1
        self.skip2 = pools[1] if len(steps) >= 2 else -1
        self.output = Conv2d(ch, 1, 1)
        # He init for the 3x3 convs: the paper's N(0, 0.01) shrinks the signal ~4x per layer,
        # which only a pretrained frontend survives; the output conv keeps N(0, 0.01)
        for m in [*self.frontend.modules(), *self.backend.modules(), *self.decoder.modules()]:
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.output.weight, std=0.01)
        nn.init.zeros_(self.output.bias)
        self.workspace = Pool(WORKSPACE_BYTES)  # shared by the exact convolutions, freed with the model
        self.set_exact(exact)

    @property
    def exact(self) -> bool:
        return self.output.exact

    def set_exact(self, on: bool) -> CSRNet:
        """Every convolution on the fixed-order path (True) or PyTorch's (False); returns the model."""
        for m in self.modules():
            if isinstance(m, Conv2d):
                m.exact, m.workspace = on, self.workspace
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) normalised images -> (B, 1, H/s, W/s) map at output stride s; a density sums to the count."""
        skips: list[torch.Tensor] = []
        for i, layer in enumerate(self.frontend):
            if i == self.skip4 or i == self.skip2:
                skips.append(x)
            x = layer(x)
        x = self.backend(x)
        for j, step in enumerate(self.decoder):
            x = step(x, skips[len(skips) - 1 - j])
        return self.output(x)


def load_vgg16_frontend(model: CSRNet, path: str | Path) -> int:
    """Copy ``features.*`` of a local torchvision VGG-16 (``vgg16_bn`` with batch_norm) state dict into the frontend.

    Returns the number of tensors loaded; a file that does not fit is a `DataError`.
    """
    if model.width != 1.0:
        raise ConfigError("params.yaml", f"model.pretrained needs model.width 1.0, got {model.width}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise DataError(path, "model.pretrained file not found") from None
    except Exception as exc:  # torch raises many types for foreign or truncated files
        raise DataError(path, f"not a torchvision VGG-16 state dict ({type(exc).__name__})") from None
    if not isinstance(state, dict):
        raise DataError(path, "not a torchvision VGG-16 state dict")
    if "state_dict" in state:
        state = state["state_dict"]
    own = model.frontend.state_dict()
    # BatchNorm's step counter is bookkeeping, not a weight: tolerate its absence
    wanted = {f"features.{k}": k for k in own if not k.endswith("num_batches_tracked")}
    missing = [k for k in wanted if k not in state]
    if missing:
        raise DataError(path, f"not a torchvision VGG-16 state dict (missing {missing[:3]} ...)")
    new = {}
    for src, dst in wanted.items():
        if state[src].shape != own[dst].shape:
            raise DataError(path, f"{src} has shape {tuple(state[src].shape)}, expected {tuple(own[dst].shape)}")
        new[dst] = state[src]
    model.frontend.load_state_dict(new, strict=False)
    return len(new)


def build_model(cfg: ModelConfig, *, exact: bool = False) -> CSRNet:
    """The network `cfg` describes, its frontend loaded from ``cfg.pretrained`` if set; `exact` as in `CSRNet`."""
    model = CSRNet(cfg.width, cfg.batch_norm, cfg.output_stride, exact=exact)
    if cfg.pretrained:
        load_vgg16_frontend(model, cfg.pretrained)
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def pad_to_stride(x: torch.Tensor, stride: int = STRIDE) -> torch.Tensor:
    """Zero-pad (…, H, W) bottom/right to multiples of `stride`."""
    h, w = x.shape[-2:]
    return torch.nn.functional.pad(x, (0, -w % stride, 0, -h % stride))


@functools.cache
def _imagenet_stats(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std as (3, 1, 1) tensors on `device`, made once: a copy from pageable host memory
    per step would make the host wait for the GPU every step."""
    mean = torch.as_tensor(IMAGENET_MEAN, device=device)[:, None, None]
    return mean, torch.as_tensor(IMAGENET_STD, device=device)[:, None, None]


def to_model_input(images: torch.Tensor, device: torch.device, channels_last: bool = False) -> torch.Tensor:
    """uint8 (B, H, W, 3) -> ImageNet-normalised float (B, 3, H', W') on `device`, zero-padded to the stride.

    Done where the model runs: on a GPU it is free, and the host moves a quarter of the bytes.
    """
    x = images.to(device, non_blocking=True).permute(0, 3, 1, 2).float()
    mean, std = _imagenet_stats(device)
    x = pad_to_stride((x / 255.0 - mean) / std)
    return x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
