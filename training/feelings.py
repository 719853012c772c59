"""Synthetic contrast rows for hate said outright: hatred of a group beside the same words about a thing, or about
people who share no protected trait.

The functional suite's `expressed_hatred` cases ("I despise X") passed at 0.14 on the 20261203 default, and its
hateful generalisations at 0.36, while dehumanising claims passed at 0.88: the corpora and training/contrast.py
teach hate as dehumanising vocabulary ("vermin", "cockroaches"), and plain hatred carries none. Plain hatred is
also everywhere in harmless comments: people loathe taxes, timetables and their team's defence. So this module
writes five kinds of rows, where the target, not the strength of the feeling, decides the label:

- **hatred**: hatred of a group said outright ("I loathe X more than anything.", hate 1);
- **grievance**: the same frame about a policy or an everyday thing ("I loathe the bus timetable more than
  anything.", hate 0, insult 0: harsh words about a thing are neither hate nor an insult under the guide);
- **aversion**: the same frame about people who share no protected trait, only a habit, a job or a team ("I loathe
  queue jumpers more than anything.", hate 0, insult unset: whether that is name-calling the guide decides per
  comment). Without these, hatred of any group of people reads as hate: a first run with the other four kinds alone
  (tg-minilm-20261203-6bffc4e) flagged "I can't stand people who litter" at 0.58;
- **generalisation**: a hateful generalisation about a group ("X bring crime wherever they go.", hate 1);
- **praise**: its harmless twin, sharing its words ("X bring new shops and life wherever they settle.", hate 0).

The insult label of a hateful row is unset, as in training/contrast.py. Frames and statements were written apart
from the functional suite and HateCheck (tests check that no five-word run is shared with either), and `forbidden`
drops any text equal to a suite or evaluation case.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from labels.schema import LabelledComment
from training.contrast import GROUPS, generate_rows

SCHEDULE = ("hatred", "grievance", "aversion", "generalisation", "praise")
HATEFUL = ("hatred", "generalisation")

# Frames that read the same for a group and for a thing (no verb agrees with the target).
FEELING_FRAMES = (
    "I loathe {target} more than anything.",
    "Nothing on earth is as repulsive as {target}.",
    "I detest {target} and I'm not ashamed to say it.",
    "My hatred for {target} grows every single day.",
    "Honestly, I wish {target} would just disappear.",
    "Every time I see {target} I feel pure hatred.",
    "Contempt is the only word for what I feel about {target}.",
    "The very thought of {target} turns my stomach.",
    "Why does anyone put up with {target}?",
    "What on earth is wrong with {target}?",
)
# Policies and everyday things: no person, so the guide makes none of these an insult either.
THINGS = (
    "the new parking rules", "this tax", "the tariffs", "the council's budget", "traffic on the bridge", "the trade deal",
    "Monday mornings", "the carbon tax", "our defence this season", "the bus timetable", "the property assessment",
    "the roadworks on Main Street", "the new recycling scheme", "the ticket prices at the stadium", "the school closures",
    "the hospital parking fees", "this heatwave", "the new bike lanes", "the price of petrol", "the toll on the highway",
    "the airport security lines", "the phone company's call centre", "the cable bill", "the snow removal budget",
    "daylight saving time", "the water rates", "the bank's overdraft fees", "the pothole on my street",
    "the self-checkout machines", "the league's new playoff format",
)
# People who share a habit, a job or a team, and no protected trait.
UNPROTECTED = (
    "bankers", "lobbyists", "cyclists who run red lights", "Leafs fans", "people who talk in cinemas", "drivers who never signal",
    "noisy neighbours", "tax dodgers", "queue jumpers", "internet trolls", "ticket scalpers", "litterbugs",
    "dog owners who never clean up", "people who park across two spaces", "corporate executives", "real estate developers",
    "hedge fund managers", "reality TV stars", "golfers", "pundits on cable news",
)
# (hateful generalisation, its harmless twin sharing its words)
GENERALISATIONS: tuple[tuple[str, str], ...] = (
    ("{Group} are lazy freeloaders who live off the rest of us.", "{Group} are hard workers who pay in like the rest of us."),
    ("{Group} bring crime wherever they go.", "{Group} bring new shops and life wherever they settle."),
    ("{Group} lie as easily as they breathe.", "The {group} I know are as honest as anyone breathing."),
    ("{Group} are incapable of doing an honest day's work.", "{Group} are as capable of an honest day's work as anyone."),
    ("{Group} are a danger to our children.", "{Group} coach our children's teams, and do it well."),
    ("{Group} only ever take and never give back.", "{Group} give back to this town more than most."),
    ("{Group} are greedy, sneaky and out for themselves.", "{Group} are generous neighbours who look out for others."),
    ("Every neighbourhood {group} move into goes downhill.", "Every neighbourhood {group} move into gets a little livelier."),
)


def feelings_text(kind: str, rng: random.Random) -> str:
    """One comment of the given kind."""
    group = rng.choice(GROUPS)
    if kind in ("hatred", "grievance", "aversion"):
        target = group if kind == "hatred" else rng.choice(THINGS if kind == "grievance" else UNPROTECTED)
        return rng.choice(FEELING_FRAMES).format(target=target)
    hateful, harmless = rng.choice(GENERALISATIONS)
    return (hateful if kind == "generalisation" else harmless).format(group=group, Group=group[0].upper() + group[1:])


def synthetic_feelings(rows: Sequence[LabelledComment], count: int, *, seed: int, forbidden: set[str]) -> list[LabelledComment]:
    """`count` comments in SCHEDULE's shares, each under the article of a random training row that carries one.
    Texts in `forbidden` are never produced; a text is produced at most once."""
    return generate_rows(rows, count, seed=seed, forbidden=forbidden, schedule=SCHEDULE, text=feelings_text,
                         hateful=HATEFUL, insult_unset=("aversion",), source="synthetic_feelings", prefix="feelings")
