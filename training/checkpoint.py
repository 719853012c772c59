"""Fine-tuning checkpoints: written whole or not at all, and resumed only by the run that wrote them.

A checkpoint resumed under another learning rate, seed or label mask, or over training or validation rows that changed
since (new moderator decisions, another corpus limit), used to carry on silently: the run's card then described a model that no
single configuration trained. The checkpoint now records both, and a resume that disagrees stops with one line.

A run killed while writing (out of memory, a pre-empted machine) used to leave a half-written file that the next
resume could not read, or new weights beside the previous step's optimiser state. Every file is now written beside
its final name first and renamed into place only when all of them are on disk, state.pt last: a kill while writing
(seconds) leaves the previous checkpoint whole; only one between the renames (microseconds) could leave a mix.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from labels.schema import LabelledComment
from labels.sets import sha256_of_rows
from threadguard.errors import ConfigError
from training.config import TransformerConfig

# Settings a resumed run may change: how long it runs and how often it validates, the dtype of its steps (a run moved
# to another machine), and what happens after fine-tuning (export, int8, the spam head). Every other setting, including
# ones added later, shapes what the steps compute and must match.
RESUMABLE_SETTINGS = frozenset({"max_steps", "epochs", "patience", "eval_every", "eval_batch_size", "mixed_precision", "spam_head",
                                "spam_bare_pitches", "quantize_per_channel"})
RESUMABLE_PREFIXES = ("int8_",)


def rows_fingerprint(rows: Sequence[LabelledComment], weights: Sequence[float]) -> str:
    """A digest of the rows (labels.sets.sha256_of_rows, the sets' own identity) and their training weights, in order:
    the weights come from the data config (a source's weight), which TransformerConfig does not hold."""
    digest = hashlib.sha256(sha256_of_rows(rows).encode())
    digest.update(np.asarray(weights, dtype=np.float32).tobytes())
    return digest.hexdigest()


def run_identity(config: TransformerConfig, seed: int, fingerprints: dict[str, str]) -> dict[str, Any]:
    """What state.pt records about the run: the settings that must match on resume, the seed and the digests of its
    rows (rows_fingerprint, by part: "training", "validation"). Plain strings only, so torch.load(weights_only=True)
    reads it back."""
    settings = config.model_dump(mode="json")
    fixed = {key: repr(value) for key, value in sorted(settings.items())
             if key not in RESUMABLE_SETTINGS and not key.startswith(RESUMABLE_PREFIXES)}
    return {"settings": fixed, "seed": str(seed), "rows": dict(sorted(fingerprints.items()))}


def check_resume(saved: dict[str, Any] | None, current: dict[str, Any], where: Path) -> None:
    """Raise a one-line ConfigError if `current` (run_identity of this run) differs from what the checkpoint saved.
    Checkpoints written before the identity was recorded (saved is None) resume as they always did."""
    if saved is None:
        return
    changes = [f"{key} {old} -> {new}" for key in sorted(set(saved["settings"]) | set(current["settings"]))
               if (old := saved["settings"].get(key, "unset")) != (new := current["settings"].get(key, "unset"))]
    if saved["seed"] != current["seed"]:
        changes.append(f"seed {saved['seed']} -> {current['seed']}")
    changes += [f"the {part} rows changed" for part in current["rows"] if saved["rows"].get(part) != current["rows"][part]]
    if changes:
        raise ConfigError(f"checkpoint {where} was written by a run with other settings ({'; '.join(changes)}): resume with the "
                          "config and data that wrote it, or give an empty --checkpoint-dir")


PARTIAL_SUFFIX = ".partial"
STATE_FILE = "state.pt"  # the optimiser, schedule, step and run identity: renamed into place last


def write_checkpoint(directory: Path, weights: dict[str, dict[str, Any]], state: dict[str, Any]) -> None:
    """Write `weights` (file name -> tensors, saved as safetensors) and `state` (torch.save, plain types and tensors)
    into `directory` so that it holds the previous checkpoint until every file of this one is on disk, and no torn file."""
    import torch
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    writers: list[tuple[str, Callable[[Path], None]]] = [
        (name, lambda path, tensors=tensors: save_file({k: v.contiguous() for k, v in tensors.items()}, str(path)))
        for name, tensors in weights.items()
    ]
    writers.append((STATE_FILE, lambda path: torch.save(state, path)))
    for name, write in writers:
        partial = directory / (name + PARTIAL_SUFFIX)
        write(partial)
        with open(partial, "rb") as handle:  # on disk before any rename, so a power cut cannot keep a rename of nothing
            os.fsync(handle.fileno())
    for name, _ in writers:
        os.replace(directory / (name + PARTIAL_SUFFIX), directory / name)


def read_checkpoint_file(path: Path, read: Callable[[Path], Any]) -> Any:
    """`read(path)`, or a one-line ConfigError when the file is not one this code wrote whole (torn by a crash before
    writes were atomic, or another file under the name), instead of the reader's multi-line message."""
    try:
        return read(path)
    except Exception as exc:  # torch.load and safetensors raise several kinds (UnpicklingError, SafetensorError, ...)
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"checkpoint file {path} cannot be read ({reason}): give an empty --checkpoint-dir") from exc
