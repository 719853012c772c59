"""Files of a transformer model dir: HF save_pretrained encoder and tokenizer, heads, fp32 ONNX, int8 dynamic ONNX.

The ONNX graphs map token ids to the mean-pooled embedding; serving.heads applies the heads in NumPy for
every runtime, so PyTorch and ONNX share one head implementation.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from serving.heads import HEADS_FILE
from serving.transformer import EMBEDDING_OUTPUT, HF_DIR, ONNX_FILE, ONNX_INT8_FILE, TOKENIZER_FILE, load_tokenizer

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")
# How int8 quantises a MatMul's input: ONNX Runtime's dynamic scheme (one scale for the whole batch tensor) or one
# scale per token (training/token_int8.py: a comment scores the same whatever it is batched with).
Int8Activations = Literal["per_tensor", "per_token"]

if TYPE_CHECKING:
    from training.config import TransformerConfig


@dataclass(frozen=True)
class Int8Recipe:
    """How model.int8.onnx is made from model.onnx, besides the calibration texts. The quantiser reads its settings from
    here only, so a setting added here is also what config.json records (`record`) and what tells recalibration to
    quantise anew (training.pipeline._int8_change)."""

    per_channel: bool = True
    activations: Int8Activations = "per_tensor"
    smoothing_alpha: float | None = None  # activation smoothing's migration strength (training/smoothing.py); None: none
    outlier_channels: int = 0  # per-token int8's channels per MatMul input kept fp32 (training/token_int8.py)
    fused_epilogues: bool = False  # smoothing and biases folded into the ops beside them (training/int8_fusion.py)

    @classmethod
    def of(cls, tcfg: TransformerConfig) -> Int8Recipe:
        return cls(per_channel=tcfg.quantize_per_channel, activations=tcfg.int8_activations, smoothing_alpha=tcfg.int8_smoothing_alpha,
                   outlier_channels=tcfg.int8_outlier_channels, fused_epilogues=tcfg.int8_fused_epilogues)

    def record(self) -> dict[str, Any]:
        """As config.json's backend.int8 holds it."""
        return asdict(self)


def drop_nan_guards(path: Path) -> int:
    """Remove the exporter's `Where(IsNaN(p), 0, p)` after each attention softmax from the ONNX file at `path`, in
    place, and return how many it removed.

    PyTorch's scaled-dot-product attention export adds the guard for query rows whose keys are all masked, where the
    softmax is NaN. A row of a comment always attends to its own [CLS] and [SEP], so no such row reaches the encoder
    (the caller checks that its tokenizer adds them), and the guard only costs time: without it int8 ran 1.10x and
    fp32 ONNX 1.04x as fast at batch 32 on 2 cores, with embeddings identical to the bit (docs/benchmarks.md,
    "NaN guards")."""
    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    replaced: dict[str, str] = {}
    dropped = []
    for node in graph.node:
        check = producer.get(node.input[0]) if node.op_type == "Where" else None
        if check is not None and check.op_type == "IsNaN" and check.input[0] == node.input[2]:
            replaced[node.output[0]] = node.input[2]
            dropped += [node, check]
    if not dropped:
        return 0
    for output in graph.output:
        if output.name in replaced:
            raise ValueError(f"{path}: a NaN guard feeds the graph output {output.name!r}")
    for node in dropped:
        graph.node.remove(node)
    for node in graph.node:
        node.input[:] = [replaced.get(name, name) for name in node.input]
    used = {name for node in graph.node for name in node.input} | {output.name for output in graph.output}
    # The guards' zeros came from Constant nodes; left behind, ONNX Runtime warns about each at every session start.
    for node in [n for n in graph.node if n.op_type == "Constant" and not set(n.output) & used]:
        graph.node.remove(node)
    unused = [init for init in graph.initializer if init.name not in used]
    for init in unused:
        graph.initializer.remove(init)
    onnx.save(model, str(path))
    return len(dropped) // 2


def export_onnx(encoder, path: Path, *, every_row_attends: bool = False) -> None:  # type: ignore[no-untyped-def]
    """fp32 ONNX of encoder + mean pooling, dynamic batch and sequence axes (TorchScript exporter: no onnxscript).
    With `every_row_attends` (each input row has at least one unmasked token), the attention's NaN guards are
    dropped (drop_nan_guards)."""
    import torch

    from training.finetune import mean_pool

    class MeanPooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state
            return mean_pool(hidden, attention_mask)

    model = MeanPooled().eval().to("cpu")
    dummy = {
        "input_ids": torch.ones((2, 8), dtype=torch.long),
        "attention_mask": torch.ones((2, 8), dtype=torch.long),
        "token_type_ids": torch.zeros((2, 8), dtype=torch.long),
    }
    dynamic = {name: {0: "batch", 1: "sequence"} for name in dummy} | {EMBEDDING_OUTPUT: {0: "batch"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation warning
        torch.onnx.export(
            model, (dummy["input_ids"], dummy["attention_mask"], dummy["token_type_ids"]), str(path),
            input_names=list(dummy), output_names=[EMBEDDING_OUTPUT], dynamic_axes=dynamic, opset_version=17, dynamo=False,
        )
    if every_row_attends:
        drop_nan_guards(path)


def quantize_int8(source: Path, dest: Path, *, per_channel: bool, exclude: Sequence[str] = (), activations: Int8Activations = "per_tensor",
                  batches: Iterable[Mapping[str, np.ndarray]] | None = None, outlier_channels: int = 0) -> None:
    """Dynamic int8 weights; per-channel keeps the sentence representation close to fp32 (see MODELS.md). Nodes named
    in `exclude` stay fp32 (bench/int8_agreement.py measures what that buys). Per-token activations always quantise
    weights per output channel, take no exclusions, round the weights by GPTQ on calibration `batches` if given
    (per-tensor int8 does not read them), and keep each MatMul input's `outlier_channels` largest channels in fp32."""
    import logging

    if activations == "per_token":
        from training.token_int8 import quantize_per_token

        if exclude:
            raise ValueError("per-token int8 quantises every weighted MatMul; it takes no exclusions")
        quantize_per_token(source, dest, batches, outliers=outlier_channels)
        return
    if outlier_channels:
        raise ValueError("outlier channels are a per-token int8 option (training/token_int8.py)")

    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.WARNING)  # the quantiser logs every tensor at INFO on the root logger
    try:
        quantize_dynamic(str(source), str(dest), weight_type=QuantType.QInt8, per_channel=per_channel, nodes_to_exclude=list(exclude))
    finally:
        root.setLevel(level)


def quantize_smoothed_int8(source: Path, dest: Path, batches: Iterable[Mapping[str, np.ndarray]], *, alpha: float, per_channel: bool,
                           activations: Int8Activations = "per_tensor", outlier_channels: int = 0) -> None:
    """Dynamic int8 of an activation-smoothed copy of `source` (training/smoothing.py), calibrated on `batches` (per-token
    int8 also rounds its weights by GPTQ on them)."""
    from training.smoothing import smooth_onnx

    batches = list(batches)
    with tempfile.TemporaryDirectory(prefix="tg-smooth-") as tmp:
        smoothed = Path(tmp) / "smoothed.onnx"
        smooth_onnx(source, smoothed, batches, alpha=alpha)
        quantize_int8(smoothed, dest, per_channel=per_channel, activations=activations, batches=batches, outlier_channels=outlier_channels)


def calibration_batches(tokenizer_path: Path, texts: Sequence[str], *, max_length: int, batch_size: int = 32) -> Iterator[dict[str, np.ndarray]]:
    """The texts as the scorer feeds them to the encoder: tokenised, length-sorted, padded per batch."""
    from serving.transformer import length_sorted_batches, load_tokenizer

    tokenizer = load_tokenizer(tokenizer_path, max_length)
    tokenizer.no_padding()
    ids = [e.ids for e in tokenizer.encode_batch(list(texts))]
    for _, batch in length_sorted_batches(ids, batch_size):
        yield batch


def transformer_files(model, base_path: str, *, recipe: Int8Recipe = Int8Recipe(),  # type: ignore[no-untyped-def]
                      calibration_texts: Sequence[str] = (), max_length: int = 128, batch_size: int = 32) -> dict[str, bytes]:
    """Everything a transformer model dir holds besides the contract JSON, as {relative path: bytes}.

    The int8 file is made by `recipe` (write_int8): with a smoothing alpha it is quantised from an activation-smoothed
    copy of the fp32 graph, calibrated on `calibration_texts`; `model.onnx` stays the plain export, so fp32 ONNX still
    matches PyTorch weight for weight. Per token, the calibration texts also drive the weights' GPTQ rounding and pick
    the outlier channels that stay fp32.
    """
    from safetensors.torch import save_file

    work = Path(tempfile.mkdtemp(prefix="tg-export-"))
    try:
        model = model.eval().to("cpu")
        model.encoder.save_pretrained(work / HF_DIR, safe_serialization=True)
        save_file(model.head_state(), str(work / HEADS_FILE))
        for name in TOKENIZER_FILES:
            if (Path(base_path) / name).is_file():
                shutil.copy(Path(base_path) / name, work / HF_DIR / name)
        shutil.copy(Path(base_path) / TOKENIZER_FILE, work / TOKENIZER_FILE)
        # A tokenizer that wraps every text in [CLS] ... [SEP] never gives a row with no token to attend to.
        export_onnx(model.encoder, work / ONNX_FILE, every_row_attends=bool(load_tokenizer(work / TOKENIZER_FILE, max_length).encode("").ids))
        write_int8(work / ONNX_FILE, work / ONNX_INT8_FILE, tokenizer=work / TOKENIZER_FILE, recipe=recipe, calibration_texts=calibration_texts,
                   max_length=max_length, batch_size=batch_size)
        return {str(p.relative_to(work)): p.read_bytes() for p in sorted(work.rglob("*")) if p.is_file()}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write_int8(source: Path, dest: Path, *, tokenizer: Path, recipe: Int8Recipe, calibration_texts: Sequence[str], max_length: int,
               batch_size: int) -> None:
    """`dest`, the int8 graph of the fp32 graph `source` as transformer_files makes it (also what recalibration runs when
    its overrides change the recipe)."""
    batches = list(calibration_batches(tokenizer, calibration_texts, max_length=max_length, batch_size=batch_size)) if calibration_texts else None
    if recipe.smoothing_alpha is None:
        quantize_int8(source, dest, per_channel=recipe.per_channel, activations=recipe.activations, batches=batches,
                      outlier_channels=recipe.outlier_channels)
    elif not batches:
        raise ValueError("activation smoothing needs calibration texts")
    else:
        quantize_smoothed_int8(source, dest, batches, alpha=recipe.smoothing_alpha, per_channel=recipe.per_channel,
                               activations=recipe.activations, outlier_channels=recipe.outlier_channels)
    if recipe.fused_epilogues:
        from training.int8_fusion import fuse_int8_file

        fuse_int8_file(dest, dest)
