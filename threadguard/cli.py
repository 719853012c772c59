"""The `threadguard` command: one verb per stage; heavy imports happen inside commands.

stdout carries only command output (JSON lines, tables); logs and progress go to stderr. Errors are one
line on stderr: exit 2 for bad input or usage, 1 for other failures; tracebacks only with --debug.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import typer

from threadguard.errors import ThreadguardError
from threadguard.log import configure_logging
from threadguard.settings import Device, Runtime, get_settings

RUNTIME_HELP = ("A transformer's encoder: onnx-int8, onnx, torch or torch-bf16 (default: int8 ONNX on CPU, PyTorch fp16 on CUDA; "
                "torch runtimes need the dir's hf/ weights).")

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Comment moderation: parse, train, evaluate, score, serve.")
labels_app = typer.Typer(no_args_is_help=True, help="Labelled sets: import corpora, statistics.")
app.add_typer(labels_app, name="labels")
users_app = typer.Typer(no_args_is_help=True, help="Moderator and admin accounts of the moderation page.")
app.add_typer(users_app, name="users")
keys_app = typer.Typer(no_args_is_help=True, help="API keys of the scoring API.")
app.add_typer(keys_app, name="keys")
thresholds_app = typer.Typer(no_args_is_help=True, help="Per-site review/reject thresholds (a site: an API key's site, a Perspective "
                                                            "communityId or a Coral tenant id).")
app.add_typer(thresholds_app, name="thresholds")
models_app = typer.Typer(no_args_is_help=True, help="Which model the service's replicas serve: activate, roll back, shadow.")
app.add_typer(models_app, name="models")

_state = {"debug": False}


@app.callback()
def main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
    log_level: Annotated[str | None, typer.Option(help="Log level (default from THREADGUARD_LOG_LEVEL).")] = None,
) -> None:
    """threadguard: hate / insult / off_topic scoring for comment threads."""
    settings = get_settings()
    _state["debug"] = debug
    configure_logging("DEBUG" if debug else (log_level or settings.log_level), json_format=settings.log_json)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _write_lines(lines: Iterable[str], output: Path | None) -> int:
    """Write all lines to output atomically (temp file, then rename) or to stdout; returns how many."""
    count = 0
    if output is None:
        for line in lines:
            sys.stdout.write(line + "\n")
            count += 1
        sys.stdout.flush()
        return count
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", dir=output.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for line in lines:
                fh.write(line + "\n")
                count += 1
        os.replace(tmp, output)
        return count
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@app.command()
def parse(
    files: Annotated[list[Path], typer.Argument(help="Thread exports (forum text), .jsonl or .csv files.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write JSONL here instead of stdout.")] = None,
) -> None:
    """Parse thread exports into one JSON object per comment."""
    from labels.threads import parse_files

    comments = parse_files(files)
    _write_lines((c.model_dump_json() for c in comments), output)
    typer.echo(f"parsed {len(comments)} comments from {len(files)} file(s)", err=True)


@app.command()
def train(
    config: Annotated[Path, typer.Option("--config", "-c", help="A training config, e.g. training/configs/baseline.toml.")],
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a config key: --set linear.min_df=3; key+=value appends to a list: --set 'data.sources+={path = \"feedback.jsonl\"}'")] = None,
    models_dir: Annotated[Path | None, typer.Option(help="Where model dirs are written (default: models/ beside model_dir).")] = None,
    activate: Annotated[bool, typer.Option(help="Point models/current at the new model.")] = False,
    datasets_dir: Annotated[Path | None, typer.Option(help="Folder of the public corpora (default ../shared/datasets).")] = None,
    device: Annotated[Device, typer.Option(help="auto, cpu or cuda (transformer configs).")] = "auto",
    checkpoint_dir: Annotated[Path | None, typer.Option(help="Save checkpoints here and resume from them.")] = None,
    max_steps: Annotated[int | None, typer.Option(help="Quick run: stop after this many optimiser steps.")] = None,
    limit: Annotated[int | None, typer.Option(help="Quick run: at most this many training rows per source.")] = None,
) -> None:
    """Fit a model from a config, choose thresholds on validation, evaluate, and export a model dir."""
    from training.config import load_config

    settings = get_settings()
    overrides = list(set_ or [])
    if max_steps is not None:
        overrides.append(f"transformer.max_steps={max_steps}")
    cfg = load_config(config, overrides)
    # The pipeline pulls in scikit-learn, ONNX Runtime and the serving code (over a second): a bad config is told first.
    from training.pipeline import train_and_export

    if limit is not None:
        cfg = cfg.model_copy(update={"data": cfg.data.model_copy(update={"sources": [s.model_copy(update={"limit": limit}) for s in cfg.data.sources]})})
    root = models_dir or settings.model_dir.parent
    dest = train_and_export(
        cfg, datasets_dir=datasets_dir or settings.datasets_dir, models_root=root, make_current=activate, device=device, checkpoint_dir=checkpoint_dir
    )
    if dest is not None:
        typer.echo(str(dest))


@app.command()
def evaluate(
    model_dir: Annotated[Path | None, typer.Argument(help="Model dir (default: models/current).")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Also write the metrics JSON here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print metrics JSON instead of a table.")] = False,
    datasets_dir: Annotated[Path | None, typer.Option(help="Folder of the public corpora.")] = None,
    device: Annotated[Device, typer.Option(help="auto, cpu or cuda.")] = "auto",
    report: Annotated[Path | None, typer.Option(help="Also write a markdown report with plots, e.g. docs/evaluation.md.")] = None,
    compare: Annotated[list[Path] | None, typer.Option(help="Other model dirs to score on the same rows in the report.")] = None,
) -> None:
    """Recompute a model's test metrics through the same loading code the service uses."""
    from training.pipeline import evaluate_model_dir, write_evaluation_report

    settings = get_settings()
    target = model_dir or settings.model_dir
    metrics, warnings = evaluate_model_dir(target, datasets_dir=datasets_dir or settings.datasets_dir, device=device)
    if report:
        write_evaluation_report(target, report, datasets_dir=datasets_dir or settings.datasets_dir, compare=compare or [], device=device)
    for warning in warnings:
        typer.echo(f"warning: {warning}", err=True)
    if output:
        _write_lines([metrics.model_dump_json(indent=2)], output)
    if as_json:
        typer.echo(metrics.model_dump_json(indent=2))
        return
    typer.echo(f"{'set':<24} {'label':<10} {'n':>6} {'pos':>6} {'ROC-AUC':>8} {'PR-AUC':>8} {'F1@rev':>7} {'ECE':>6} {'acc@0.5':>7} {'acc@rev':>7}")
    for eval_set in metrics.eval_sets:
        for label, m in eval_set.labels.items():
            roc, pr, ece, acc, acc_review = ("n/a" if v is None else f"{v:.3f}" for v in (m.roc_auc, m.pr_auc, m.ece, m.accuracy, m.review.get("accuracy")))
            typer.echo(f"{eval_set.name:<24} {label:<10} {m.n:>6} {m.positives:>6} {roc:>8} {pr:>8} {m.review['f1']:>7.3f} {ece:>6} {acc:>7} {acc_review:>7}")


@app.command()
def calibrate(
    model_dir: Annotated[Path, typer.Argument(help="A transformer model dir to recalibrate (its weights are reused).")],
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a key of the dir's recorded training config: --set transformer.spam_head=true")] = None,
    models_dir: Annotated[Path | None, typer.Option(help="Where the new model dir is written (default: beside it).")] = None,
    activate: Annotated[bool, typer.Option(help="Point models/current at the new model.")] = False,
    datasets_dir: Annotated[Path | None, typer.Option(help="Folder of the public corpora.")] = None,
) -> None:
    """Refit calibration and thresholds (and the spam head, where the config asks for one) on the model's validation data
    into a new model dir, without retraining the encoder."""
    from training.pipeline import recalibrate_model_dir

    settings = get_settings()
    dest = recalibrate_model_dir(model_dir, datasets_dir=datasets_dir or settings.datasets_dir, models_root=models_dir or model_dir.resolve().parent,
                                 make_current=activate, overrides=set_ or [])
    typer.echo(str(dest))


@app.command()
def soup(
    model_dirs: Annotated[list[Path], typer.Argument(help="Two or more transformer model dirs of one config (e.g. seeds), with their hf/ weights.")],
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a key of the first dir's recorded training config: --set spelling_repair=true")] = None,
    models_dir: Annotated[Path | None, typer.Option(help="Where the new model dir is written (default: beside the first).")] = None,
    activate: Annotated[bool, typer.Option(help="Point models/current at the new model.")] = False,
    datasets_dir: Annotated[Path | None, typer.Option(help="Folder of the public corpora.")] = None,
) -> None:
    """Average the encoder and heads of several runs into one model, then export, calibrate, choose thresholds and evaluate as training does."""
    from training.soup import soup_model_dirs

    settings = get_settings()
    dest = soup_model_dirs(model_dirs, datasets_dir=datasets_dir or settings.datasets_dir,
                           models_root=models_dir or model_dirs[0].resolve().parent, make_current=activate, overrides=set_ or [])
    typer.echo(str(dest))


@app.command("refit-heads")
def refit_heads(
    model_dir: Annotated[Path, typer.Argument(help="A transformer model dir; its encoder is kept as it is.")],
    label: Annotated[list[str], typer.Option(help="A head to refit: hate, insult or off_topic (repeat for several).")],
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a key of the dir's recorded training config: --set data.parent_swap_pairs=true; key+=value appends to a list: --set 'data.sources+={path = \"feedback.jsonl\"}'")] = None,
    models_dir: Annotated[Path | None, typer.Option(help="Where the new model dir is written (default: beside it).")] = None,
    activate: Annotated[bool, typer.Option(help="Point models/current at the new model.")] = False,
    parent_only: Annotated[bool, typer.Option(help="off_topic moves only its weights on the parent (and its bias); the article's stay.")] = False,
    pair_guards: Annotated[bool, typer.Option(help="Guard the choice with the in-domain validation rows beside their wrong-context copies.")] = True,
    grown_guard: Annotated[bool, typer.Option(help="Guard the choice with the grown in-domain validation rows the training config "
                                                   "does not label (labels/data/inhouse-extended.jsonl).")] = True,
    datasets_dir: Annotated[Path | None, typer.Option(help="Folder of the public corpora.")] = None,
) -> None:
    """Refit heads over the frozen encoder in minutes (logistic regression on its embeddings), then calibrate, choose thresholds and evaluate as training does."""
    from labels.schema import Label
    from threadguard.errors import UsageError

    try:
        labels = [Label(name) for name in dict.fromkeys(label)]
    except ValueError as exc:
        raise UsageError(f"--label must be one of {', '.join(l.value for l in Label)}: {exc}") from exc
    from training.head_refit import GROWN_INHOUSE, refit_model_dir  # the heavy half of the CLI, after a bad --label is told

    settings = get_settings()
    dest = refit_model_dir(model_dir, labels, overrides=set_ or [], datasets_dir=datasets_dir or settings.datasets_dir,
                           models_root=models_dir or model_dir.resolve().parent, make_current=activate, parent_only=parent_only, pair_guards=pair_guards,
                           guard_set=GROWN_INHOUSE if grown_guard and GROWN_INHOUSE.is_file() else None)
    typer.echo(str(dest))


@app.command()
def score(
    inputs: Annotated[list[Path], typer.Argument(help="JSONL, CSV or thread-export files to score (JSONL or Parquet with --engine ray).")],
    model: Annotated[Path | None, typer.Option("--model", "-m", help="Model dir (default: models/current).")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write JSONL here instead of stdout.")] = None,
    device: Annotated[Device, typer.Option(help="auto, cpu or cuda.")] = "auto",
    runtime: Annotated[Runtime | None, typer.Option(help=RUNTIME_HELP)] = None,
    engine: Annotated[str, typer.Option(help="local (this process) or ray (Ray Data, on a local or existing cluster).")] = "local",
    ray_address: Annotated[str | None, typer.Option(help="With --engine ray: an existing cluster, e.g. ray://head:10001 (default RAY_ADDRESS, "
                                                         "else a local cluster).")] = None,
    actors: Annotated[int, typer.Option(help="With --engine ray: scoring actors, one CPU each.")] = 2,
) -> None:
    """Score comments: one JSON line per input row with id, scores, decision, model and language."""
    from threadguard.errors import UsageError

    settings = get_settings()
    model_dir = model or settings.model_dir
    if engine == "ray":
        from serving.archive import score_archive_lines
        from serving.model import resolve_device

        lines = score_archive_lines(inputs, model_dir, address=ray_address, actors=actors, device=resolve_device(device),
                                    runtime=runtime or settings.runtime)
        count = _write_lines(lines, output)
        typer.echo(f"scored {count} comments with {model_dir} on Ray", err=True)
        return
    if engine != "local":
        raise UsageError(f"--engine must be local or ray, not {engine!r}")
    from labels.threads import parse_file
    from serving.archive import score_in_chunks
    from serving.language import LanguageIdentifier
    from serving.model import open_scorer

    per_file = [parse_file(path) for path in inputs]  # the whole input is validated before anything is written
    scorer = open_scorer(model_dir, device=device, runtime=runtime or settings.runtime)
    language = LanguageIdentifier(settings.language_min_confidence)
    # Each file in chunks of 256 rows, as --engine ray scores it, so both engines give the very same lines.
    count = _write_lines((line for comments in per_file for line in score_in_chunks(scorer, comments, language)), output)
    typer.echo(f"scored {count} comments with {scorer.name}", err=True)


@app.command()
def check(
    model: Annotated[Path | None, typer.Argument(help="Model dir (default: models/current).")] = None,
    suite: Annotated[Path | None, typer.Option(help="Suite TOML (default: tests/functional/suite.toml).")] = None,
    normalise: Annotated[bool | None, typer.Option("--normalise/--no-normalise", help="Override the model's text normalisation (to measure it).")] = None,
    repair_spelling: Annotated[bool | None, typer.Option("--repair-spelling/--no-repair-spelling",
                                                         help="Override the model's spelling repair, a normalisation step (to measure it).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of the table.")] = False,
) -> None:
    """Run the functional test suite: pass rates per functionality, positives and negatives apart, at the 0.5 cut-off
    and at the model's review thresholds."""
    from serving.model import open_scorer
    from threadguard.artifact import review_thresholds
    from training.functional import SUITE, load_suite, run_suite, summary, table

    settings = get_settings()
    cases = load_suite(suite or SUITE)
    scorer = open_scorer(model or settings.model_dir, device="cpu", normalise=normalise, repair_spelling=repair_spelling)
    # beside the 0.5 cut-off, each label's review threshold: what a moderator is sent
    results = run_suite(scorer.predict_proba, cases, review=review_thresholds(scorer.thresholds))
    if as_json:
        typer.echo(json.dumps({"model": scorer.name, "normalise": scorer.normalise, "repair_spelling": scorer.repair_spelling} | summary(results)))  # the model card's keys
        return
    repair = ", spelling repair on" if scorer.normalise and scorer.repair_spelling else ""
    typer.echo(f"{scorer.name}, text normalisation {'on' if scorer.normalise else 'off'}{repair}, {len(cases)} cases")
    typer.echo("\n".join(table(results)))


@app.command()
def serve(
    model: Annotated[Path | None, typer.Option("--model", "-m", help="Model dir (default: models/current).")] = None,
    host: Annotated[str | None, typer.Option(help="Bind address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
    device: Annotated[Device | None, typer.Option(help="auto, cpu or cuda.")] = None,
    runtime: Annotated[Runtime | None, typer.Option(help=RUNTIME_HELP)] = None,
) -> None:
    """Run the scoring service (POST /v1/score, /v1/reports, /moderate, /healthz, /readyz, /docs)."""
    import uvicorn

    from serving.api import create_app, default_scorer_factory
    from serving.model import Scorer, warmed
    from threadguard.settings import Settings

    base = get_settings()
    updates = {k: v for k, v in {"model_dir": model, "host": host, "port": port, "device": device, "runtime": runtime}.items() if v is not None}
    settings = base.model_copy(update=updates)
    first = warmed(default_scorer_factory(settings))  # a broken model dir, or one that cannot score, fails here in one line

    def scorer_factory(wanted: Settings) -> Scorer:
        return first if wanted.model_dir == settings.model_dir else default_scorer_factory(wanted)

    app_ = create_app(settings, scorer_factory=scorer_factory)
    uvicorn.run(app_, host=settings.host, port=settings.port, log_config=None, access_log=False)


@labels_app.command("import")
def labels_import(
    corpus: Annotated[str, typer.Argument(help="Corpus name, e.g. toxicspans, hatexplain, fox_news.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write JSONL here instead of stdout.")] = None,
    path: Annotated[Path | None, typer.Option(help="Read the corpus from this folder instead of the datasets dir.")] = None,
    datasets_dir: Annotated[Path | None, typer.Option(help="Folder of the public corpora.")] = None,
) -> None:
    """Map one public corpus onto hate / insult / off_topic and write it as labelled JSONL."""
    from labels.corpora import load_corpus

    rows = load_corpus(corpus, datasets_dir or get_settings().datasets_dir, path)
    _write_lines((json.dumps(r.model_dump(mode="json"), ensure_ascii=False) for r in rows), output)


@labels_app.command("stats")
def labels_stats(
    files: Annotated[list[Path], typer.Argument(help="Labelled JSONL files.")],
) -> None:
    """Counts per label (positive / negative / missing), split and source."""
    from collections import defaultdict

    from labels.schema import LABELS
    from labels.sets import label_counts, read_jsonl

    groups = defaultdict(list)
    for path in files:
        for row in read_jsonl(path):
            groups[(row.source, row.split)].append(row)
    typer.echo(f"{'source':<18} {'split':<11} {'rows':>7} " + " ".join(f"{l.value + '+/-/?':>20}" for l in LABELS))
    for (source, split), part in sorted(groups.items()):
        counts = label_counts(part)
        cells = [f"{c['positive']}/{c['negative']}/{c['missing']}".rjust(20) for c in (counts[l.value] for l in LABELS)]
        typer.echo(f"{source:<18} {split:<11} {len(part):>7} " + " ".join(cells))


@labels_app.command("sheet")
def labels_sheet(
    pool: Annotated[Path, typer.Argument(help="The drawn comments (labels/data/inhouse/pool.jsonl).")],
    start: Annotated[int, typer.Option(help="First comment number.")] = 0,
    count: Annotated[int, typer.Option(help="How many comments.")] = 100,
    ids: Annotated[Path | None, typer.Option(help="Only these ids, one per line, in that order (a second pass).")] = None,
) -> None:
    """Print a labelling sheet: numbered comments with their article and parent, never a score."""
    from labels.inhouse import read_pool, render_sheet, select_ids

    items = read_pool(pool) if ids is None else select_ids(read_pool(pool), ids)
    typer.echo(render_sheet(items[start : start + count], start=start))


@labels_app.command("extend")
def labels_extend(
    pool: Annotated[Path, typer.Argument(help="The drawn comments (labels/data/inhouse/pool.jsonl), rewritten in place.")],
    source: Annotated[str, typer.Option(help="Add every thread of this corpus the pool does not hold yet: fox_news or globe_and_mail.")],
    datasets_dir: Annotated[Path | None, typer.Option(help="Folder of the public corpora.")] = None,
) -> None:
    """Append the remaining whole threads of one corpus to the pool; sheet numbers already answered stay valid."""
    from labels.inhouse import candidate_pool, extend_pool, read_pool, write_models

    datasets = datasets_dir or get_settings().datasets_dir
    # Flags only order the first draw; an extension takes every remaining thread, so the weak labels suffice.
    candidates = candidate_pool(datasets, datasets.parent / "seeds", lambda rows: [False] * len(rows))
    items = read_pool(pool)
    extended = extend_pool(items, candidates, source=source)
    write_models(extended, pool)
    typer.echo(f"added {len(extended) - len(items)} comments from {len({i.thread_id for i in extended[len(items):]})} threads; "
               f"they are numbered from {len(items)}", err=True)


@labels_app.command("parents")
def labels_parents(
    sets: Annotated[list[Path], typer.Argument(help="Hand-labelled sets (labels/data/inhouse*.jsonl), rewritten in place.")],
    pool: Annotated[Path | None, typer.Option(help="The drawn comments (labels/data/inhouse/pool.jsonl), rewritten in place too.")] = None,
    source: Annotated[str, typer.Option(help="The corpus whose replies carry their parent: fox_news.")] = "fox_news",
    datasets_dir: Annotated[Path | None, typer.Option(help="Folder of the public corpora.")] = None,
) -> None:
    """Give drawn comments the parent their corpus records for them (rows are matched by id; nothing else changes)."""
    from labels.corpora import load_corpus
    from labels.inhouse import fill_parents, read_pool, write_models
    from labels.sets import read_jsonl, write_jsonl
    from threadguard.errors import UsageError

    parents = {r.id: r.parent_body for r in load_corpus(source, datasets_dir or get_settings().datasets_dir) if r.parent_body}
    if not parents:
        raise UsageError(f"corpus {source!r} records no parent comments")
    if pool is not None:
        items, filled = fill_parents(read_pool(pool), parents)
        write_models(items, pool)
        typer.echo(f"{pool}: {filled} parents filled", err=True)
    for path in sets:
        rows, filled = fill_parents(read_jsonl(path, hand_labelled=True), parents)  # type: ignore[type-var]
        write_jsonl(rows, path)
        typer.echo(f"{path}: {filled} parents filled", err=True)


@labels_app.command("record")
def labels_record(
    sheets: Annotated[list[Path], typer.Argument(help="Answer files: 'N hate insult off_topic | rationale' per line.")],
    pool: Annotated[Path, typer.Option(help="The pool the sheets were printed from.")],
    labeller: Annotated[str, typer.Option(help="Who labelled.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The pass file (JSONL) to write.")],
    ids: Annotated[Path | None, typer.Option(help="The id list the sheets were printed with (a second pass).")] = None,
) -> None:
    """Turn answer sheets into a labelling pass (one LabelDecision per comment)."""
    from labels.inhouse import read_pool, read_sheet_answers, select_ids, write_models

    items = read_pool(pool) if ids is None else select_ids(read_pool(pool), ids)
    decisions = [d for sheet in sheets for d in read_sheet_answers(sheet, items, labeller=labeller)]
    write_models(decisions, output)
    typer.echo(f"recorded {len(decisions)} decisions", err=True)


@labels_app.command("agreement")
def labels_agreement(
    first: Annotated[Path, typer.Argument(help="First labelling pass (JSONL).")],
    second: Annotated[Path, typer.Argument(help="Second, independent pass (JSONL).")],
    adjudications: Annotated[Path | None, typer.Option(help="Rulings for the disagreements (JSONL).")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the adjudicated pass here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable report.")] = False,
) -> None:
    """Cohen's kappa and raw agreement per label, the disagreements, and the adjudicated labels."""
    from labels.agreement import adjudicate, compare
    from labels.inhouse import read_decisions, write_models

    a, b = read_decisions(first), read_decisions(second)
    agreements, disagreements = compare(a, b)
    if as_json:
        report = {
            "labels": {x.label.value: {"n": x.n, "raw": round(x.raw, 4), "kappa": None if x.kappa is None else round(x.kappa, 4)} for x in agreements},
            "disagreements": [{"id": d.id, "label": d.label.value, "first": d.first, "second": d.second} for d in disagreements],
        }
        typer.echo(json.dumps(report, indent=2))
    else:
        typer.echo(f"{'label':<10} {'n':>5} {'raw':>6} {'kappa':>6}")
        for x in agreements:
            typer.echo(f"{x.label.value:<10} {x.n:>5} {x.raw:>6.3f} {'n/a' if x.kappa is None else f'{x.kappa:.3f}':>6}")
        typer.echo(f"\n{len(disagreements)} disagreements:")
        for d in disagreements:
            typer.echo(f"  {d.id} {d.label.value}: {d.first} ({d.first_rationale}) vs {d.second} ({d.second_rationale})")
    if output:
        rulings = read_decisions(adjudications) if adjudications else []
        write_models(adjudicate(a, b, rulings), output)


@labels_app.command("build")
def labels_build(
    pool: Annotated[Path, typer.Argument(help="The drawn comments.")],
    decisions: Annotated[list[Path], typer.Argument(help="Adjudicated passes (JSONL); later files win for the same id.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The labelled set to write.")],
    keep_splits: Annotated[Path | None, typer.Option(help="An earlier build: its threads keep their splits, new threads join train.")] = None,
    new_split: Annotated[list[str] | None, typer.Option(help="THREAD_ID=SPLIT for a new thread that should not join train (with --keep-splits; repeatable).")] = None,
) -> None:
    """Join drawn comments and their labels into the labelled set, split by thread."""
    from labels.inhouse import build_set, read_decisions, read_pool
    from labels.schema import Split
    from labels.sets import read_jsonl, sha256_of_rows, write_jsonl
    from threadguard.errors import UsageError

    chosen: dict[str, Split] = {}
    for spec in new_split or []:  # checked before any file is read: a typo costs nothing
        thread, _, split = spec.rpartition("=")
        if not thread or split not in ("train", "validation", "test"):
            raise UsageError(f"--new-split takes THREAD_ID=train|validation|test, not {spec!r}")
        chosen[thread] = split  # type: ignore[assignment]
    merged = {d.id: d for path in decisions for d in read_decisions(path)}
    kept = None if keep_splits is None else {row.thread_id: row.split for row in read_jsonl(keep_splits)}
    rows = build_set(read_pool(pool), list(merged.values()), keep_splits=kept, new_splits=chosen)
    write_jsonl(rows, output)
    typer.echo(f"wrote {len(rows)} rows, sha256 {sha256_of_rows(rows)}", err=True)


def _sessions():  # type: ignore[no-untyped-def]
    """A session factory on the configured database, migrated to the current schema."""
    from threadguard.db import make_engine, session_factory, upgrade_schema

    engine = make_engine(get_settings().database_url)
    upgrade_schema(engine)
    return session_factory(engine)


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Option(help="moderator or admin.")] = "moderator",
) -> None:
    """Add a user; the password is read from stdin (one line), never from the command line."""
    from serving.accounts import Role, add_user
    from threadguard.errors import UsageError

    if role not in Role.__members__:
        raise UsageError(f"--role must be moderator or admin, not {role!r}")
    password = sys.stdin.readline().rstrip("\n")
    with _sessions()() as session:
        add_user(session, name, password, Role(role), actor="cli")
        session.commit()
    typer.echo(f"added {role} {name}", err=True)


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option("--name", help="Who the key is for, e.g. the forum's name.")],
    site: Annotated[str | None, typer.Option(help="The site whose thresholds decide this key's requests (threadguard thresholds set).")] = None,
) -> None:
    """Create an API key; the key is printed alone on the last line of stdout (it is stored only as a hash)."""
    from serving.accounts import create_api_key

    with _sessions()() as session:
        key = create_api_key(session, name, actor="cli", site=site)
        session.commit()
    typer.echo(f"created API key {name!r}; clients send it as: Authorization: Bearer KEY", err=True)
    typer.echo(key)


@keys_app.command("revoke")
def keys_revoke(name: Annotated[str, typer.Option("--name", help="The key's name.")]) -> None:
    """Revoke an API key: requests with it get 401 from now on."""
    from serving.accounts import revoke_api_key

    with _sessions()() as session:
        revoke_api_key(session, name, actor="cli")
        session.commit()
    typer.echo(f"revoked API key {name!r}", err=True)


@app.command()
def enqueue(
    inputs: Annotated[list[Path], typer.Argument(help="JSONL, CSV or thread-export files.")],
    model: Annotated[Path | None, typer.Option("--model", "-m", help="Model dir (default: models/current).")] = None,
    labelling: Annotated[bool, typer.Option("--labelling", help="Queue every comment for labelling, most uncertain first.")] = False,
    device: Annotated[Device, typer.Option(help="auto, cpu or cuda.")] = "auto",
) -> None:
    """Score comments and queue those scored review or reject (or all, with --labelling) for moderators."""
    from labels.threads import parse_files
    from serving.model import open_scorer
    from serving.queue import score_and_enqueue

    comments = parse_files(inputs)
    scorer = open_scorer(model or get_settings().model_dir, device=device)
    with _sessions()() as session:
        queued = score_and_enqueue(session, scorer, comments, labelling=labelling)
        session.commit()
    typer.echo(f"scored {len(comments)} comments, queued {queued}", err=True)


@labels_app.command("export")
def labels_export(
    output: Annotated[Path, typer.Option("--output", "-o", help="Labelled JSONL to write (train with it as a path source).")],
    since: Annotated[str | None, typer.Option(help="Only decisions made on or after this date (YYYY-MM-DD).")] = None,
    suggestions: Annotated[bool, typer.Option(help="Include scores suggested through Perspective's comments:suggestscore.")] = True,
) -> None:
    """Write moderators' decisions (and forums' suggested scores) as a labelled set; report kappa where two moderators overlap."""
    import datetime as dt

    from labels.feedback import export_decisions, export_suggestions
    from labels.sets import write_jsonl
    from threadguard.errors import UsageError

    try:
        start = dt.datetime.fromisoformat(since).replace(tzinfo=dt.UTC) if since else None
    except ValueError as exc:
        raise UsageError(f"--since expects a date like 2026-11-01, got {since!r}") from exc
    with _sessions()() as session:
        exported = export_decisions(session, since=start)
        suggested = export_suggestions(session, since=start) if suggestions else []
    decided = {row.id for row in exported.rows}
    suggested = [row for row in suggested if row.id not in decided]  # a moderator's decision outranks a forum's suggestion
    output.parent.mkdir(parents=True, exist_ok=True)
    write_jsonl([*exported.rows, *suggested], output)
    typer.echo(f"wrote {len(exported.rows)} decisions and {len(suggested)} suggested scores to {output} "
               f"({exported.skipped_erased} skipped: text erased)", err=True)
    if exported.overlap:
        kappas = ", ".join(f"{k} {'n/a' if v is None else f'{v:.3f}'}" for k, v in exported.kappa.items())
        typer.echo(f"{exported.overlap} comments decided by two moderators; Cohen's kappa: {kappas}", err=True)


@app.command()
def forget(author: Annotated[str, typer.Option("--author", help="The author whose comments are erased everywhere.")]) -> None:
    """Erase one author's comments with their scores, queue items and decisions."""
    from serving.privacy import forget_author

    with _sessions()() as session:
        n = forget_author(session, author, actor="cli")
    typer.echo(f"erased {n} comments", err=True)


@app.command()
def purge(days: Annotated[int | None, typer.Option(help="Retention in days (default THREADGUARD_RETENTION_DAYS).")] = None) -> None:
    """Erase the text of comments older than the retention period (scores, decisions and labels stay)."""
    from serving.privacy import erase_expired

    with _sessions()() as session:
        n = erase_expired(session, retention_days=days if days is not None else get_settings().retention_days)
    typer.echo(f"erased the text of {n} comments", err=True)


@thresholds_app.command("set")
def thresholds_set(
    site: Annotated[str, typer.Argument(help="The site.")],
    label: Annotated[str, typer.Option(help="hate, insult or off_topic.")],
    review: Annotated[float, typer.Option(help="Score at which a comment goes to review.")],
    reject: Annotated[float, typer.Option(help="Score at which a comment is rejected.")],
) -> None:
    """Set one label's thresholds for a site; every replica uses them within THREADGUARD_SITE_THRESHOLDS_SECONDS."""
    from serving.site_thresholds import set_site_threshold

    with _sessions()() as session:
        set_site_threshold(session, site, label, review, reject, actor="cli")
        session.commit()
    typer.echo(f"site {site}: {label} review at {review}, reject at {reject}", err=True)


@thresholds_app.command("list")
def thresholds_list() -> None:
    """Every site's thresholds, one JSON line per site and label."""
    from serving.site_thresholds import list_sites

    with _sessions()() as session:
        for row in list_sites(session):
            typer.echo(json.dumps({"site": row.site, "label": row.label, "review": row.review, "reject": row.reject, "updated_by": row.updated_by}))


@thresholds_app.command("clear")
def thresholds_clear(site: Annotated[str, typer.Argument(help="The site.")]) -> None:
    """Drop a site's thresholds: the model's apply again."""
    from serving.site_thresholds import clear_site

    with _sessions()() as session:
        removed = clear_site(session, site, actor="cli")
        session.commit()
    typer.echo(f"site {site}: {removed} thresholds removed", err=True)


def _models_root() -> Path:
    settings = get_settings()
    return settings.models_root


@models_app.command("list")
def models_list() -> None:
    """Model dirs under the models root, marking the live and shadow ones (one JSON line each)."""
    from labels.schema import LABELS
    from serving import assignments
    from threadguard.artifact import read_model_dir

    with _sessions()() as session:
        live, shadow = assignments.latest(session, assignments.LIVE), assignments.latest(session, assignments.SHADOW)
    root = _models_root()
    for path in assignments.model_dirs(root):
        try:
            config = read_model_dir(path, expected_labels=[label.value for label in LABELS]).config
        except ThreadguardError:
            continue
        role = [r.role for r in (live, shadow) if r is not None and r.path is not None and r.path.resolve() == path.resolve()]
        typer.echo(json.dumps({"name": path.name, "version": config.version, "kind": config.kind, "roles": role}))


@models_app.command("activate")
def models_activate(name: Annotated[str, typer.Argument(help="A dir under the models root, or a path to a model dir.")]) -> None:
    """Make NAME the live model of every replica (each switches within THREADGUARD_MODEL_POLL_SECONDS, or at once on SIGHUP).

    The dir is loaded and scores a warm-up comment first: a broken dir is refused and nothing changes.
    """
    from serving import assignments

    path = assignments.resolve_model_path(name, _models_root())
    with _sessions()() as session:
        done = assignments.assign(session, assignments.LIVE, path, actor="cli")
        session.commit()
    typer.echo(f"live model: {done.name} ({done.version}) from {path}", err=True)


@models_app.command("rollback")
def models_rollback() -> None:
    """Make the previous live model live again."""
    from serving import assignments

    with _sessions()() as session:
        done = assignments.rollback(session, actor="cli")
        session.commit()
    typer.echo(f"rolled back; live model: {done.name} ({done.version}) from {done.path}", err=True)


@models_app.command("shadow")
def models_shadow(
    name: Annotated[str | None, typer.Argument(help="The candidate model dir (omit with --off).")] = None,
    off: Annotated[bool, typer.Option("--off", help="Stop shadow scoring.")] = False,
) -> None:
    """Run a candidate in shadow: it scores the live traffic, decides nothing, and its agreement is in /metrics."""
    from serving import assignments
    from threadguard.errors import UsageError

    if (name is None) == (not off):
        raise UsageError("give a model NAME, or --off to stop shadow scoring")
    path = None if off else assignments.resolve_model_path(name, _models_root())  # type: ignore[arg-type]
    with _sessions()() as session:
        done = assignments.assign(session, assignments.SHADOW, path, actor="cli")
        session.commit()
    typer.echo("shadow scoring off" if path is None else f"shadow model: {done.name} ({done.version}) from {path}", err=True)


def run() -> None:
    """Entry point: run the app, turning threadguard errors into one-line messages and exit codes."""
    try:
        app(standalone_mode=False)
    except ThreadguardError as exc:
        if _state["debug"]:
            raise
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except (typer.Exit, SystemExit) as exc:
        code = exc.exit_code if isinstance(exc, typer.Exit) else exc.code
        sys.exit(code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(1)
    except typer.exceptions.TyperException as exc:  # usage errors: typer shows them with the usage line
        exc.show()  # type: ignore[attr-defined]
        sys.exit(getattr(exc, "exit_code", 2))
    except Exception as exc:  # anything unexpected: one line unless --debug
        if _state["debug"]:
            raise
        typer.echo(f"error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", err=True)
        sys.exit(1)
