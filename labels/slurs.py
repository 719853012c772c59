"""Slurs for a protected trait, and the rows of a corpus's "offensive" class that use one.

The labelling guide counts a slur for a protected trait as hate, whoever it is aimed at ("You are just a faggot to
me" attacks its target for their orientation). HateXplain and Davidson annotators put many such posts in an
"offensive" class, which threadguard maps to hate 0: 871 of HateXplain's training posts and 701 of Davidson's tweets
are offensive-class rows that use one of these slurs. `data.offensive_slurs_as_hate` sets those training rows to
hate 1, so the corpora teach the guide's definition. Their "normal" rows stay as they are: a slur there may be
quoted, discussed or reclaimed, which the guide does not count as hate.

The list is written from the guide's protected traits, not from an evaluation set: race and ethnicity, religion,
sexual orientation, gender identity, disability. Gendered insults ("bitch", "slut") are left out: annotators and
moderators split on whether they are hate. So is "retarded" as an adjective ("that's retarded"), while the noun is
kept.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

from labels.schema import LabelledComment
from labels.sets import relabel_training_rows

PROTECTED_TRAIT_SLURS = frozenset("""
nigger niggers kike kikes chink chinks gook gooks spic spics wetback wetbacks coon coons paki pakis raghead ragheads
towelhead towelheads faggot faggots fag fags dyke dykes tranny trannies shemale shemales retard retards
""".split())
_SLUR = re.compile(r"(?<![\w'])(" + "|".join(sorted(PROTECTED_TRAIT_SLURS)) + r")(?![\w'])", re.IGNORECASE)


def names_a_slur(text: str) -> bool:
    """Whether the text uses one of PROTECTED_TRAIT_SLURS as a word of its own."""
    return _SLUR.search(text) is not None


def offensive_slurs_as_hate(rows: Sequence[LabelledComment], offensive_ids: Collection[str]) -> tuple[list[LabelledComment], int]:
    """`rows` with every training row of the offensive class (its id in `offensive_ids`) that names a slur set to hate 1,
    and how many changed. Validation and test rows keep the corpus's own labels, so scores stay comparable."""
    return relabel_training_rows(rows, lambda row: row.hate == 0 and row.id in offensive_ids and names_a_slur(row.body), {"hate": 1})
