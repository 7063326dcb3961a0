"""Every command against hostile and careless input: the right exit code, one line naming
the file or the setting, no traceback, and nothing written (docs/architecture.md, "The error model")."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import yaml
from conftest import committed, run_main, write_points, write_sha, write_ucf

TRAIN = {
    "dataset": "tiny",
    "epochs": 1,
    "batch_size": 2,
    "lr": 0.001,
    "crop_height": 32,
    "crop_width": 32,
    "val_fraction": 0.25,
}


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def png_bomb(path: Path, width: int = 20000, height: int = 20000) -> Path:
    """A tiny PNG whose header claims 400 megapixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


TRAIN_ARGS = ["train", "--params", "{tmp}/params.yaml", "--store", "{train}", "--out", "{tmp}/models"]
UCF_FOLD1 = ["density", "--from", "ucf_cc_50", "--root", "{tmp}/ucf", "--split", "test", "--fold", "1"]
UCF_FOLD1 += ["--out", "{tmp}/o.h5"]
COUNT = ["count", "{tmp}/v.mp4", "--checkpoint", "{tmp}/ck.pt"]
SHA_TEST = ["density", "--from", "shanghaitech", "--root", "{tmp}/sha", "--split", "test"]


@dataclass
class Case:
    name: str
    args: list[str]
    code: int
    message: str  # a regex the one-line error must match
    setup: Callable | None = None  # (tmp, stores) -> None
    train: dict = field(default_factory=dict)  # params.yaml train overrides
    model: dict = field(default_factory=dict)


def _sha(tmp: Path, stores) -> None:
    write_sha(tmp / "sha", "test", {1: np.array([[3.0, 4.0], [10.0, 12.0]])})


def _bomb(tmp: Path, stores) -> None:
    write_points(tmp / "ann", "big", [[1.0, 1.0]])
    png_bomb(tmp / "ann" / "images" / "big.png")


def _damaged_attrs(tmp: Path, stores) -> None:
    shutil.copy(stores["train"], tmp / "store.h5")
    with h5py.File(tmp / "store.h5", "a") as f:
        del f.attrs["params"]


def _damaged_chunk(tmp: Path, stores) -> None:
    shutil.copy(stores["train"], tmp / "store.h5")
    with h5py.File(tmp / "store.h5", "r") as f:
        ds = f["images"][next(iter(f["images"]))]["density"]
        offset = ds.id.get_chunk_info(0).byte_offset
    with open(tmp / "store.h5", "r+b") as fh:
        fh.seek(offset)
        fh.write(b"\xff" * 64)  # deflate stream destroyed


def _checkpoint(tmp: Path, stores) -> None:
    from pipeline.checkpoint import save_checkpoint
    from pipeline.model import CSRNet, ModelConfig

    save_checkpoint(tmp / "ck.pt", model=CSRNet(0.0625).state_dict(), model_config=ModelConfig(width=0.0625).__dict__)
    (tmp / "img.jpg").write_bytes(_jpeg())
    (tmp / "notes.json").write_text('{"keep": true}')


def _jpeg() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 100, 110)).save(buf, format="JPEG")
    return buf.getvalue()


def _video(tmp: Path, stores) -> None:
    """A checkpoint, a short video, a user's other video, ground truth and a store: what a slip can destroy."""
    from pipeline.live.synth_video import make_video

    _checkpoint(tmp, stores)
    make_video(tmp / "v.mp4", frames=3, shape=(48, 64), heads=(5, 10))
    shutil.copy(tmp / "v.mp4", tmp / "holiday.mp4")
    write_sha(tmp / "sha", "test", {1: np.array([[3.0, 4.0], [10.0, 12.0]])})
    shutil.copy(stores["train"], tmp / "store.h5")


def _nwpu_escape(tmp: Path, stores) -> None:
    """An NWPU split list whose line walks out of the root, to a file that must stay as it is."""
    (tmp / "secret2").mkdir()
    (tmp / "secret2" / "x.json").write_text('{"mine": true}')
    _jpeg_to(tmp / "secret2" / "x.jpg")
    root = tmp / "nwpu"
    (root / "images").mkdir(parents=True)
    (root / "jsons").mkdir()
    (root / "val.txt").write_text("../../secret2/x 0 0\n")


def _labelme_escape(tmp: Path, stores) -> None:
    (tmp / "secret").mkdir()
    _jpeg_to(tmp / "secret" / "private.jpg")
    (tmp / "lm").mkdir()
    doc = {"imagePath": "../secret/private.jpg", "imageHeight": 48, "imageWidth": 64, "shapes": []}
    (tmp / "lm" / "a.json").write_text(json.dumps(doc))


def _jpeg_to(path: Path) -> None:
    path.write_bytes(_jpeg())


def _report_folder(tmp: Path, stores) -> None:
    (tmp / "rep").mkdir()
    (tmp / "rep" / "counts.csv").write_text("my,own,spreadsheet\n1,2,3\n")


def _store_in_report_folder(tmp: Path, stores) -> None:
    (tmp / "rep").mkdir()
    shutil.copy(stores["train"], tmp / "rep" / "report.json")


def _annotated(tmp: Path, stores) -> None:
    """A points folder an annotator has worked on, and a ShanghaiTech copy of it with other points."""
    write_points(tmp / "ann", "IMG_1", [[3.0, 4.0]], revision=57)
    doc = json.loads((tmp / "ann" / "points" / "IMG_1.json").read_text())
    doc.update(version=3, status="reviewed", tiles=None)
    (tmp / "ann" / "points" / "IMG_1.json").write_text(json.dumps(doc))
    write_sha(tmp / "sha", "test", {1: np.array([[30.0, 40.0], [10.0, 12.0]])})


def _calibration(tmp: Path, stores) -> None:
    """A checkpoint, a calibration folder of nothing usable, and one holding a single 1x1 image."""
    from PIL import Image

    _checkpoint(tmp, stores)
    (tmp / "empty").mkdir()
    (tmp / "empty" / "notes.txt").write_text("not an image")
    (tmp / "tiny").mkdir()
    Image.new("RGB", (1, 1)).save(tmp / "tiny" / "dot.png")


ZONE_FILES = {
    "bool.yaml": "zones:\n- {name: a, polygon: [[true, 0], [10, 0], [10, 10]]}\n",
    "dup.yaml": "zones:\n- {name: a, name: b, polygon: [[0, 0], [10, 0], [10, 10]]}\n",
    "huge.yaml": "zones:\n- {name: a, polygon: [[" + "9" * 400 + ", 0], [10, 0], [10, 10]]}\n",
    "deep.yaml": "[" * 100_000 + "]" * 100_000,
}


def _zones(tmp: Path, stores) -> None:
    _video(tmp, stores)
    for name, text in ZONE_FILES.items():
        (tmp / name).write_text(text)


def _big_and_looped(tmp: Path, stores) -> None:
    """A small PNG that declares 8000x8000, and an image that is a symlink to itself."""
    _checkpoint(tmp, stores)
    png_bomb(tmp / "big.png", 8000, 8000)
    os.symlink(tmp / "loop.jpg", tmp / "loop.jpg")


def _labelme_text_size(tmp: Path, stores) -> None:
    (tmp / "lm").mkdir()
    _jpeg_to(tmp / "lm" / "a.jpg")
    doc = {"imagePath": "a.jpg", "imageHeight": "48", "imageWidth": 64, "shapes": []}
    (tmp / "lm" / "a.json").write_text(json.dumps(doc))


def _params_not_an_object(tmp: Path, stores) -> None:
    for name, value in (("list.h5", "[1, 2]"), ("null.h5", "null")):
        shutil.copy(stores["train"], tmp / name)
        with h5py.File(tmp / name, "a") as f:
            f.attrs["params"] = value


def _nwpu_absolute(tmp: Path, stores) -> None:
    _nwpu_escape(tmp, stores)
    (tmp / "nwpu" / "val.txt").write_text(f"{tmp}/secret2/x 0 0\n")


def _labelme_hostile_json(tmp: Path, stores) -> None:
    (tmp / "lm").mkdir()
    _jpeg_to(tmp / "lm" / "a.jpg")
    huge = '{"imagePath": "a.jpg", "shapes": [{"shape_type": "point", "points": [[' + "7" * 400 + ", 1]]}]}"
    (tmp / "lm" / "a.json").write_text(huge)
    (tmp / "lm2").mkdir()
    _jpeg_to(tmp / "lm2" / "a.jpg")
    (tmp / "lm2" / "a.json").write_text('{"imagePath": "a.jpg", "shapes": ' + "[" * 100_000 + "]" * 100_000 + "}")


def _truncated_last(size: int):
    def setup(tmp: Path, stores) -> None:
        (tmp / "models").mkdir()
        (tmp / "models" / "last.pt").write_bytes(b"PK\x03\x04" + b"\0" * size if size else b"")

    return setup


def _malicious(tmp: Path, stores) -> None:
    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {tmp / 'pwned'}",))

    torch.save({"model": Payload(), "model_config": {}}, tmp / "evil.pt")
    (tmp / "img.jpg").write_bytes(_jpeg())


def _ucf_copy(number: int, stem: str):
    """A UCF folder with image `number` and a copy of it under another name `stem`."""

    def setup(tmp: Path, stores) -> None:
        write_ucf(tmp / "ucf", [number])
        shutil.copy(tmp / "ucf" / f"{number}.jpg", tmp / "ucf" / f"{stem}.jpg")
        shutil.copy(tmp / "ucf" / f"{number}_ann.mat", tmp / "ucf" / f"{stem}_ann.mat")

    return setup


CASES = [
    Case(
        "density: option of another format",
        [
            *SHA_TEST,
            "--fold",
            "1",
            "--out",
            "{tmp}/o.h5",
        ],
        2,
        "fold.*shanghaitech.*no option 'fold'",
        _sha,
    ),
    Case(
        "density: unknown split",
        ["density", "--from", "shanghaitech", "--root", "{tmp}/sha", "--split", "val", "--out", "{tmp}/o.h5"],
        2,
        "split: shanghaitech splits are train, test",
        _sha,
    ),
    Case(
        "density: sigma 1e9",
        [
            *SHA_TEST,
            "--method",
            "fixed",
            "--sigma",
            "1e9",
            "--out",
            "{tmp}/o.h5",
        ],
        2,
        r"sigma: must be a number in \(0, 1000\]",
        _sha,
    ),
    Case(
        "density: beta inf",
        [
            *SHA_TEST,
            "--beta",
            "inf",
            "--out",
            "{tmp}/o.h5",
        ],
        2,
        "--beta.*'inf' is not a finite number",
        _sha,
    ),
    Case(
        "density: --out is the ground truth",
        [
            *SHA_TEST,
            "--out",
            "{tmp}/sha/test_data/ground-truth/GT_IMG_1.mat",
        ],
        2,
        "GT_IMG_1.mat: exists and is not a headcount density store; not replacing it",
        _sha,
    ),
    Case(
        "density: --out under a file",
        [
            *SHA_TEST,
            "--out",
            "{tmp}/sha/test_data/images/IMG_1.jpg/o.h5",
        ],
        1,
        "IMG_1.jpg",
        _sha,
    ),
    Case(
        "density: decompression bomb",
        ["density", "--from", "points", "--root", "{tmp}/ann", "--split", "all", "--out", "{tmp}/o.h5"],
        1,
        "big.png: refusing a decompression bomb",
        _bomb,
    ),
    Case(
        "density: ucf ² image",
        UCF_FOLD1,
        1,
        "ucf: empty split",
        _ucf_copy(12, "²"),
    ),
    Case(
        "density: ucf 1 and 01 collide",
        UCF_FOLD1,
        1,
        "image number 1 also names",
        _ucf_copy(1, "01"),
    ),
    Case(
        "inspect: attributes missing",
        ["inspect", "{tmp}/store.h5"],
        1,
        "store.h5: damaged store: attribute.*params",
        _damaged_attrs,
    ),
    Case(
        "inspect: corrupted chunk",
        ["inspect", "{tmp}/store.h5"],
        1,
        "store.h5: damaged entry for image",
        _damaged_chunk,
    ),
    Case(
        "export: corrupted chunk",
        ["export", "{tmp}/store.h5", "--out", "{tmp}/csrnet"],
        1,
        "store.h5: damaged entry",
        _damaged_chunk,
    ),
    Case(
        "train: store missing",
        ["train", "--params", "{tmp}/params.yaml", "--store", "{tmp}/none.h5", "--out", "{tmp}/models"],
        1,
        "none.h5: density store not found",
    ),
    Case(
        "train: corrupted chunk",
        ["train", "--params", "{tmp}/params.yaml", "--store", "{tmp}/store.h5", "--out", "{tmp}/models"],
        1,
        "store.h5: damaged entry",
        _damaged_chunk,
    ),
    Case(
        "train: batch_size 0",
        TRAIN_ARGS,
        2,
        "params.yaml: train.batch_size must be at least 1",
        train={"batch_size": 0},
    ),
    Case(
        "train: lr abc",
        TRAIN_ARGS,
        2,
        "params.yaml: train.lr must be a number, got 'abc'",
        train={"lr": "abc"},
    ),
    Case(
        "train: epochs '2'",
        TRAIN_ARGS,
        2,
        "train.epochs must be a whole number, got '2'",
        train={"epochs": "2"},
    ),
    Case(
        "train: optimizer adamw",
        TRAIN_ARGS,
        2,
        "train.optimizer must be one of adam, sgd, got 'adamw'",
        train={"optimizer": "adamw"},
    ),
    Case(
        "train: crop not a multiple of 8",
        TRAIN_ARGS,
        2,
        "train.crop_height must be a multiple of 8",
        train={"crop_height": 30},
    ),
    Case(
        "train: val_fraction 1",
        TRAIN_ARGS,
        2,
        r"train.val_fraction must be in \[0, 1\)",
        train={"val_fraction": 1},
    ),
    Case(
        "train: fewer images than a batch",
        TRAIN_ARGS,
        2,
        "train.batch_size 16 is more than the 6 training images",
        train={"batch_size": 16},
    ),
    Case(
        "train: pretrained file missing",
        TRAIN_ARGS,
        1,
        "vgg.pth: model.pretrained file not found",
        model={"width": 1.0, "pretrained": "vgg.pth"},
    ),
    Case(
        "train: unknown key",
        TRAIN_ARGS,
        2,
        "unknown key.*'train': resume",
        train={"resume": True},
    ),
    Case(
        "train --resume: 0-byte last.pt",
        [*TRAIN_ARGS, "--resume"],
        1,
        "last.pt: not a headcount checkpoint",
        _truncated_last(0),
    ),
    Case(
        "train --resume: truncated last.pt",
        [*TRAIN_ARGS, "--resume"],
        1,
        "last.pt: not a headcount checkpoint",
        _truncated_last(100),
    ),
    Case(
        "count: malicious checkpoint",
        ["count", "{tmp}/img.jpg", "--checkpoint", "{tmp}/evil.pt"],
        1,
        "evil.pt: not a headcount checkpoint",
        _malicious,
    ),
    Case(
        "count: heatmap would replace another file",
        ["count", "{tmp}/img.jpg", "--checkpoint", "{tmp}/ck.pt", "--heatmap", "{tmp}/notes.json"],
        2,
        "notes.json: exists and is not a PNG image",
        _checkpoint,
    ),
    Case(
        "count: heatmap folder unwritable",
        ["count", "{tmp}/img.jpg", "--checkpoint", "{tmp}/ck.pt", "--heatmap", "{tmp}/notes.json/h.png"],
        1,
        "notes.json",
        _checkpoint,
    ),
    Case(
        "evaluate: checkpoint missing",
        [
            "evaluate",
            "--checkpoint",
            "{tmp}/none.pt",
            "--test",
            "{train}",
            "--train",
            "{train}",
            "--metrics",
            "{tmp}/m.json",
            "--predictions",
            "{tmp}/p.csv",
        ],
        1,
        "none.pt: checkpoint not found",
    ),
    Case(
        "annotate: network bind without the flag",
        ["annotate", "{tmp}", "--host", "0.0.0.0"],
        2,
        "0.0.0.0 is not loopback; add --allow-remote",
    ),
    Case("params.yaml missing", ["train", "--params", "{tmp}/nothing.yaml"], 2, "nothing.yaml: cannot read"),
    Case(
        "export-model: calibration from a folder without images",
        ["export-model", "{tmp}/ck.pt", "--out", "{tmp}/m.onnx", "--int8", "--calibrate", "{tmp}/empty"],
        2,
        "empty: no usable calibration image",
        _calibration,
    ),
    Case(
        "export-model: calibration from a 1x1 image",
        ["export-model", "{tmp}/ck.pt", "--out", "{tmp}/m.onnx", "--int8", "--calibrate", "{tmp}/tiny"],
        2,
        "tiny: no usable calibration image",
        _calibration,
    ),
    Case(
        "export-model: int8 counts that move past the bound",
        ["export-model", "{tmp}/ck.pt", "--out", "{tmp}/m.onnx", "--int8", "--max-change", "1e-9"],
        1,
        r"m.onnx: int8 counts move .* over --max-change 0%; not written",
        _checkpoint,
    ),
    Case(
        "count: zone coordinates true/false",
        [*COUNT, "--zones", "{tmp}/bool.yaml"],
        1,
        r"bool.yaml: zone 'a': polygon\[0\]\[0\]: input should be a valid number \(got True\)",
        _zones,
    ),
    Case(
        "count: a zone key given twice",
        [*COUNT, "--zones", "{tmp}/dup.yaml"],
        1,
        "the key 'name' appears twice",
        _zones,
    ),
    Case(
        "count: a 400-digit zone coordinate",
        [*COUNT, "--zones", "{tmp}/huge.yaml"],
        1,
        r"huge.yaml: zone 'a': polygon\[0\]\[0\]: input should be a valid number",
        _zones,
    ),
    Case("count: zones nested 100k deep", [*COUNT, "--zones", "{tmp}/deep.yaml"], 1, "nested too deeply", _zones),
    Case("count: --threshold nan", [*COUNT, "--threshold", "nan"], 2, "'nan' is not a finite number", _video),
    Case("count: --threshold -5", [*COUNT, "--threshold", "-5"], 2, "--threshold.*not in the range x>=0", _video),
    Case("count: --fps nan", [*COUNT, "--fps", "nan"], 2, "--fps.*'nan' is not a finite number", _video),
    Case("count: --smooth nan", [*COUNT, "--smooth", "nan"], 2, "--smooth.*'nan' is not a finite number", _video),
    Case(
        "count: an image over the pixel bound of one model call",
        ["count", "{tmp}/big.png", "--checkpoint", "{tmp}/ck.pt"],
        1,
        "big.png: 8000x8000 is over the 16.8-megapixel bound",
        _big_and_looped,
    ),
    Case(
        "count: an image that is a symlink to itself",
        ["count", "{tmp}/loop.jpg", "--checkpoint", "{tmp}/ck.pt"],
        1,
        "loop.jpg: cannot read the image header .*symbolic links",
        _big_and_looped,
    ),
    Case(
        "convert: a labelme imageHeight given as text",
        ["convert", "--from", "labelme", "--root", "{tmp}/lm", "--split", "all", "--to", "points"]
        + ["--out", "{tmp}/out"],
        1,
        r"a.json: imageHeight: input should be a valid integer \(got '48'\)",
        _labelme_text_size,
    ),
    Case(
        "inspect: a store whose params is a list",
        ["inspect", "{tmp}/list.h5"],
        1,
        "list.h5: damaged store: attribute 'params' is not a JSON object",
        _params_not_an_object,
    ),
    Case(
        "report: a store whose params is null",
        ["report", "{tmp}/null.h5", "--out", "{tmp}/rep"],
        1,
        "null.h5: damaged store: attribute 'params' is not a JSON object",
        _params_not_an_object,
    ),
    Case(
        "convert: an absolute id in an NWPU split list",
        ["convert", "--from", "nwpu", "--root", "{tmp}/nwpu", "--split", "val", "--to", "nwpu", "--out", "{tmp}/o"],
        1,
        "val.txt: image id '/.*secret2/x' is not a plain file name",
        _nwpu_absolute,
    ),
    Case(
        "convert: a labelme coordinate of 400 digits",
        ["convert", "--from", "labelme", "--root", "{tmp}/lm", "--split", "all", "--to", "points", "--out", "{tmp}/o"],
        1,
        "a.json: refused JSON: an integer of 400 digits",
        _labelme_hostile_json,
    ),
    Case(
        "convert: labelme JSON nested 100k deep",
        ["convert", "--from", "labelme", "--root", "{tmp}/lm2", "--split", "all", "--to", "points", "--out", "{tmp}/o"],
        1,
        "a.json: JSON nested too deeply",
        _labelme_hostile_json,
    ),
    Case(
        "count: --out onto ground truth",
        [*COUNT, "--out", "{tmp}/sha/test_data/ground-truth/GT_IMG_1.mat"],
        2,
        "GT_IMG_1.mat: exists and is not a headcount records file",
        _video,
    ),
    Case(
        "count: --out onto a density store",
        [*COUNT, "--out", "{tmp}/store.h5"],
        2,
        "store.h5: exists and is not a headcount records file",
        _video,
    ),
    Case(
        "count: --out onto the input video",
        [*COUNT, "--out", "{tmp}/v.mp4"],
        2,
        "v.mp4: is an input of this command",
        _video,
    ),
    Case(
        "count: --overlay onto the input video",
        [*COUNT, "--out", "{tmp}/rows.csv", "--overlay", "{tmp}/v.mp4"],
        2,
        "v.mp4: is an input of this command",
        _video,
    ),
    Case(
        "count: --overlay onto a video it did not write",
        [*COUNT, "--out", "{tmp}/rows.csv", "--overlay", "{tmp}/holiday.mp4"],
        2,
        "holiday.mp4: exists and is not a headcount overlay video",
        _video,
    ),
    Case(
        "count: --alerts onto ground truth",
        [*COUNT, "--out", "{tmp}/rows.csv", "--alerts", "{tmp}/sha/test_data/ground-truth/GT_IMG_1.mat"],
        2,
        "GT_IMG_1.mat: exists and is not a headcount alert log",
        _video,
    ),
    Case(
        "count: --heatmap onto the input image",
        ["count", "{tmp}/img.jpg", "--checkpoint", "{tmp}/ck.pt", "--heatmap", "{tmp}/img.jpg"],
        2,
        "img.jpg: is an input of this command",
        _checkpoint,
    ),
    Case(
        "convert: an NWPU split list that walks out of the root",
        ["convert", "--from", "nwpu", "--root", "{tmp}/nwpu", "--split", "val", "--to", "nwpu"]
        + ["--out", "{tmp}/nwpu2/x/y"],
        1,
        "val.txt: image id '../../secret2/x' is not a plain file name",
        _nwpu_escape,
    ),
    Case(
        "convert: a labelme imagePath outside the root",
        ["convert", "--from", "labelme", "--root", "{tmp}/lm", "--split", "all", "--to", "points"]
        + ["--out", "{tmp}/out"],
        1,
        "a.json: .*private.jpg leads outside",
        _labelme_escape,
    ),
    Case(
        "convert: --to points over an annotator's work",
        ["convert", "--from", "shanghaitech", "--root", "{tmp}/sha", "--split", "test", "--to", "points"]
        + ["--out", "{tmp}/ann", "--out-split", "all"],
        2,
        r"ann: is not empty and holds no earlier headcount points output; not writing into it",
        _annotated,
    ),
    Case(
        "report: a user's file where the report's CSV goes",
        ["report", "{train}", "--out", "{tmp}/rep"],
        2,
        "counts.csv: exists and is not a headcount counts.csv",
        _report_folder,
    ),
    Case(
        "report: the store itself inside --out",
        ["report", "{tmp}/rep/report.json", "--out", "{tmp}/rep"],
        2,
        "report.json: is an input of this command",
        _store_in_report_folder,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_gives_one_line_the_right_code_and_writes_nothing(case, tiny_stores, tmp_path, capsys, monkeypatch):
    work = tmp_path / "w"
    work.mkdir()
    monkeypatch.chdir(work)  # default outputs (dvclive/, models/) land here, where the snapshot sees them
    params = {
        **{name: committed(name) for name in ("density", "run")},
        "model": committed("model", **{"width": 0.0625, **case.model}),
        "train": committed("train", **{**TRAIN, **case.train}),
    }
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    if case.setup:
        case.setup(work, tiny_stores)
    before = snapshot(work)
    args = [a.format(tmp=work, train=tiny_stores["train"]) for a in case.args]
    code, err = run_main(args, capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == case.code, err
    assert "Traceback" not in err and len(lines) == 1, err
    assert lines[0].startswith("error: ") or lines[0].startswith("Error: "), err
    assert re.search(case.message, lines[0]), lines[0]
    assert snapshot(work) == before  # nothing written, nothing replaced
    assert not (work / "pwned").exists()
