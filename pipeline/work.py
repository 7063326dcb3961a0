"""A team's record of an annotated image: workflow status, review, and who added each head.

The annotation tool writes it into point files (`pipeline.pointfile`); the CVAT,
Label Studio and COCO readers and writers carry it in their own fields. One
definition, so that every format checks a status, a name or a review alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import DataError

STATUSES = ("todo", "done", "reviewed")
VERDICTS = ("accepted", "rejected")
MAX_NAME = 64  # characters of a user name
MAX_COMMENT = 2000  # characters of a review comment


@dataclass(frozen=True)
class Review:
    """A reviewer's verdict on an image: accepted (status reviewed) or rejected (back to todo), with a comment."""

    verdict: str
    by: str | None = None
    comment: str = ""

    def as_json(self) -> dict:
        return {"verdict": self.verdict, "by": self.by, "comment": self.comment}


@dataclass(frozen=True)
class Work:
    """A team's record of one annotated image: who added each head, its workflow status and who set it,
    and the last review. The annotation tool writes it (point files); the CVAT, Label Studio and COCO
    writers carry it in their own fields, and their readers give it back."""

    by: tuple[str | None, ...]
    status: str = "todo"
    status_by: str | None = None
    review: Review | None = None

    def __post_init__(self) -> None:
        parse_status(self.status, "a sample's work")

    @property
    def named(self) -> bool:
        """Whether it says anything beyond an unreviewed image of nobody's heads."""
        return any(self.by) or self.status != "todo" or self.status_by is not None or self.review is not None


def parse_status(value: object, source: str | Path, what: str = "status") -> str:
    """A workflow status (one of `STATUSES`); `DataError` naming `source` and `what` for anything else."""
    if value not in STATUSES:
        raise DataError(source, f"{what} must be one of {', '.join(STATUSES)}, got {value!r}")
    return value


def parse_name(value: object, source: str | Path, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= MAX_NAME:
        raise DataError(source, f"{what} must be a user name of 1..{MAX_NAME} characters or null")
    return value


def parse_review(doc: object, source: str | Path) -> Review | None:
    """A `Review` from its JSON form (None stays None); `DataError` for a malformed one."""
    if doc is None:
        return None
    if not isinstance(doc, dict) or doc.get("verdict") not in VERDICTS:
        raise DataError(source, f'review must be {{"verdict": {" | ".join(VERDICTS)}, "by", "comment"}}')
    comment = doc.get("comment", "")
    if not isinstance(comment, str) or len(comment) > MAX_COMMENT:
        raise DataError(source, f"a review comment is text of at most {MAX_COMMENT} characters")
    return Review(doc["verdict"], parse_name(doc.get("by"), source, "review.by"), comment)
