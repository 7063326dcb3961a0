"""Images of every mode load with their real contrast (pipeline/image.py)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pipeline.errors import DataError
from pipeline.image import BACKGROUND, load_image


def _gradient16() -> np.ndarray:
    return np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (8, 1))


def test_a_16_bit_png_keeps_its_contrast_not_a_white_sheet(tmp_path):
    Image.fromarray(_gradient16()).save(tmp_path / "g16.png")
    with Image.open(tmp_path / "g16.png") as im:
        assert im.mode.startswith("I")  # what Pillow's plain convert("RGB") would clip to 255
    rgb = load_image(tmp_path / "g16.png")
    assert rgb.shape == (8, 64, 3) and rgb.dtype == np.uint8
    assert rgb[0, 0].tolist() == [0, 0, 0] and rgb[0, -1].tolist() == [255, 255, 255]
    assert rgb[0, 32, 0] == round(_gradient16()[0, 32] / 257) and (rgb == 255).mean() < 0.05


def test_transparency_is_composited_on_the_stated_background(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[:2] = [255, 0, 0, 255]  # opaque red top, fully transparent bottom
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    Image.fromarray(rgba[..., [0, 3]], "LA").save(tmp_path / "la.png")
    out = load_image(tmp_path / "a.png")
    assert out[0, 0].tolist() == [255, 0, 0] and out[3, 3].tolist() == list(BACKGROUND)
    la = load_image(tmp_path / "la.png")
    assert la[0, 0].tolist() == [255, 255, 255] and la[3, 3].tolist() == list(BACKGROUND)


def test_palette_with_a_transparent_index_and_cmyk(tmp_path):
    p = Image.new("P", (4, 4), 1)
    p.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    p.putpixel((0, 0), 0)
    p.save(tmp_path / "p.png", transparency=0)
    out = load_image(tmp_path / "p.png")
    assert out[0, 0].tolist() == list(BACKGROUND) and out[1, 1].tolist() == [10, 200, 30]
    Image.new("CMYK", (4, 4), (0, 255, 255, 0)).save(tmp_path / "c.jpg", quality=100)
    red = load_image(tmp_path / "c.jpg")[2, 2]
    assert red[0] > 200 and red[1] < 60 and red[2] < 60


def test_a_float_image_in_zero_one_is_scaled(tmp_path):
    Image.fromarray(np.full((4, 4), 0.5, np.float32), "F").save(tmp_path / "f.tif")
    assert load_image(tmp_path / "f.tif")[0, 0].tolist() == [128, 128, 128]


def test_garbage_is_a_data_error_naming_the_file(tmp_path):
    (tmp_path / "x.jpg").write_bytes(b"not an image")
    with pytest.raises(DataError, match="x.jpg: cannot decode image"):
        load_image(tmp_path / "x.jpg")
