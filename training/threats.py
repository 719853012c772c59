"""Synthetic contrast rows for threats: violence called down on a group beside the same violent words about things,
about people who share no protected trait, and beside refusals of violence against the group.

The functional suite's `threat_to_group` cases ("{group} deserve a bullet, all of them.") pass at 0.54 on the
20261204 default, its dehumanisation at 0.75, while hatred said outright and hateful generalisations pass at 1.00
since training/feelings.py. The corpora hold few threats, and the violent words they do hold are spread over
hyperbole about things ("I could strangle my printer"), so nothing tells the model that a call for violence against
people for what they are is hate. This module writes four kinds of rows, where the target, not the violence of the
words, decides the label:

- **threat**: violence or forced expulsion called down on a group ("Give me five minutes alone with X and a crowbar.",
  hate 1, insult unset);
- **hyperbole**: the same frame about a thing or a policy ("Give me five minutes alone with the parking meters and a
  crowbar.", hate 0, insult 0: violent words about a thing are neither hate nor an insult under the guide);
- **aversion**: the same frame about people who share no protected trait, only a habit, a job or a team (hate 0,
  insult unset: whether a threat at queue jumpers is name-calling the guide decides per comment);
- **refusal**: violence against the group refused or condemned ("Nobody gets to lay a finger on X, whatever they think
  of this story.", hate 0, insult 0).

Frames were written apart from the functional suite and HateCheck (tests check that no five-word run is shared with
either), and `forbidden` drops any text equal to a suite or evaluation case.

Measured at seeds 14 and 13 (docs/benchmarks.md, "Threat rows"): threat_to_group rose only to 0.61 and 0.57 while
dehumanisation, slurs and HateCheck fell at both, so `minilm.toml` leaves it off.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from labels.schema import LabelledComment
from training.contrast import GROUPS, generate_rows
from training.feelings import UNPROTECTED

SCHEDULE = ("threat", "hyperbole", "aversion", "refusal")
HATEFUL = ("threat",)

# Frames that read as a threat about people and as hyperbole about a thing (no verb agrees with the target); none
# opens with the target, so every row starts with a capital whatever the target.
VIOLENT_FRAMES = (
    "Give me five minutes alone with {target} and a crowbar.",
    "I'd take a baseball bat to {target} if I got the chance.",
    "Somebody ought to set fire to {target} and be done with it.",
    "Time to wipe {target} off the map for good.",
    "I would gladly watch {target} burn to the ground.",
    "Load up the trucks and get rid of {target} by whatever means it takes.",
    "If I see {target} near my street again, heads will roll.",
    "Grab the pitchforks, tonight we finish off {target}.",
    "A few sticks of dynamite would sort out {target} nicely.",
    "Drag {target} out into the street and smash them to pieces.",
    "One day soon {target} will get what's coming to them, and I'll be there to help.",
    "Line up {target} against the wall and let them have it.",
)
# Things and policies that people rage at in violent words: no person, so neither hate nor insult.
VIOLENT_THINGS = (
    "the parking meters", "the speed cameras", "this tax bill", "the old stadium", "the toll booths", "my printer",
    "the self-checkout machines", "the leaf blowers next door", "the new zoning bylaw", "these tariffs", "the weeds in my garden",
    "the pothole on Elm Street", "the office coffee machine", "the red-light cameras", "the trade agreement", "the pension reform",
    "the ugly new condo tower", "the photo radar vans", "the broken ticket machines", "this whole budget",
)
# Refusals and condemnations of violence against the group: the group named, the violence named, and refused.
REFUSALS = (
    "Nobody gets to lay a finger on {group}, whatever they think of this story.",
    "Calls to hurt {group} belong in a police report, not a comment section.",
    "Whoever posted that {group} should be beaten deserves a visit from the police.",
    "Violence against {group} is a crime, full stop, and I'll testify to that.",
    "I'd stand between {group} and any mob that came for them.",
    "Threatening {group} with a crowbar is not free speech, it's a threat.",
    "If anyone tried to run {group} off their own streets, I'd be out there defending them.",
    "Talk of burning {group} out of their homes has no place on this site.",
)


def threats_text(kind: str, rng: random.Random) -> str:
    """One comment of the given kind."""
    if kind == "refusal":
        return rng.choice(REFUSALS).format(group=rng.choice(GROUPS))
    pool = {"threat": GROUPS, "hyperbole": VIOLENT_THINGS, "aversion": UNPROTECTED}[kind]
    return rng.choice(VIOLENT_FRAMES).format(target=rng.choice(pool))


def synthetic_threats(rows: Sequence[LabelledComment], count: int, *, seed: int, forbidden: set[str]) -> list[LabelledComment]:
    """`count` comments in SCHEDULE's shares, each under the article of a random training row that carries one.
    Texts in `forbidden` are never produced; a text is produced at most once."""
    return generate_rows(rows, count, seed=seed, forbidden=forbidden, schedule=SCHEDULE, text=threats_text,
                         hateful=HATEFUL, insult_unset=("aversion",), source="synthetic_threats", prefix="threats")
