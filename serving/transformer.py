"""The fine-tuned encoder as served: tokenizer.json + ONNX Runtime (int8 or fp32) on CPU, or PyTorch on CUDA.

Inputs are (comment, context) pairs from serving.context; batches are sorted by length so padding stays
small; per-label calibration (a temperature dividing the logit, then a bias) is applied before the sigmoid.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from labels.schema import LABELS
from serving.context import ContextBudget, pair_text
from serving.linear import HasContext
from threadguard.errors import ArtifactError

log = logging.getLogger(__name__)

TOKENIZER_FILE = "tokenizer.json"
ONNX_FILE = "model.onnx"
ONNX_INT8_FILE = "model.int8.onnx"
HF_DIR = "hf"

Runtime = Literal["onnx-int8", "onnx", "torch"]


def load_tokenizer(path: Path, max_length: int):  # type: ignore[no-untyped-def]
    """A fast tokenizer from tokenizer.json that truncates pairs to max_length and pads to the batch's longest."""
    from tokenizers import Tokenizer

    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # noqa: BLE001 - the tokenizers library raises a bare Exception on bad files
        raise ArtifactError(f"{path}: cannot load tokenizer ({exc})") from exc
    tokenizer.enable_truncation(max_length=max_length, strategy="longest_first")
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    return tokenizer


def encode(tokenizer, pairs: Sequence[tuple[str, str]]) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    """int64 input_ids / attention_mask / token_type_ids for a batch of (comment, context) pairs."""
    encodings = tokenizer.encode_batch([(a, b) if b else a for a, b in pairs])
    return {
        "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
        "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
    }


def choose_runtime(device: str, requested: str | None, available: set[str]) -> Runtime:
    """int8 ONNX on CPU, PyTorch (fp16) on CUDA, unless told otherwise; fall back to what the dir holds."""
    order: list[Runtime] = ["torch", "onnx-int8", "onnx"] if device == "cuda" else ["onnx-int8", "onnx", "torch"]
    if requested:
        if requested not in available:
            raise ArtifactError(f"runtime {requested!r} asked for, but the model dir only has {sorted(available)}")
        return requested  # type: ignore[return-value]
    for runtime in order:
        if runtime in available:
            return runtime
    raise ArtifactError(f"the model dir has no usable weights (looked for {ONNX_INT8_FILE}, {ONNX_FILE}, {HF_DIR}/)")


def available_runtimes(path: Path) -> set[str]:
    """Which runtimes the files in a model dir support."""
    found = set()
    if (path / ONNX_INT8_FILE).is_file():
        found.add("onnx-int8")
    if (path / ONNX_FILE).is_file():
        found.add("onnx")
    if (path / HF_DIR / "model.safetensors").is_file():
        found.add("torch")
    return found


class TransformerBackend:
    """predict_proba over (comment, context) pairs with one of three runtimes."""

    def __init__(self, path: Path, params: dict[str, Any], *, device: str = "cpu", runtime: str | None = None, threads: int | None = None) -> None:
        self.path = path
        self.params = params
        self.max_length = int(params.get("max_length", 128))
        self.batch_size = int(params.get("batch_size", 32))
        self.budget = ContextBudget(**params.get("context", {}))
        self.temperatures = np.array([params.get("temperature", {}).get(l.value, 1.0) for l in LABELS], dtype=np.float32)
        self.biases = np.array([params.get("bias", {}).get(l.value, 0.0) for l in LABELS], dtype=np.float32)
        self.runtime = choose_runtime(device, runtime, available_runtimes(path))
        self.device = device if self.runtime == "torch" else "cpu"
        self.tokenizer = load_tokenizer(path / TOKENIZER_FILE, self.max_length)
        if self.runtime == "torch":
            self._load_torch()
        else:
            self._load_onnx(ONNX_INT8_FILE if self.runtime == "onnx-int8" else ONNX_FILE, threads)
        log.info("transformer runtime %s on %s", self.runtime, self.device)

    def _load_onnx(self, name: str, threads: int | None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(self.path / name), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types for corrupt files
            raise ArtifactError(f"{self.path / name}: cannot load ONNX model ({exc})") from exc
        self.input_names = {i.name for i in self.session.get_inputs()}

    def _load_torch(self) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification

        try:
            model = AutoModelForSequenceClassification.from_pretrained(self.path / HF_DIR)
        except (OSError, ValueError) as exc:
            raise ArtifactError(f"{self.path / HF_DIR}: cannot load weights ({exc})") from exc
        model.eval().to(self.device)
        if self.device == "cuda":
            model.half()  # fp16 inference on GPU; logits are cast back to float32
        self.torch_model = model
        self._torch = torch

    def logits(self, items: Sequence[HasContext]) -> np.ndarray:
        """Raw (n, 3) logits, computed in length-sorted batches and returned in input order."""
        pairs = [pair_text(item, self.budget) for item in items]
        order = np.argsort([len(a) + len(b) for a, b in pairs], kind="stable")
        out = np.zeros((len(items), len(LABELS)), dtype=np.float32)
        for start in range(0, len(items), self.batch_size):
            idx = order[start : start + self.batch_size]
            batch = encode(self.tokenizer, [pairs[i] for i in idx])
            out[idx] = self._run(batch)
        return out

    def _run(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        if self.runtime == "torch":
            torch = self._torch
            with torch.inference_mode():
                tensors = {k: torch.from_numpy(v).to(self.device) for k, v in batch.items()}
                return self.torch_model(**tensors).logits.float().cpu().numpy()
        feed = {k: v for k, v in batch.items() if k in self.input_names}
        return self.session.run(["logits"], feed)[0]

    def predict_proba(self, items: Sequence[HasContext]) -> np.ndarray:
        """Calibrated (n, 3) probabilities in LABELS order."""
        if not items:
            return np.zeros((0, len(LABELS)), dtype=np.float32)
        scaled = self.logits(items) / self.temperatures + self.biases
        return (1.0 / (1.0 + np.exp(-scaled))).astype(np.float32)
