from __future__ import annotations

from pathlib import Path

import pytest

from threadguard.errors import ConfigError
from training.config import load_config

BASELINE = Path(__file__).resolve().parents[3] / "training" / "configs" / "baseline.toml"


def test_committed_baseline_config_is_valid() -> None:
    config = load_config(BASELINE)
    assert config.kind == "linear" and "hatecheck" in config.data.eval_corpora
    assert all(s.corpus != "hatecheck" for s in config.data.sources)


def test_overrides_are_typed() -> None:
    config = load_config(BASELINE, ["linear.min_df=5", "seed=7", "name=\"other\""])
    assert (config.linear.min_df, config.seed, config.name) == (5, 7, "other")


def test_an_override_can_step_into_a_list_of_sources() -> None:
    minilm = BASELINE.with_name("minilm.toml")
    config = load_config(minilm, ["data.sources.0.path=labels/data/inhouse-extended.jsonl", "data.sources.1.weight=2.5"])
    assert config.data.sources[0].path == Path("labels/data/inhouse-extended.jsonl") and config.data.sources[0].name == "inhouse"
    assert config.data.sources[1].weight == 2.5
    assert load_config(minilm).data.sources[0].path == Path("labels/data/inhouse.jsonl")


def test_an_override_can_append_a_source_such_as_the_moderators_decisions() -> None:
    minilm = BASELINE.with_name("minilm.toml")
    before = load_config(minilm).data.sources
    config = load_config(minilm, ['data.sources+={path = "feedback.jsonl", name = "feedback", weight = 3}', "data.eval_corpora+=\"ethos\""])
    assert len(config.data.sources) == len(before) + 1 and config.data.sources[:-1] == before
    added = config.data.sources[-1]
    assert (added.path, added.name, added.weight) == (Path("feedback.jsonl"), "feedback", 3.0)
    assert config.data.eval_corpora == [*load_config(minilm).data.eval_corpora, "ethos"]
    # an appended entry can be set further by its index, and a list the config lacks starts with the appended value
    again = load_config(minilm, ['data.sources+={path = "feedback.jsonl"}', f"data.sources.{len(before)}.weight=2"])
    assert again.data.sources[-1].weight == 2.0
    appended = load_config(BASELINE, ['transformer.source_bias_labels+="hate"']).transformer.source_bias_labels  # absent from baseline.toml
    assert [label.value for label in appended] == ["hate"]  # not the default's three labels and then hate


def test_source_bias_labels_default_to_every_label_and_take_a_toml_list() -> None:
    from training.config import TransformerConfig

    minilm = BASELINE.with_name("minilm.toml")
    assert [label.value for label in TransformerConfig().source_bias_labels] == ["hate", "insult", "off_topic"]
    # The default model's config biases insult alone (README, "The default model")
    assert [label.value for label in load_config(minilm).transformer.source_bias_labels] == ["insult"]
    assert load_config(minilm).transformer.source_bias == "corpora"
    chosen = load_config(minilm, ['transformer.source_bias_labels=["hate", "insult"]']).transformer.source_bias_labels
    assert [label.value for label in chosen] == ["hate", "insult"]


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("data.sources.99.weight=2", "data.sources is a list of"),
        ("data.sources.first.weight=2", "'first' is not an index"),
        ("seed.value=2", "seed is a value, not a table"),
        ("seed+=2", "seed is not a list to append to"),
        ("seed.value+=2", "seed is not a table"),
        ('data.sources+={path = "f.jsonl", wieght = 2}', "data.sources.10.wieght: unknown key"),  # the appended source, after minilm.toml's ten
        ("transformer.int8_outlier_channels=-1", "transformer.int8_outlier_channels: Input should be greater than or equal to 0"),
        ("transformer.source_bias_labels=[]", "transformer.source_bias_labels: List should have at least 1 item"),
        ('transformer.source_bias_labels=["hate","spam"]', "transformer.source_bias_labels.1: Input should be 'hate', 'insult' or 'off_topic'"),
    ],
)
def test_a_bad_override_path_is_one_line_config_error(override: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(BASELINE.with_name("minilm.toml"), [override])
    assert fragment in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('name="x"\nbogus=1\n[data]\nsources=[{corpus="ethos"}]\n', "bogus: unknown key"),
        ('name="x"\n[data]\nsources=[{corpus="ethos", wieght=2}]\n', "data.sources.0.wieght: unknown key"),
        ('name="x"\n[data]\nsources=[]\n[linear]\nmin_df=0\n', "linear.min_df"),
        ('name="x"\n[data\n', "invalid TOML"),
        ('[data]\nsources=[{corpus="ethos"}]\n', "name: Field required"),
    ],
)
def test_bad_config_is_one_line_config_error(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_missing_config_file() -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(Path("/nonexistent/cfg.toml"))


def test_baseline_holds_out_what_the_transformer_holds_out() -> None:
    """The baseline is issue 7's floor on every test split, the held-out one included, so neither may train on it."""
    baseline, minilm = load_config(BASELINE), load_config(BASELINE.with_name("minilm.toml"))
    assert baseline.data.held_out_corpora == minilm.data.held_out_corpora == ["toxicspans"]
    assert not {s.corpus for s in baseline.data.sources + minilm.data.sources} & set(baseline.data.held_out_corpora)


def test_outlier_channels_are_a_per_token_option() -> None:
    minilm = BASELINE.with_name("minilm.toml")
    assert load_config(minilm, ["transformer.int8_outlier_channels=8"]).transformer.int8_outlier_channels == 8
    with pytest.raises(ConfigError) as info:
        load_config(minilm, ["transformer.int8_outlier_channels=8", "transformer.int8_activations=per_tensor"])
    assert "int8_outlier_channels needs int8_activations" in str(info.value) and "\n" not in str(info.value)


def test_the_readme_rebuild_command_refits_the_default_as_its_dir_records() -> None:
    """The README's rebuild ends in `refit-heads`; its labels and overrides must be the ones the committed default's
    config.json says it was refit with, and they must parse on minilm.toml."""
    import json
    import re
    import shlex

    root = BASELINE.parents[2]
    readme = (root / "README.md").read_text()
    block = readme[readme.index("### The default model and how to rebuild it"):]
    block = block[block.index("```") + 3 :]
    command = block[: block.index("```")].replace("\\\n", " ")
    words = shlex.split(command[command.index("threadguard refit-heads") :])
    overrides = [words[i + 1] for i, w in enumerate(words) if w == "--set"]
    labels = [words[i + 1] for i, w in enumerate(words) if w == "--label"]
    refit = json.loads((root / "models" / "current" / "config.json").read_text())["backend"]["head_refit"]
    assert labels == refit["labels"] and overrides == refit["overrides"]
    config = load_config(BASELINE.with_name("minilm.toml"), overrides)
    assert config.data.synthetic_name_calling == 1200 and config.data.name_calling_hate == "unset"
    assert re.search(r"calibrate \"\$trained\" --set spelling_repair=true", command)
