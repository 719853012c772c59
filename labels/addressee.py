"""Insult labels of a corpus whose annotators marked insults at conversation participants only.

The Kaggle insults corpus labels a comment an insult only when it insults someone taking part in the conversation, so
its insult 0 also covers put-downs of people outside it: "Her voice could kill small animals", "jurk off material for
Apple fan boys". By threadguard's guide those are insults (name-calling aimed at anyone). Half of its training
negatives (1,463 of 2,898) address no one, while 88 % of its positives say "you": trained as labelled, the corpus
teaches that name-calling in the third person is not an insult. The in-domain misses on validation are that kind
("the stupid, camera loving mayor", "they're dopes", "the religious nuts").

`insult_scope = "addressee"` on such a source unsets (masks) the insult label of its training rows labelled 0 that
address no one, so they teach nothing about insult either way; their other labels, its positives and the rows that
address someone stay. Validation and test keep the corpus's own labels, so scores stay comparable.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from labels.schema import LabelledComment
from labels.sets import relabel_training_rows

# Second person, as comment writers spell it ("u", "ur", "ya" included).
_ADDRESS = re.compile(r"(?<![\w'])(you|your|yours|yourself|yourselves|you're|youre|you've|you'll|you'd|u|ur|ya|yall|y'all)(?![\w'])",
                      re.IGNORECASE)


def addresses_someone(text: str) -> bool:
    """Whether the text speaks to someone in the second person."""
    return _ADDRESS.search(text) is not None


def unset_unaddressed_insult_negatives(rows: Sequence[LabelledComment]) -> tuple[list[LabelledComment], int]:
    """`rows` with the insult label of every training row labelled 0 that addresses no one set to None, and how many."""
    return relabel_training_rows(rows, lambda row: row.insult == 0 and not addresses_someone(row.body), {"insult": None})
