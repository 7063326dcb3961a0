"""Parity oracles: the public recipes headcount must equal (density maps) or beat (model speed).

Tests compare against these and benchmarks time them; nothing in the pipeline runs them.
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage
import scipy.spatial


def classic_density(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The CSRNet ``make_dataset`` recipe: one full-image ``gaussian_filter`` per head.

    Kept verbatim in spirit (KD-tree k=4, sigma = 0.1 x sum of 3 distances, lone
    head mean(shape)/4) as the reference for parity; O(heads x H x W), slow.
    Points must lie inside the image.
    """
    gt = np.zeros(shape, dtype=np.float32)
    for x, y in points:
        gt[int(y), int(x)] = 1
    density = np.zeros(gt.shape, dtype=np.float32)
    gt_count = np.count_nonzero(gt)
    if gt_count == 0:
        return density
    pts = np.array(list(zip(np.nonzero(gt)[1], np.nonzero(gt)[0], strict=True)))
    tree = scipy.spatial.KDTree(pts.copy(), leafsize=2048)
    distances, _ = tree.query(pts, k=4)
    for i, pt in enumerate(pts):
        pt2d = np.zeros(gt.shape, dtype=np.float32)
        pt2d[pt[1], pt[0]] = 1.0
        if gt_count > 1:
            sigma = (distances[i][1] + distances[i][2] + distances[i][3]) * 0.1
        else:
            sigma = np.average(np.array(gt.shape)) / 2.0 / 2.0
        density += scipy.ndimage.gaussian_filter(pt2d, sigma, mode="constant")
    return density


def plain_csrnet():
    """CSRNet as the public CSRNet-pytorch code writes it, for timing comparisons only."""
    from torch import nn

    def make_layers(cfg, in_channels, dilation):
        layers = []
        d = 2 if dilation else 1
        for v in cfg:
            if v == "M":
                layers += [nn.MaxPool2d(kernel_size=2, stride=2)]
            else:
                conv = nn.Conv2d(in_channels, v, kernel_size=3, padding=d, dilation=d)
                layers += [conv, nn.ReLU(inplace=True)]
                in_channels = v
        return nn.Sequential(*layers)

    class PlainCSRNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.frontend = make_layers([64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512], 3, False)
            self.backend = make_layers([512, 512, 512, 256, 128, 64], 512, True)
            self.output_layer = nn.Conv2d(64, 1, kernel_size=1)

        def forward(self, x):
            return self.output_layer(self.backend(self.frontend(x)))

    return PlainCSRNet()
