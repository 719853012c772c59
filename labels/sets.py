"""Labelled sets: read/write JSONL, split by thread (never by comment), sha256 of canonical JSONL."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from labels.schema import LABELS, HandLabelledComment, LabelledComment, Split
from threadguard.errors import ParseError

M = TypeVar("M", bound=BaseModel)


def split_for_group(group: str, *, seed: int, fractions: tuple[float, float] = (0.8, 0.1)) -> Split:
    """Deterministic split of one group (thread, article, post) from a hash of seed and group key."""
    digest = hashlib.sha256(f"{seed}:{group}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    train, validation = fractions
    if u < train:
        return "train"
    if u < train + validation:
        return "validation"
    return "test"


def split_groups(groups: Sequence[str], *, seed: int, fractions: tuple[float, float] = (0.6, 0.2)) -> dict[str, Split]:
    """Assign a small number of groups (e.g. 10 articles) to splits, at least one group in each, seeded."""
    unique = sorted(set(groups))
    if len(unique) < 3:
        raise ValueError(f"need at least 3 groups to split, found {len(unique)}")
    rng = random.Random(seed)
    rng.shuffle(unique)
    n_valid = max(1, round(len(unique) * fractions[1]))
    n_test = max(1, round(len(unique) * (1 - fractions[0] - fractions[1])))
    n_train = len(unique) - n_valid - n_test
    out: dict[str, Split] = {}
    for i, group in enumerate(unique):
        out[group] = "train" if i < n_train else "validation" if i < n_train + n_valid else "test"
    return out


def canonical_jsonl(rows: Iterable[LabelledComment]) -> bytes:
    """Rows sorted by (source, id), one compact JSON object per line with sorted keys."""
    ordered = sorted(rows, key=lambda r: (r.source, r.id))
    # labelled_at is left out when unset, so sets made before it existed keep their hashes.
    lines = [json.dumps(r.model_dump(mode="json", exclude={"labelled_at"} if r.labelled_at is None else None), sort_keys=True, ensure_ascii=False)
             for r in ordered]
    return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""


def sha256_of_rows(rows: Iterable[LabelledComment]) -> str:
    """The set's identity: sha256 of its canonical JSONL."""
    return hashlib.sha256(canonical_jsonl(rows)).hexdigest()


def sha256_of_file(path: Path) -> str:
    """sha256 of a file's bytes, streamed."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_jsonl(rows: Iterable[LabelledComment], path: Path) -> None:
    """Write a labelled set as canonical JSONL (atomic: temp file, then rename)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(canonical_jsonl(rows))
    tmp.replace(path)


def read_jsonl(path: Path, *, hand_labelled: bool = False) -> list[LabelledComment]:
    """Read a labelled JSONL file; a bad row fails with file:line and what is wrong."""
    return read_models(path, HandLabelledComment if hand_labelled else LabelledComment, what="labelled set")


def read_models(path: Path, model: type[M], *, what: str) -> list[M]:
    """One pydantic `model` per non-blank JSONL line; an unreadable file, bytes that are not UTF-8 or a bad row fail
    as a ParseError naming the file, the line and the field (a one-line CLI error, exit 2)."""
    rows: list[M] = []
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ParseError(path, 0, f"cannot read {what}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ParseError(path, 0, "not valid UTF-8") from exc
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(model.model_validate_json(line))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "row"
            raise ParseError(path, lineno, f"{where}: {first['msg']}") from exc
    return rows


def relabel_training_rows(rows: Sequence[LabelledComment], applies: Callable[[LabelledComment], bool],
                          update: dict[str, Any]) -> tuple[list[LabelledComment], int]:
    """`rows` with `update` applied to every training row for which `applies` holds, and how many changed. A corpus's
    labels are corrected for training only: validation and test keep its own labels, so scores stay comparable."""
    out, changed = [], 0
    for row in rows:
        if row.split == "train" and applies(row):
            row = row.model_copy(update=update)
            changed += 1
        out.append(row)
    return out, changed


def label_counts(rows: Iterable[LabelledComment]) -> dict[str, dict[str, int]]:
    """Per label: positives, negatives and missing."""
    counts = {label.value: {"positive": 0, "negative": 0, "missing": 0} for label in LABELS}
    for row in rows:
        for label in LABELS:
            value = row.label(label)
            key = "missing" if value is None else "positive" if value else "negative"
            counts[label.value][key] += 1
    return counts
