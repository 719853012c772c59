"""Synthetic off-topic spam for training: no public corpus here holds comment-section spam.

The off-topic rows the public corpora give are on-topic comments copied under another thread's article
(labels/pairs.py), so a model learns "this comment is about something else" but never sees the commercial pitch
that is most of real off-topic traffic: gold, crypto, loans, work-from-home, links. This module writes such
pitches from parts (a hook, an offer, a call to action, a made-up domain) and places each under a training
row's article, labelled off_topic 1 and neither hate nor insult. A share of them open with words taken from
that article's title, as spammers do to slip past keyword filters.

The vocabulary here was written apart from the functional suite's spam cases (tests/functional/suite.toml),
and `forbidden` drops any text equal to a suite case, so the suite still measures generalisation.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from labels.schema import LabelledComment

HOOKS = (
    "Finally quit my job!", "My cousin showed me this last month.", "Nobody talks about this.", "Banks hate this one trick.",
    "I was skeptical too.", "Just got my second payout.", "Attention everyone.", "Sorry to post here but this is worth it.",
    "Life changing.", "Don't scroll past this.", "Retired at 45 thanks to this.", "Real talk:",
)
OFFERS = (
    "I earn {amount} a month working two hours a day from my laptop.",
    "Silver and platinum coins are the only safe place for your savings right now.",
    "This new token went up {percent} in a week and it is still early.",
    "Get a personal loan approved in 10 minutes, bad credit OK.",
    "Forex signals with a {percent} win rate, free for the first week.",
    "Lose 20 pounds in a month with this natural supplement.",
    "Online casino bonus: deposit 10 and play with {amount}.",
    "Cheap phone plans, unlimited data for {amount} a year.",
    "Grow your page to 10k followers overnight.",
    "Professional essay writing, any subject, delivered in 24 hours.",
    "Stake your coins and earn {percent} passive income.",
    "Singles near you want to chat tonight, no sign-up fee.",
    "Bulk discount on designer watches and bags, genuine quality.",
    "Refinance your mortgage at the lowest rate in years.",
)
ACTIONS = (
    "Details at {site}", "See how at {site}", "Check {site} now", "Go to {site} and thank me later.", "DM me for the link.",
    "Search {site} before they take it down.", "Sign up at https://{site}/start", "Offer ends Friday: {site}", "Join here: {site}",
)
SITES = ("easycash-daily.example", "coinrocket.example", "bullionvault-direct.example", "loanfast.example", "fxsignal.example",
         "slimnow.example", "lucky-spin.example", "unlimited-mobile.example", "boostfollow.example", "essaypro.example",
         "stakeup.example", "chatlocal.example", "luxdeals.example", "ratedrop.example")
AMOUNTS = ("$3,000", "$8,500", "$450", "£2,000", "$12k", "€900")
PERCENTS = ("40%", "87%", "250%", "12% monthly", "93%")
STOPWORDS = frozenset(["a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "have", "in", "is", "it", "of", "on", "or", "over", "says", "the", "to", "was", "were", "will", "with", "after", "into", "out", "up", "new"])


# Bare pitches: an offer in a few words, with at most a short call and no amount promised. The long pitches above all
# carry an offer sentence and a link or a "DM me for the link", and a head fit on them alone let "Buy gold now!" through.
# SHORT_OFFERS[i] says OFFERS[i] in brief, so the spam head holds both out together (offer_of). Only the spam head reads
# these, and only with transformer.spam_bare_pitches (training/spam_head.py; off by default, docs/benchmarks.md, "Bare
# pitches"), never the encoder's training rows. Written apart from the suite's short pitches.
SHORT_OFFERS = (
    ("Easy money from your laptop!", "Make {amount} a month online."),
    ("Stack silver while it's cheap!", "Platinum coins, best price today."),
    ("This token is about to explode!", "Get into this coin early!"),
    ("Need cash fast? Approved today.", "Bad credit? Get funded in minutes."),
    ("Free forex signals!", "Trade forex with me and win."),
    ("Lose weight fast, no diet!", "This pill melts fat."),
    ("Free spins waiting for you!", "Play slots and win big tonight!"),
    ("Unlimited data for half the price!", "Cheapest phone plan anywhere."),
    ("Want more followers? I can help.", "Get 10k followers fast!"),
    ("Essays written for you, cheap!", "Need your homework done?"),
    ("Stake your coins and relax!", "Passive income from staking, join now."),
    ("Lonely tonight? Chat with singles!", "Meet local singles now."),
    ("Designer bags at factory prices!", "Replica watches, top quality."),
    ("Refinance today and save!", "Lowest mortgage rates ever, apply now."),
)
SHORT_ACTIONS = ("", "DM me.", "Link in my profile.", "Don't miss out!", "Hurry!", "{site}")


def _pattern(template: str) -> re.Pattern[str]:
    return re.compile(".+?".join(re.escape(piece) for piece in re.split(r"\{\w+\}", template)))


_OFFER_PATTERNS = tuple((i, _pattern(offer)) for i, offer in enumerate(OFFERS)) + tuple(
    (i, _pattern(short)) for i, shorts in enumerate(SHORT_OFFERS) for short in shorts)


def offer_of(text: str) -> int:
    """Which of OFFERS a spam_text or short_pitches text carries (-1: none): pitches that share an offer are held out
    together when the spam head's regularisation is chosen, so it is chosen for offers it has not seen
    (training/spam_head.py)."""
    return next((i for i, pattern in _OFFER_PATTERNS if pattern.search(text)), -1)


def short_pitches(*, forbidden: set[str]) -> list[str]:
    """Every bare pitch: each short offer alone and with each short call (the offer's own site where the call is a
    link). Texts in `forbidden` are left out."""
    texts = []
    for i, shorts in enumerate(SHORT_OFFERS):
        fill = {"amount": AMOUNTS[i % len(AMOUNTS)], "site": SITES[i % len(SITES)]}
        for short in shorts:
            for action in SHORT_ACTIONS:
                texts.append(" ".join(part.format(**fill) for part in (short, action) if part))
    return [t for t in dict.fromkeys(texts) if t not in forbidden]


def title_words(title: str, rng: random.Random, k: int = 2) -> list[str]:
    """Up to k content words of an article title, in title order."""
    words = [w for w in re.findall(r"[A-Za-z][A-Za-z'-]{3,}", title) if w.lower() not in STOPWORDS]
    picked = sorted(rng.sample(range(len(words)), min(k, len(words))))
    return [words[i].lower() for i in picked]


def spam_text(rng: random.Random, title: str | None = None) -> str:
    """One pitch; with a title, it opens by echoing two of its words."""
    fill = {"amount": rng.choice(AMOUNTS), "percent": rng.choice(PERCENTS), "site": rng.choice(SITES)}
    parts = [rng.choice(OFFERS).format(**fill), rng.choice(ACTIONS).format(**fill)]
    if rng.random() < 0.6:
        parts.insert(0, rng.choice(HOOKS))
    if title:
        words = title_words(title, rng)
        if words:
            parts.insert(0, f"Worried about {' and '.join(words)}?" if rng.random() < 0.5 else f"Forget {' and '.join(words)}.")
    return " ".join(parts)


def synthetic_spam(rows: Sequence[LabelledComment], count: int, *, seed: int, forbidden: set[str], echo_share: float = 0.35) -> list[LabelledComment]:
    """`count` spam comments, each under the article (and, where it had one, the parent) of a random training row
    that carries an article. Texts in `forbidden` are never produced."""
    hosts = [r for r in rows if r.article_title or r.article_text]
    if not hosts or count <= 0:
        return []
    rng = random.Random(seed)
    out: list[LabelledComment] = []
    attempts = 0
    while len(out) < count and attempts < count * 10:
        attempts += 1
        host = rng.choice(hosts)
        body = spam_text(rng, host.article_title if rng.random() < echo_share else None)
        if body in forbidden:
            continue
        out.append(LabelledComment(
            id=f"spam-{len(out):05d}", source="synthetic_spam", split="train", thread_id=host.thread_id, body=body,
            article_title=host.article_title, article_text=host.article_text, parent_body=host.parent_body,
            hate=0, insult=0, off_topic=1,
        ))
    return out
