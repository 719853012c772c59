"""The fine-tuned bi-encoder as served: tokenizer.json + ONNX Runtime (int8 or fp32) on CPU, or PyTorch on CUDA.

Each comment, article ("title. lead") and parent comment is embedded on its own (mean-pooled encoder
output); serving.heads turns the three embeddings into logits. Texts are deduplicated and embedded in
length-sorted batches so padding stays small, and article embeddings are kept in a small LRU cache
(every comment under a story shares its article). A comment longer than max_length tokens is also read a
sentence at a time past its first window (serving/windows.py); a later window that scores hate or insult (or, with
a spam head, spam) at 0.5 or more on its own raises the comment's score to its own. Per-label calibration (a temperature dividing the
logit, then a bias) is applied before the sigmoid; a spam head, where the dir has one, then raises off_topic
(serving/heads.py), and is off_topic's whole score for a comment sent without its article.
"""

from __future__ import annotations

import functools
import logging
import os
import platform
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from labels.schema import LABELS
from serving.context import ContextBudget, context_parts
from serving.heads import COMMENT_LABELS, HEADS_FILE, Heads
from serving.linear import HasContext
from serving.row_parallel import RowParallelRuns
from serving.windows import tail_windows
from threadguard.errors import ArtifactError
from threadguard.settings import Runtime

log = logging.getLogger(__name__)

TOKENIZER_FILE = "tokenizer.json"
ONNX_FILE = "model.onnx"
ONNX_INT8_FILE = "model.int8.onnx"
HF_DIR = "hf"
EMBEDDING_OUTPUT = "embedding"

TORCH_RUNTIMES = ("torch", "torch-bf16")  # the encoder in PyTorch from hf/: float32 (fp16 on CUDA), or bf16 on either device


def load_tokenizer(path: Path, max_length: int):  # type: ignore[no-untyped-def]
    """A fast tokenizer from tokenizer.json that truncates to max_length and pads to the batch's longest."""
    from tokenizers import Tokenizer

    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:
        raise ArtifactError(f"{path}: cannot load tokenizer ({exc})") from exc
    tokenizer.enable_truncation(max_length=max_length)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    return tokenizer


def pad_batch(ids: Sequence[Sequence[int]]) -> dict[str, np.ndarray]:
    """int64 input_ids / attention_mask / token_type_ids, right-padded with 0 to the longest row."""
    width = max((len(row) for row in ids), default=0)
    input_ids = np.zeros((len(ids), width), dtype=np.int64)
    mask = np.zeros_like(input_ids)
    for i, row in enumerate(ids):
        input_ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
    return {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)}


# What one more encoder run costs on CPU, in padded tokens: on 2 cores a run took about 1.5 ms (ONNX Runtime int8) to
# 4.5 ms (PyTorch fp32) plus 0.07-0.1 ms per padded token. Of 16 to 256, 64 scored fastest with PyTorch and fp32 ONNX
# and within 4 % of the fastest (32) with int8; every one of them ran 2.5-3x the comments/s of fixed batches of 32
# (bench/padding.py, docs/benchmarks.md "Padding").
RUN_OVERHEAD_TOKENS = 64


def padding_plan(lengths: Sequence[int], batch_size: int, run_overhead: int) -> list[tuple[int, int]]:
    """Cut `lengths` (ascending) into consecutive [start, end) runs of at most `batch_size` rows that minimise the
    padded tokens plus `run_overhead` per run: sum(run_overhead + rows * longest row). One batch of 32 comments of
    5 to 128 tokens pads every row to 128; a few runs of similar lengths pad little and cost a few runs."""
    n = len(lengths)
    longest = np.asarray(lengths, dtype=np.float64)
    cost = np.zeros(n + 1)
    start = np.zeros(n + 1, dtype=np.int64)
    for end in range(1, n + 1):
        first = max(0, end - batch_size)
        starts = np.arange(first, end)
        # rows starts..end-1 padded to the longest of them, lengths[end - 1], since the lengths ascend
        candidates = cost[first:end] + run_overhead + (end - starts) * longest[end - 1]
        best = int(np.argmin(candidates))
        cost[end], start[end] = candidates[best], first + best
    runs = []
    end = n
    while end > 0:
        runs.append((int(start[end]), end))
        end = int(start[end])
    return runs[::-1]


def length_sorted_batches(ids: Sequence[Sequence[int]], batch_size: int, run_overhead: int | None = None
                          ) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
    """(positions in `ids`, padded batch) for consecutive batches of the rows sorted by length: padding is most of
    the cost on short comments. Batches are of `batch_size` rows, or with `run_overhead` (padded tokens one more run
    costs) cut where padding_plan says. Dynamic int8 with one scale per batch tensor takes its scales from each batch,
    so the export's smoothing calibration and such a model's scoring must batch alike: fixed batches for both."""
    order = np.argsort([len(x) for x in ids], kind="stable")
    if run_overhead is None:
        runs = [(start, min(start + batch_size, len(order))) for start in range(0, len(order), batch_size)]
    else:
        runs = padding_plan([len(ids[i]) for i in order], batch_size, run_overhead)
    for start, end in runs:
        idx = order[start:end]
        yield idx, pad_batch([ids[i] for i in idx])


def run_overhead_tokens(runtime: str, device: str, int8: dict[str, Any]) -> int | None:
    """Padded tokens one more encoder run costs (length_sorted_batches), or None for fixed batches of batch_size: on
    CUDA, where launching a run costs far more than its tokens, and for int8 with one activation scale per batch
    tensor (`int8` = config.json's backend.int8; dirs from before per-token int8 record none), whose scores move with
    a comment's batch-mates and were calibrated on fixed batches. Per-token int8, fp32 ONNX and PyTorch score a comment
    alike in any batch."""
    per_batch_scales = runtime == "onnx-int8" and int8.get("activations", "per_tensor") != "per_token"
    return None if device != "cpu" or per_batch_scales else RUN_OVERHEAD_TOKENS


def choose_runtime(device: str, requested: str | None, available: set[str]) -> Runtime:
    """int8 ONNX on CPU, PyTorch (fp16) on CUDA, unless told otherwise; fall back to what the dir holds."""
    # On CUDA: PyTorch fp16, else fp32 ONNX on ONNX Runtime's CUDA provider; int8 ONNX is a CPU format.
    order: list[Runtime] = ["torch", "onnx", "onnx-int8"] if device == "cuda" else ["onnx-int8", "onnx", "torch"]
    if requested:
        if requested not in available:
            raise ArtifactError(f"runtime {requested!r} asked for, but the model dir only has {sorted(available)}")
        return requested  # type: ignore[return-value]
    for runtime in order:
        if runtime in available:
            return runtime
    raise ArtifactError(f"the model dir has no usable weights (looked for {ONNX_INT8_FILE}, {ONNX_FILE}, {HF_DIR}/)")


def onnx_providers(device: str, runtime: str, available: Sequence[str]) -> list[str]:
    """ONNX Runtime providers: CUDA first for fp32 ONNX on a GPU when this onnxruntime build has it, else CPU (said in the log)."""
    if device == "cuda" and runtime == "onnx":
        if "CUDAExecutionProvider" in available:
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]
        log.warning("device cuda: this onnxruntime has no CUDAExecutionProvider (install onnxruntime-gpu); ONNX runs on CPU")
    return ["CPUExecutionProvider"]


# ONNX Runtime's session entry for the exact (uint8 x uint8) int8 kernel on x86 (onnx_session_options)
INT8_PRECISION_ENTRY = "session.x64quantprecision"
VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni"})
X86 = frozenset({"x86_64", "amd64", "i386", "i686"})


@functools.cache
def int8_can_saturate(cpuinfo: Path = Path("/proc/cpuinfo"), machine: str | None = None) -> bool:
    """Whether ONNX Runtime's uint8 x int8 kernel can saturate here: an x86 CPU without VNNI. When the CPU's flags cannot
    be read (not Linux) an x86 CPU is assumed to lack VNNI, so precision is kept."""
    if (machine or platform.machine()).lower() not in X86:
        return False  # the option and the saturating instruction are x86's
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return True
    flags = {flag for line in text.splitlines() if line.startswith("flags") for flag in line.partition(":")[2].split()}
    return not flags & VNNI_FLAGS


def onnx_session_options(threads: int | None = None, *, int8_precision: bool = True,  # type: ignore[no-untyped-def]
                         can_saturate: bool | None = None):
    """ONNX Runtime session options for every int8 or fp32 graph threadguard runs on CPU: the service's, and the
    tests' and benches' that check what the service computes.

    `int8_precision` turns on ONNX Runtime's `session.x64quantprecision`. On x86 CPUs without VNNI (AVX2, or AVX-512
    without VNNI), ONNX Runtime multiplies uint8 activations by int8 weights with an instruction that adds pairs of
    products into int16 and saturates, so large activations against large weights are clipped; the option makes it
    use uint8 x uint8 there instead. On one AVX2-only machine that cut a per-token projection's error on quiet tokens
    beside a loud one from 8.2 % to 0.8 %, brought a rebuild's int8 scores closer to its fp32 ones (mean |difference|
    for insult 0.0076 -> 0.0025), and changed 14 of 1,000 decisions of the default model, costing 6-18 % of int8's speed
    there (docs/benchmarks.md, "int8 on CPUs without VNNI"). CPUs with VNNI never saturate and compute the same
    without it, to the bit, but the option still swaps their VNNI kernel for the slower uint8 x uint8 one (d33898d on
    an AVX-512 VNNI EPYC: identical scores on all 1,556 in-house comments, 254 against 283-325 comments/s), so it is set
    only where the kernel can saturate (`can_saturate`, by default read from the CPU's flags: int8_can_saturate).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    # Idle intra-op threads sleep instead of spinning: in the service they share the cores with the event loop,
    # tokenisation and other requests, and spinning took CPU from them (bench.load, docs/benchmarks.md).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if int8_precision and (int8_can_saturate() if can_saturate is None else can_saturate):
        options.add_session_config_entry(INT8_PRECISION_ENTRY, "1")
    if threads:
        options.intra_op_num_threads = threads
    return options


def available_cores() -> int:
    """The cores this process may run on (a container's CPU set, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def cpu_session(model: str | Path | bytes, threads: int | None = None, *,  # type: ignore[no-untyped-def]
                int8_precision: bool = True):
    """An ONNX Runtime session on the CPU with the service's options: a graph file or serialised graph, as the tests and
    benches that check what the service computes open one, and the service's row-slice session."""
    import onnxruntime as ort

    options = onnx_session_options(threads, int8_precision=int8_precision)
    return ort.InferenceSession(model if isinstance(model, bytes) else str(model), options, providers=["CPUExecutionProvider"])


def available_runtimes(path: Path) -> set[str]:
    """Which runtimes the files in a model dir support."""
    found = set()
    if (path / ONNX_INT8_FILE).is_file():
        found.add("onnx-int8")
    if (path / ONNX_FILE).is_file():
        found.add("onnx")
    if (path / HF_DIR / "model.safetensors").is_file():
        found.update(TORCH_RUNTIMES)
    return found


class PartEmbeddings(NamedTuple):
    """What the heads read: (n, dim) embeddings of comment, article and parent, and whether each item has the last two.
    `comment` is each comment's first max_length tokens, as training saw it."""

    comment: np.ndarray
    article: np.ndarray
    parent: np.ndarray
    has_article: np.ndarray
    has_parent: np.ndarray


class CommentWindows(NamedTuple):
    """Embeddings of a batch of comments window by window: `first` (n, dim) is each comment's first max_length tokens,
    `tails` (m, dim) the further windows of the comments longer than that, and `owner` (m,) the comment each belongs to."""

    first: np.ndarray
    tails: np.ndarray
    owner: np.ndarray


class TransformerBackend:
    """predict_proba over comments with context, with one of three runtimes for the encoder."""

    ARTICLE_CACHE = 1024
    # Where a window of a long comment must cut inside a sentence, the tokens it shares with the one before
    # (serving/windows.py): a phrase of up to this many tokens is whole in one of them.
    WINDOW_OVERLAP = 32
    # The calibrated score a later window of a long comment must reach on its own to count: the cut-off where a
    # label becomes more likely than not.
    TAIL_GATE = 0.5

    def __init__(self, path: Path, params: dict[str, Any], *, device: str = "cpu", runtime: str | None = None, threads: int | None = None,
                 int8_precision: bool = True) -> None:
        self.path = path
        self.params = params
        self.max_length = int(params.get("max_length", 128))
        self.batch_size = int(params.get("batch_size", 32))
        self.budget = ContextBudget(**params.get("context", {}))
        self.temperatures = np.array([params.get("temperature", {}).get(l.value, 1.0) for l in LABELS], dtype=np.float32)
        self.biases = np.array([params.get("bias", {}).get(l.value, 0.0) for l in LABELS], dtype=np.float32)
        self.runtime = choose_runtime(device, runtime, available_runtimes(path))
        self.device = device if self.runtime in (*TORCH_RUNTIMES, "onnx") else "cpu"
        self.tokenizer = load_tokenizer(path / TOKENIZER_FILE, self.max_length)
        self.tokenizer.no_padding()  # pad_batch pads each length-sorted batch itself
        # A comment longer than max_length is read window by window for hate and insult (logits): truncated, anything
        # after its first max_length tokens went unseen, so 120 words of council business hid "Muslims are animals".
        self.whole_tokenizer = load_tokenizer(path / TOKENIZER_FILE, self.max_length)
        self.whole_tokenizer.no_padding()
        self.whole_tokenizer.no_truncation()
        specials = self.tokenizer.encode("").ids  # what wraps every window: [CLS] ... [SEP] for BERT's tokenizer
        self.window_ends = (specials[:1], specials[1:]) if len(specials) == 2 else None
        self.read_whole_comments = self.window_ends is not None
        self.heads = Heads.load(path / HEADS_FILE)
        self._articles: OrderedDict[str, np.ndarray] = OrderedDict()
        if self.runtime in TORCH_RUNTIMES:
            self._load_torch()
        else:
            self._load_onnx(ONNX_INT8_FILE if self.runtime == "onnx-int8" else ONNX_FILE, onnx_session_options(threads, int8_precision=int8_precision))
        self.run_overhead = run_overhead_tokens(self.runtime, self.device, params.get("int8") or {})
        self.row_runs = self._row_parallel(threads, int8_precision)
        log.info("transformer runtime %s on %s", self.runtime, self.device)

    def _load_onnx(self, name: str, options: Any) -> None:
        import onnxruntime as ort

        try:
            providers = onnx_providers(self.device, self.runtime, ort.get_available_providers())
            self.session = ort.InferenceSession(str(self.path / name), options, providers=providers)
            self.onnx_file = self.path / name
        except Exception as exc:
            raise ArtifactError(f"{self.path / name}: cannot load ONNX model ({exc})") from exc
        self.input_names = {i.name for i in self.session.get_inputs()}
        if "CUDAExecutionProvider" not in self.session.get_providers():
            self.device = "cpu"

    def _row_parallel(self, threads: int | None, int8_precision: bool) -> RowParallelRuns | None:
        """A second session of the same graph on one thread, to run a batch's row slices on every core at once
        (serving/row_parallel.py): ONNX on CPU, where a comment scores alike in any batch (run_overhead is set)."""
        cores = threads or available_cores()
        if self.runtime in TORCH_RUNTIMES or self.device != "cpu" or self.run_overhead is None or cores < 2:
            return None
        return RowParallelRuns(cpu_session(self.onnx_file, 1, int8_precision=int8_precision), EMBEDDING_OUTPUT, cores)

    def _load_torch(self) -> None:
        import torch
        from transformers import AutoModel
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # keep transformers' load report out of the service log
        try:
            model = AutoModel.from_pretrained(self.path / HF_DIR, add_pooling_layer=False)
        except (OSError, ValueError) as exc:
            raise ArtifactError(f"{self.path / HF_DIR}: cannot load weights ({exc})") from exc
        model.eval().to(self.device)
        if self.runtime == "torch-bf16":
            from threadguard.hardware import cpu_has_bf16

            if self.device == "cpu" and not cpu_has_bf16():
                log.warning("runtime torch-bf16: this CPU has no AMX or AVX-512 BF16, so bf16 is emulated and slower than float32")
            model.to(torch.bfloat16)  # embeddings are cast back to float32
        elif self.device == "cuda":
            model.half()  # fp16 inference on GPU; embeddings are cast back to float32
        self.torch_model = model
        self._torch = torch

    def _run(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """Mean-pooled embeddings of one padded batch."""
        if self.runtime in TORCH_RUNTIMES:
            torch = self._torch
            with torch.inference_mode():
                tensors = {k: torch.from_numpy(v).to(self.device) for k, v in batch.items()}
                hidden = self.torch_model(**tensors).last_hidden_state.float()
                mask = tensors["attention_mask"].unsqueeze(-1).float()
                return ((hidden * mask).sum(1) / mask.sum(1).clamp(min=1)).cpu().numpy()
        feed = {k: v for k, v in batch.items() if k in self.input_names}
        if self.row_runs is not None and len(batch["attention_mask"]) > 1:
            return self.row_runs.run(feed, batch["attention_mask"])
        return self.session.run([EMBEDDING_OUTPUT], feed)[0]  # one row: every core on its operators

    def _embed_ids(self, ids: Sequence[Sequence[int]]) -> list[np.ndarray]:
        """Mean-pooled embeddings of token id lists, in input order, run in length-sorted batches."""
        vectors: list[np.ndarray] = [np.empty(0, np.float32)] * len(ids)
        for idx, batch in length_sorted_batches(ids, self.batch_size, self.run_overhead):
            for i, vector in zip(idx, self._run(batch), strict=True):
                vectors[i] = vector
        return vectors

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) mean-pooled embeddings of each text's first max_length tokens, each distinct text embedded once,
        in length-sorted batches."""
        distinct = list(dict.fromkeys(texts))
        vectors = self._embed_ids([e.ids for e in self.tokenizer.encode_batch(distinct)] if distinct else [])
        position = {text: i for i, text in enumerate(distinct)}
        return np.stack([vectors[position[t]] for t in texts]).astype(np.float32) if texts else np.zeros((0, 0), np.float32)

    def _tail_ids(self, text: str, encoding: Any) -> list[list[int]]:
        """The windows after the first of `text`, from its whole encoding without special tokens, each wrapped in them."""
        head, tail = self.window_ends  # type: ignore[misc]
        capacity = self.max_length - len(head) - len(tail)
        ranges = tail_windows(encoding.offsets, text, capacity, min(self.WINDOW_OVERLAP, capacity // 2))
        return [head + encoding.ids[start:end] + tail for start, end in ranges]

    def window_ids(self, text: str) -> list[list[int]]:
        """Token ids of the windows after the first of `text` (serving/windows.py), each wrapped in the special tokens."""
        if self.window_ends is None:
            return []
        return self._tail_ids(text, self.whole_tokenizer.encode(text, add_special_tokens=False))

    def embed_windows(self, texts: Sequence[str]) -> CommentWindows:
        """Each text's first window (what `embed` gives) and the further windows of those longer than max_length, all
        in one length-sorted pass: a short text costs what it did, a long one a pass per window. Each distinct text
        is tokenized once, whole; its first window is the truncating tokenizer's ids, cut from that."""
        if self.window_ends is None:
            return CommentWindows(self.embed(texts), np.zeros((0, 0), np.float32), np.zeros(0, dtype=np.int64))
        head, tail = self.window_ends
        capacity = self.max_length - len(head) - len(tail)
        distinct = list(dict.fromkeys(texts))
        encodings = self.whole_tokenizer.encode_batch(distinct, add_special_tokens=False) if distinct else []
        ids = [head + e.ids[:capacity] + tail for e in encodings]
        tail_of: list[int] = []
        for i, (text, encoding) in enumerate(zip(distinct, encodings, strict=True)):
            for window in self._tail_ids(text, encoding):
                ids.append(window)
                tail_of.append(i)
        vectors = self._embed_ids(ids)
        position = {text: i for i, text in enumerate(distinct)}
        first = np.stack([vectors[position[t]] for t in texts]).astype(np.float32) if texts else np.zeros((0, 0), np.float32)
        windows_of: dict[int, list[np.ndarray]] = {}
        for k, of in enumerate(tail_of):
            windows_of.setdefault(of, []).append(vectors[len(distinct) + k])
        tails, owner = [], []
        for i, text in enumerate(texts):  # a text given twice owns its windows twice, like its first
            for vector in windows_of.get(position[text], []):
                tails.append(vector)
                owner.append(i)
        dim = first.shape[1] if texts else 0
        return CommentWindows(first, np.stack(tails).astype(np.float32) if tails else np.zeros((0, dim), np.float32), np.array(owner, dtype=np.int64))

    @property
    def cached_articles(self) -> int:
        return len(self._articles)

    def forget_articles(self) -> None:
        """Drop every cached article embedding: after the encoder's arithmetic changes (a bench swapping in simulated
        int8, say), a cached vector would mix the old arithmetic into new scores."""
        self._articles.clear()

    def _embed_articles(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._articles]
        if missing:
            for text, vector in zip(missing, self.embed(missing), strict=True):
                self._articles[text] = vector
        for text in texts:
            self._articles.move_to_end(text)
        while len(self._articles) > self.ARTICLE_CACHE:
            self._articles.popitem(last=False)
        return np.stack([self._articles[t] for t in texts])

    def embed_parts(self, items: Sequence[HasContext]) -> PartEmbeddings:
        """Raw mean-pooled embeddings of each item's comment, article and parent (zeros where a part is absent)."""
        return self._embed_parts(items)[0]

    def _embed_parts(self, items: Sequence[HasContext], *, windows: bool = False) -> tuple[PartEmbeddings, CommentWindows | None]:
        parts = [context_parts(item, self.budget) for item in items]
        whole = self.embed_windows([p.comment for p in parts]) if windows else None
        comments = whole.first if whole is not None else self.embed([p.comment for p in parts])
        has_a = np.array([bool(p.article) for p in parts])
        has_p = np.array([bool(p.parent) for p in parts])
        articles = np.zeros_like(comments)
        parents = np.zeros_like(comments)
        if has_a.any():
            articles[has_a] = self._embed_articles([p.article for p in parts if p.article])
        if has_p.any():
            parents[has_p] = self.embed([p.parent for p in parts if p.parent])
        return PartEmbeddings(comments, articles, parents, has_a, has_p), whole

    def _logits(self, items: Sequence[HasContext], windows: bool | None = None) -> tuple[np.ndarray, PartEmbeddings, np.ndarray]:
        """Raw (n, 3) logits, the part embeddings, and each comment's highest spam probability among its later windows
        that reach TAIL_GATE (0 where none does, or without a spam head). `windows` None: read_whole_comments decides."""
        parts, whole = self._embed_parts(items, windows=self.read_whole_comments if windows is None else windows)
        out = self.heads.logits(*parts)
        tail_spam = np.zeros(len(out), dtype=np.float32)
        if whole is not None and len(whole.owner):
            # hate and insult: a later window raises the comment's logit to its own where, read alone, it scores the
            # label at TAIL_GATE or more. Ungated, every long comment got more chances to score high and in-domain
            # validation lost 0.02-0.03 ROC-AUC on hate and insult (docs/benchmarks.md, "Long comments"). off_topic's
            # head keeps the first window, what the comment opens with and what it was trained on; the spam head, which
            # asks whether a text is a pitch whatever it answers, reads the later windows through the same gate.
            for column, logit in zip(COMMENT_LABELS, self.heads.comment_logits(whole.tails).T, strict=True):
                calibrated = 1.0 / (1.0 + np.exp(-(logit / self.temperatures[column] + self.biases[column])))
                counts = calibrated >= self.TAIL_GATE
                np.maximum.at(out[:, column], whole.owner[counts], logit[counts])
            if self.heads.has_spam:
                spam = self.heads.spam_probability(whole.tails)
                counts = spam >= self.TAIL_GATE
                np.maximum.at(tail_spam, whole.owner[counts], spam[counts])
        return out, parts, tail_spam

    def logits(self, items: Sequence[HasContext], *, windows: bool | None = None) -> np.ndarray:
        """Raw (n, 3) logits in input order; `windows` False reads each comment's first max_length tokens alone (None:
        read_whole_comments decides)."""
        return self._logits(items, windows)[0]

    def predict_proba(self, items: Sequence[HasContext]) -> np.ndarray:
        """Calibrated (n, 3) probabilities in LABELS order."""
        if not items:
            return np.zeros((0, len(LABELS)), dtype=np.float32)
        raw, parts, tail_spam = self._logits(items)
        scaled = raw / self.temperatures + self.biases
        spam = np.maximum(self.heads.spam_probability(parts.comment), tail_spam)
        return self.heads.with_spam_in_off_topic((1.0 / (1.0 + np.exp(-scaled))).astype(np.float32), spam, parts.has_article)
