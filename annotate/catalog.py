"""The images of an annotation folder, by id (the file stem).

Ids are looked up in this table, never joined into paths: a request for
``../../etc/passwd`` finds no entry instead of a file.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.errors import DataError
from pipeline.pointfile import PointFile, read_point_file, write_point_file
from pipeline.points import as_points, inside
from pipeline.readers.layout import list_images
from pipeline.sample import image_size


@dataclass(frozen=True)
class Entry:
    id: str
    path: Path
    width: int
    height: int


class StaleRevision(Exception):
    """The client's revision is not the saved one: another tab saved first."""

    def __init__(self, current: int) -> None:
        super().__init__(f"stale revision; current is {current}")
        self.current = current


class Catalog:
    """Images under ``root/images`` and their point files under ``root/points``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.points_dir = self.root / "points"
        self.entries: dict[str, Entry] = {}
        for path in list_images(self.root / "images"):
            if path.stem in self.entries:
                raise DataError(path, f"two images share the id {path.stem!r} (same file stem)")
            h, w = image_size(path)
            self.entries[path.stem] = Entry(path.stem, path, w, h)
        self._locks = {k: threading.Lock() for k in self.entries}
        # (mtime_ns, size) of each point file -> (count, revision, problem): the listing parses a file
        # only when it changed, and a save updates its own entry (an edit costs O(1), not O(images))
        self._summaries: dict[str, tuple[tuple[int, int], tuple[int, int, str, str | None]]] = {}

    def __contains__(self, image_id: str) -> bool:
        return image_id in self.entries

    def point_path(self, image_id: str) -> Path:
        return self.points_dir / f"{self.entries[image_id].id}.json"

    def summary(self, image_id: str) -> tuple[int, int, str, str | None]:
        """(count, revision, status, problem) of an image's point file; `problem` names a broken file."""
        path = self.point_path(image_id)
        try:
            st = path.stat()
        except FileNotFoundError:
            return 0, 0, "todo", None
        key = (st.st_mtime_ns, st.st_size)
        cached = self._summaries.get(image_id)
        if cached is not None and cached[0] == key:
            return cached[1]
        try:
            pf = read_point_file(path)
            value = (len(pf.points), pf.revision, pf.status, None)
        except DataError as exc:
            value = (0, 0, "todo", str(exc))
        self._summaries[image_id] = (key, value)
        return value

    def load(self, image_id: str) -> PointFile:
        """Saved points, or an empty revision 0 for an image not annotated yet (`DataError` for a broken file)."""
        e = self.entries[image_id]
        path = self.point_path(image_id)
        if not path.exists():
            return PointFile(f"images/{e.path.name}", e.width, e.height, 0, np.zeros((0, 2)))
        return read_point_file(path)

    def save(self, image_id: str, points: object, revision: int, status: str | None = None) -> PointFile:
        """Validate, check the revision and write atomically; returns what was saved.

        `status` None keeps the image's workflow status.

        Raises `DataError` for bad points (nothing written) and `StaleRevision`.
        """
        e = self.entries[image_id]
        pts = as_points(points, f"points for {image_id}")
        if not inside(pts, (e.height, e.width)).all():
            raise DataError(f"points for {image_id}", f"points outside the {e.width}x{e.height} image")
        with self._locks[image_id]:
            path = self.point_path(image_id)
            try:
                old = self.load(image_id)
            except DataError:  # a broken file: it counts as revision 0, and is kept aside, never overwritten
                old = None
                if revision == 0:
                    backup(path)
            current = old.revision if old is not None else 0
            if revision != current:
                raise StaleRevision(current)
            status = status or (old.status if old is not None else "todo")
            pf = PointFile(f"images/{e.path.name}", e.width, e.height, current + 1, pts, status)
            write_point_file(path, pf)
            st = path.stat()
            self._summaries[image_id] = ((st.st_mtime_ns, st.st_size), (len(pts), pf.revision, status, None))
            return pf


def backup(path: Path) -> Path:
    """Move a broken point file to ``<name>.broken-<n>`` (the first free n): kept for its owner, and no
    longer ``*.json``, so the `points` reader passes it over."""
    n = 1
    while (target := path.with_name(f"{path.name}.broken-{n}")).exists():
        n += 1
    path.rename(target)
    return target
