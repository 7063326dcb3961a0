"""Serving an image in the pipeline's pixel frame: the stored pixels, whatever EXIF orientation says.

Why: the readers, the density stage and the training loader use the pixels as
stored (ShanghaiTech-style ground truth does), but a browser rotates a JPEG by
its EXIF Orientation tag before drawing it. A phone photo tagged "rotate 90"
would be shown turned and stretched, and every click saved in the wrong frame.
The page is therefore sent the file with its Orientation set to 1 (top-left):
only that value changes, byte for byte, so the browser shows what the pipeline
loads. The page also checks the decoded size against the stored one and
refuses to annotate on a mismatch.
"""

from __future__ import annotations

import struct
import zlib

ORIENTATION_TAG = 0x0112
HEADER_BYTES = 256 * 1024  # EXIF lives in the first segments; never scan a whole image


def _patch_tiff(buf: bytearray, start: int) -> int | None:
    """Set the Orientation in the TIFF structure at `start` to 1; return the old value (None if absent)."""
    order = {b"II": "<", b"MM": ">"}.get(bytes(buf[start : start + 2]))
    if order is None:
        return None
    (ifd,) = struct.unpack_from(order + "I", buf, start + 4)
    (count,) = struct.unpack_from(order + "H", buf, start + ifd)
    for k in range(count):
        entry = start + ifd + 2 + 12 * k
        tag, kind = struct.unpack_from(order + "HH", buf, entry)
        if tag == ORIENTATION_TAG and kind == 3:  # SHORT, value inline
            (old,) = struct.unpack_from(order + "H", buf, entry + 8)
            struct.pack_into(order + "H", buf, entry + 8, 1)
            return old
    return None


def _jpeg(buf: bytearray) -> int | None:
    i = 2
    while i + 4 <= len(buf) and buf[i] == 0xFF:
        marker = buf[i + 1]
        if marker in (0x01, *range(0xD0, 0xD9)):
            i += 2
            continue
        if marker == 0xDA:  # start of scan: no metadata after this
            return None
        (length,) = struct.unpack_from(">H", buf, i + 2)
        if marker == 0xE1 and bytes(buf[i + 4 : i + 10]) == b"Exif\0\0":
            return _patch_tiff(buf, i + 10)
        i += 2 + length
    return None


def _png(buf: bytearray) -> int | None:
    i = 8
    while i + 12 <= len(buf):
        (length,) = struct.unpack_from(">I", buf, i)
        kind = bytes(buf[i + 4 : i + 8])
        if kind == b"eXIf":
            old = _patch_tiff(buf, i + 8)
            if old is not None:
                crc = zlib.crc32(bytes(buf[i + 4 : i + 8 + length])) & 0xFFFFFFFF
                struct.pack_into(">I", buf, i + 8 + length, crc)
            return old
        if kind == b"IDAT":
            return None
        i += 12 + length
    return None


def stored_frame(data: bytes) -> tuple[bytes, int | None]:
    """(the file with EXIF Orientation set to 1, the orientation it had or None).

    JPEG (APP1 Exif) and PNG (eXIf) are handled; anything malformed is returned
    unchanged, and the page's size check stands guard.
    """
    if data[:2] == b"\xff\xd8":
        patch = _jpeg
    elif data[:8] == b"\x89PNG\r\n\x1a\n":
        patch = _png
    else:
        return data, None
    head = bytearray(data[:HEADER_BYTES])
    try:
        old = patch(head)
    except (struct.error, IndexError):
        return data, None
    if old is None or old == 1:
        return data, old
    return bytes(head) + data[HEADER_BYTES:], old
