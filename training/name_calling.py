"""Synthetic contrast rows for insult: name-calling beside harsh criticism of the same target in the same setting.

The guide draws insult's line between demeaning words aimed at someone ("you dope", "the clueless mayor", "Dummy. Do
some research") and criticism of what they said or did, however harsh ("the mayor got the budget badly wrong", "you
are wrong about the tariffs"). The insult corpora draw it elsewhere: Kaggle's insults are nearly all second-person
and short, so a model learns "you are ..." as the insult and misses an epithet at a third party, a one-word
vocative, or one epithet in the middle of a long argument. On in-domain validation the 20261204 default scored
"Yes. Dummie. Do some research" at 0.03 for insult and an accusing but epithet-free "you" sentence at 0.86. This
module writes three kinds of rows, where the epithet, not the person addressed or the harshness, decides the label:

- **epithet**: a word that demeans a person's mind, worth or character (idiot, dimwit, buffoon, scumbag, "the
  stupid mayor"; guide rule 8), aimed at a commenter, a public figure, the author or a group of people with no
  protected trait, alone or beside a sentence of argument (insult 1, hate 0);
- **criticism**: the same targets and policies, criticised harshly with no epithet, "you" included (insult 0, hate 0);
- **dismissal**: an argument dismissed without naming the person who made it ("Nonsense", "That claim is absurd";
  guide rule 12; insult 0, hate 0).

off_topic is unset (the texts answer no article). With `hate_unset` the rows leave hate unset too, so they teach
insult alone: labelled hate 0, the epithet rows also say "an epithet at a person is not hate". Masking did not win back
what the first run (tg-minilm-20261204-a3fc833) lost, HateCheck and the wrong-article pairs, at two seeds
(docs/benchmarks.md, "Name-calling rows with hate masked"). Frames were written apart from the functional suite's
`insult_at_commenter` and `criticism_of_policy` cases and from HateCheck (tests check that no five-word run is
shared), and `forbidden` drops any text equal to a suite or evaluation case.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from labels.schema import LabelledComment
from training.contrast import generate_rows

SCHEDULE = ("epithet", "criticism", "epithet", "dismissal", "criticism")
INSULTING = ("epithet",)

# Words that demean a person's mind, worth or character (guide rule 8); accusations of conduct (traitor, racist) are
# not among them, since the guide does not count those as insults.
EPITHETS = (
    "dope", "dimwit", "dummy", "halfwit", "nitwit", "buffoon", "imbecile", "numbskull", "bonehead", "twit", "nincompoop",
    "fool", "clown", "idiot", "moron", "simpleton", "blockhead", "airhead", "jackass", "scumbag", "lowlife", "nut job",
    "crackpot", "dunce", "knucklehead", "loser", "dolt", "meathead", "pinhead", "cretin",
)
# Put-downs of a mind said without a noun (guide rule 12).
PUT_DOWNS = (
    "dumb as a sack of bricks", "thick as two short planks", "dim as a burnt-out bulb", "a few sandwiches short of a picnic",
    "too dense to follow a bus timetable", "not bright enough to run a lemonade stand", "about as sharp as a wet sponge",
)
# Adjectives that demean a mind, put before a figure's role ("the stupid mayor"); the criticism twin drops them.
ADJECTIVES = ("stupid", "brainless", "dim-witted", "idiotic", "moronic", "half-witted", "dopey", "thick-headed", "dimwitted", "dumb")
# Sentences of argument, neither insult nor criticism of a person, that put the epithet in the middle of a longer comment.
ARGUMENTS = (
    "The costs have doubled since last spring.", "Nobody asked the residents before the vote.", "Read the report, it is all there.",
    "Three other cities tried this and dropped it.", "The numbers in the article tell a different story.",
    "My taxes went up again this year.", "We were promised consultation and got none.", "This has been going on for years now.",
)

# Public figures and the author, by role (the guide counts them as targets like anyone else).
FIGURES = (
    "the mayor", "the premier", "the finance minister", "the columnist", "the author of this piece", "our MP", "the CEO",
    "the coach", "the city manager", "the opposition leader", "the police commissioner", "the health minister",
    "this reporter", "the governor", "the school board chair", "the transport minister",
)
# Groups of people with no protected trait: name-calling them is an insult and never hate.
CROWDS = (
    "the councillors", "the people running this city", "the bureaucrats at city hall", "the board members",
    "the fans who booed", "the editors of this paper", "the lobbyists behind this", "the planners who drew this up",
    "the commenters cheering this on", "the bankers who pushed this",
)

# Policies and decisions an argument can be about.
POLICIES = (
    "the transit plan", "the new budget", "the tariffs", "the trade deal", "the carbon tax", "the housing strategy",
    "the school closures", "the bike lanes", "the stadium deal", "the hospital cuts", "the property tax hike",
    "the pipeline decision", "the police budget", "the rent freeze", "the minimum wage increase", "the water rates",
    "the snow removal contract", "the new toll", "the zoning changes", "the pension reform",
)

# {t}/{T}: a figure or crowd; {n}: an epithet with its article; {p}: a put-down; {x}: a policy or thing.
EPITHET_AT_FIGURE = (
    "{T} is {n}.", "What {n} {t} turned out to be.", "Only {n} would sign off on {x}.", "{T} proved once again to be {n} over {x}.",
    "Of course {t} backs {x}. Total {n_bare}.", "{T} is {p}, and {x} proves it.", "Leave it to {n} like {t} to botch {x}.",
    "{x_cap}? Dreamt up by {n}, namely {t}.", "Another week, another blunder on {x} from {t}, the {n_bare}.",
    "Nobody in their right mind would let {n} like {t} near {x}.",
)
# Frames where the figure stands with a demeaning adjective ("{T_adj}"); the criticism kind writes the same frame without it.
ADJECTIVE_FRAMES = (
    "{T_adj} has done it again with {x}.", "Leave it to {t_adj} to wreck {x}.", "So {t_adj} wants {x} now. Wonderful.",
    "Apparently {t_adj} thinks {x} will pay for itself.",
)
EPITHET_AT_CROWD = (
    "{T} are a bunch of {ns}.", "What a pack of {ns} {t} are.", "Only {ns} like {t} would push {x}.", "{T} are {ns}, every last one.",
    "{x_cap}: that is what you get when {ns} like {t} are in charge.",
)
EPITHET_AT_COMMENTER = (
    "{N_bare}. Do some reading on {x} first.", "Wow, you really are {n}.", "Spoken like a true {n_bare}.",
    "Read the article on {x} again, you {n_bare}.", "You're {p} if you think {x} is working.", "Typical {n_bare}, no facts about {x} at all.",
    "Go back to school, you {n_bare}.", "Sit down, {n_bare}, the grown-ups are talking about {x}.",
    "Honestly, you {n_bare}, did you even read about {x}?", "Your comment about {x} shows you are {p}.",
)
CRITICISM_OF_FIGURE = (
    "{T} is wrong about {x}.", "{T} got {x} badly wrong and owes us an explanation.", "{T}'s handling of {x} has been a fiasco.",
    "{T} has no credible answer on {x}.", "{T} should resign over {x}.", "I have zero confidence in {t} after {x}.",
    "{T} keeps dodging every question about {x}.", "{T} misled voters about {x}, plain and simple.",
    "The numbers {t} gave on {x} don't add up.", "{T} wasted two years on {x} and has nothing to show for it.",
)
CRITICISM_OF_CROWD = (
    "{T} got {x} badly wrong.", "{T} have no credible answer on {x}.", "{T} should be voted out over {x}.",
    "{T} pushed {x} through without listening to anyone.", "Every promise {t} made about {x} has been broken.",
)
CRITICISM_OF_COMMENTER = (
    "You are wrong about {x}.", "Your figures on {x} are off by a mile.", "You clearly didn't read the part about {x}.",
    "You keep repeating that about {x} without a single source.", "Your argument on {x} ignores what it costs.",
    "You're part of the reason nothing about {x} ever changes.", "Your figure on {x} is simply false.",
    "Where is the evidence that {x} saves money?", "Check the council minutes on {x} before posting.",
    "The article says the opposite about {x}.",
)
DISMISSALS = (
    "Nonsense, that has nothing to do with {x}.", "That claim about {x} is absurd.", "Utter rubbish, and {x} proves it.",
    "This is the silliest argument about {x} I have read all year.", "Ridiculous. Look at what {x} actually did.",
    "Complete drivel from start to finish on {x}.", "That take on {x} is laughable.", "Wrong, wrong and wrong about {x}.",
)


def _article(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def _plural(word: str) -> str:
    return word[:-1] + "ies" if word.endswith("y") and word[-2] not in "aeiou" else word + "s"


def _fill(frame: str, rng: random.Random, target: str = "", adjective: str = "") -> str:
    epithet, policy = rng.choice(EPITHETS), rng.choice(POLICIES)
    determiner, _, role = target.partition(" ")
    t_adj = f"{determiner} {adjective} {role}" if adjective else target
    return frame.format(t=target, T=target[:1].upper() + target[1:], t_adj=t_adj, T_adj=t_adj[:1].upper() + t_adj[1:], n=_article(epithet),
                        n_bare=epithet, N_bare=epithet.capitalize(), ns=_plural(epithet), p=rng.choice(PUT_DOWNS), x=policy,
                        x_cap=policy[0].upper() + policy[1:])


def name_calling_text(kind: str, rng: random.Random) -> str:
    """One comment of the given kind: addressed to a fellow commenter half the time, else about a public figure (a tenth of the
    time named with a demeaning adjective, or the same frame without one) or a crowd."""
    if kind == "dismissal":
        body = _fill(rng.choice(DISMISSALS), rng)
    else:
        target = rng.choices(("commenter", "figure", "adjective", "crowd"), weights=(5, 2, 1, 2))[0]
        epithet = kind == "epithet"
        if target == "adjective":
            body = _fill(rng.choice(ADJECTIVE_FRAMES), rng, rng.choice(FIGURES), rng.choice(ADJECTIVES) if epithet else "")
        else:
            frames, people = {
                "commenter": (EPITHET_AT_COMMENTER if epithet else CRITICISM_OF_COMMENTER, ("",)),
                "figure": (EPITHET_AT_FIGURE if epithet else CRITICISM_OF_FIGURE, FIGURES),
                "crowd": (EPITHET_AT_CROWD if epithet else CRITICISM_OF_CROWD, CROWDS),
            }[target]
            body = _fill(rng.choice(frames), rng, rng.choice(people))
    # Two in five get a sentence of argument before or after, so an epithet also sits inside a longer comment.
    if rng.random() < 0.4:
        argument = rng.choice(ARGUMENTS)
        body = f"{argument} {body}" if rng.random() < 0.5 else f"{body} {argument}"
    return body


def synthetic_name_calling(rows: Sequence[LabelledComment], count: int, *, seed: int, forbidden: set[str],
                           hate_unset: bool = False) -> list[LabelledComment]:
    """`count` comments in SCHEDULE's shares, each under the article of a random training row that carries one, hate 0
    or, with `hate_unset`, hate unset. Texts in `forbidden` are never produced; a text is produced at most once."""
    return generate_rows(rows, count, seed=seed, forbidden=forbidden, schedule=SCHEDULE, text=name_calling_text, hateful=(),
                         insulting=INSULTING, source="synthetic_name_calling", prefix="name_calling", hate_unset=hate_unset)
