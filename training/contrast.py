"""Synthetic contrast sets for hate: hateful claims about a group beside their negations and condemnations.

The public corpora hold almost no comments that repeat a hateful claim in order to deny or condemn it, so a
model learns the claim's words ("subhuman", "cockroaches") as hate wherever they stand. The functional suite
showed it: negated hate passed 0.45 and counter-speech 0.67 on the 20261124 default. This module writes four
kinds of rows from one claim or statement:

- **hateful**: the claim asserted (hate 1), including negated *positive* statements such as "X will never be
  real citizens", so that "not" and "never" do not become a shortcut to "harmless";
- **negated**: the claim denied (hate 0, insult 0);
- **positive**: the plain positive statement whose negation is among the hateful rows ("X are welcome at my
  family's table any time.", hate 0, insult 0), so the words the two share do not read as hate;
- **counter-speech**: the claim quoted or reported in order to condemn it (hate 0, insult 0). Condemnation
  here criticises what was said, never names the writer, so it is not an insult under the guide.

The insult label of a hateful row is left unset (masked): a claim about a group may or may not be name-calling,
and the guide decides that per comment. off_topic is unset on every row: the claims answer no article.

The claims and frames were written apart from the functional suite (tests/functional/suite.toml): none of the
suite's dehumanising words ("vermin", "animals", "disease", "parasites") or frames appear here (a unit test
checks that no five-word run is shared, and another that none is shared with HateCheck),
and `forbidden` drops any text equal to a suite or evaluation case, so the suite and HateCheck still measure
generalisation rather than recall of these templates.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Literal

from labels.schema import LabelledComment

Kind = Literal["hateful", "negated", "positive", "counter"]
# Two hateful, negated and counter rows for each positive one: the positives only answer the negated positives,
# which are three in ten of the hateful rows.
SCHEDULE: tuple[Kind, ...] = ("hateful", "negated", "counter", "hateful", "negated", "counter", "positive")

GROUPS = (
    "Black Americans", "Black folks", "white folks", "Asians", "Asian Americans", "Latinos", "Hispanics", "Mexicans", "Jews",
    "Jewish people", "Muslims", "Arabs", "Christians", "gays", "gay men", "lesbians", "transgender people", "trans folks",
    "women", "females", "men", "the disabled", "people in wheelchairs", "immigrants", "refugees", "migrants",
)

# (assertion, denial): the claim's predicate, and the same predicate negated.
CLAIMS: tuple[tuple[str, str], ...] = (
    ("are rats that breed in our cities", "are not rats that breed in our cities"),
    ("are subhuman trash", "are not subhuman trash"),
    ("are cockroaches", "are not cockroaches"),
    ("are rotting this nation from the inside", "are not rotting this nation from the inside"),
    ("are savages", "are not savages"),
    ("are a plague on every neighbourhood they move into", "are not a plague on any neighbourhood"),
    ("are criminals by nature", "are not criminals by nature"),
    ("are born inferior", "are not born inferior"),
    ("should be rounded up and thrown out", "should not be rounded up and thrown out"),
    ("deserve to suffer", "have done nothing to deserve suffering"),
    ("are filth and always will be", "are not filth"),
    ("are too stupid to run anything", "are not too stupid to run anything"),
    ("should be kept out of decent society", "should not be kept out of decent society"),
    ("are a curse on the human race", "are not a curse on anyone"),
)

# Negated positive statements that are themselves hateful, each beside its plain positive form (not hateful): without
# the positive form, a model learns the shared words ("deserve", "welcome", "trust") as hate.
NEGATED_POSITIVES: tuple[tuple[str, str], ...] = (
    ("{group} will never be real citizens of this country.", "{Group} are real citizens of this country, full stop."),
    ("{group} are not welcome anywhere near my family.", "{Group} are welcome at my family's table any time."),
    ("I could never trust any of the {group} around here.", "I trust the {group} around here as much as anyone."),
    ("{group} are not fully human and never were.", "{Group} are as fully human as the rest of us."),
    ("{group} should never be allowed to hold public office.", "{Group} can hold public office like anyone else."),
    ("Not a single one of the {group} is worth saving.", "Every one of the {group} on my street is worth knowing."),
    ("{group} will never belong in this town.", "{Group} have always belonged in this town."),
    ("I would never hire any of the {group}, ever.", "I would hire any of the {group} I've worked beside in a heartbeat."),
    ("{group} can't ever be good neighbours.", "{Group} make good neighbours, in my experience."),
    ("Nothing {group} have built here is worth anything.", "What {group} have built here is worth celebrating."),
)

HATEFUL_FRAMES = ("{Group} {claim}.", "Honestly, {group} {claim}.", "Face it: {group} {claim}.", "Everyone knows {group} {claim}.",
                  "I'm done pretending otherwise, {group} {claim}.", "Let's be real, {group} {claim}.")
NEGATED_FRAMES = ("{Group} {denial}.", "No, {group} {denial}, and that idea needs to die.", "Let me be clear: {group} {denial}.",
                  "It's simply untrue that {group} {claim}.", "Nobody decent believes {group} {claim}.",
                  "I refuse to accept that {group} {claim}.", "There is no truth at all in the idea that {group} {claim}.")
COUNTER_FRAMES = (
    "Someone upthread wrote \"{group} {claim}\". That is bigotry, plain and simple.",
    "\"{Group} {claim}\"? Comments like that have no place here. Flagged.",
    "Reporting the comment that says {group} {claim}. This is hate speech.",
    "I'm tired of seeing people post that {group} {claim}. It's hateful and it's wrong.",
    "The reply claiming {group} {claim} should be removed by the moderators.",
    "My grandparents heard people say {group} {claim}. We know where that talk leads.",
    "When someone writes that {group} {claim}, the rest of us have to call it out.",
    "Posting \"{group} {claim}\" is not free speech worth defending, it's just hate.",
)


def _fill(frame: str, group: str, claim: str = "", denial: str = "") -> str:
    return frame.format(group=group, Group=group[0].upper() + group[1:], claim=claim, denial=denial)


def contrast_text(kind: str, rng: random.Random) -> str:
    """One comment of the given kind."""
    group = rng.choice(GROUPS)
    claim, denial = rng.choice(CLAIMS)
    if kind == "hateful":
        if rng.random() < 0.3:
            return _fill(rng.choice(NEGATED_POSITIVES)[0], group)
        return _fill(rng.choice(HATEFUL_FRAMES), group, claim)
    if kind == "positive":
        return _fill(rng.choice(NEGATED_POSITIVES)[1], group)
    frames = NEGATED_FRAMES if kind == "negated" else COUNTER_FRAMES
    return _fill(rng.choice(frames), group, claim, denial)


def synthetic_contrast(rows: Sequence[LabelledComment], count: int, *, seed: int, forbidden: set[str]) -> list[LabelledComment]:
    """`count` comments in SCHEDULE's shares, each under the article of a random training row that carries one (as
    served comments are). Texts in `forbidden` are never produced; a text is produced at most once."""
    return generate_rows(rows, count, seed=seed, forbidden=forbidden, schedule=SCHEDULE, text=contrast_text,
                         hateful=("hateful",), source="synthetic_contrast", prefix="contrast")


def generate_rows(rows: Sequence[LabelledComment], count: int, *, seed: int, forbidden: set[str], schedule: Sequence[str],
                  text: Callable[[str, random.Random], str], hateful: Sequence[str], source: str, prefix: str,
                  insult_unset: Sequence[str] = (), insulting: Sequence[str] = (), hate_unset: bool = False) -> list[LabelledComment]:
    """`count` rows of the kinds in `schedule`, in its shares and order, written by `text(kind, rng)`, each under the
    article of a random training row that carries one. A kind in `hateful` is hate 1 with insult unset, one in
    `insult_unset` hate 0 with insult unset, one in `insulting` hate 0 and insult 1, any other hate 0 and insult 0;
    with `hate_unset`, hate is unset instead of 0 on every kind outside `hateful`; off_topic is unset (the texts
    answer no article). Texts in `forbidden` are never produced, a text at most once; a kind that misses 200 times
    running has run out of new texts and is skipped."""
    hosts = [r for r in rows if r.article_title or r.article_text]
    if not hosts or count <= 0:
        return []
    rng = random.Random(seed)
    out: list[LabelledComment] = []
    seen = set(forbidden)
    turn, misses, spent = 0, 0, set()
    while len(out) < count and len(spent) < len(set(schedule)):
        kind = schedule[turn % len(schedule)]
        if kind in spent:
            turn += 1
            continue
        body = text(kind, rng)
        if body in seen:
            misses += 1
            if misses >= 200:
                spent.add(kind)
                misses = 0
            continue
        turn, misses = turn + 1, 0
        seen.add(body)
        host = rng.choice(hosts)
        is_hateful = kind in hateful
        out.append(LabelledComment(
            id=f"{prefix}-{kind}-{len(out):05d}", source=source, split="train", thread_id=host.thread_id, body=body,
            article_title=host.article_title, article_text=host.article_text,
            hate=1 if is_hateful else None if hate_unset else 0,
            insult=None if is_hateful or kind in insult_unset else int(kind in insulting), off_topic=None,
        ))
    return out
