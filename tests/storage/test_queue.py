"""The moderation queue, accounts, privacy and feedback export on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select, update

from serving import queue as q
from serving.schemas import CommentIn, ModelRef, ScoreOut
from threadguard.artifact import LabelThresholds
from threadguard.tables import AuditEntry, CommentScore, ModeratorDecision, QueueItem, StoredComment

THRESHOLDS = {label: LabelThresholds(review=0.5, reject=0.9) for label in ("hate", "insult", "off_topic")}
TTL = dt.timedelta(minutes=5)


def _scored(ident: str, hate: float = 0.1, insult: float = 0.1, off_topic: float = 0.1, decision: str = "allow") -> ScoreOut:
    return ScoreOut(id=ident, scores={"hate": hate, "insult": insult, "off_topic": off_topic}, decision=decision,  # type: ignore[arg-type]
                    model=ModelRef(name="m", version="v1"))


def _comment(ident: str, body: str = "some comment", thread: str = "t1", author: str = "reader") -> CommentIn:
    return CommentIn(id=ident, body=body, thread_id=thread, author=author, article_title="Trade talks", parent_body="the parent")


def _fill(sessions) -> None:  # type: ignore[no-untyped-def]
    with sessions() as s:
        q.enqueue(s, _comment("a"), _scored("a", insult=0.7, decision="review"), THRESHOLDS)
        q.enqueue(s, _comment("b", thread="t2"), _scored("b", hate=0.95, decision="reject"), THRESHOLDS)
        q.enqueue(s, _comment("c"), _scored("c"), THRESHOLDS)
        s.commit()


def test_migrations_match_the_orm_tables(sessions) -> None:  # type: ignore[no-untyped-def]
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from threadguard.tables import Base

    with sessions() as s:
        diff = compare_metadata(MigrationContext.configure(s.connection()), Base.metadata)
    assert diff == []


def test_flagged_comments_are_queued_and_allowed_ones_only_stored(sessions) -> None:  # type: ignore[no-untyped-def]
    _fill(sessions)
    with sessions() as s:
        assert q.counts(s) == {"pending": 2, "reported": 0, "decided": 0, "labelling": 0}
        assert s.scalar(select(func.count()).select_from(StoredComment)) == 3
        assert s.scalar(select(func.count()).select_from(CommentScore)) == 3
        by_score = [v.item.comment_id for v in q.list_items(s, q.Status.pending, sort=q.Sort.score)]
        assert by_score == ["b", "a"]
        assert [v.item.comment_id for v in q.list_items(s, q.Status.pending, sort=q.Sort.age)] == ["a", "b"]
        assert [v.item.comment_id for v in q.list_items(s, q.Status.pending, label="insult")] == ["a"]
        assert [v.item.comment_id for v in q.list_items(s, q.Status.pending, thread="t2")] == ["b"]
        view = q.list_items(s, q.Status.pending, label="hate")[0]
        assert view.comment.parent_body == "the parent" and view.scores["hate"] == 0.95
        assert "hate 0.95 ≥ review 0.50" in view.item.reason


def test_two_moderators_racing_for_one_item_one_wins(sessions) -> None:  # type: ignore[no-untyped-def]
    _fill(sessions)
    with sessions() as s:
        item_id = q.list_items(s, q.Status.pending)[0].item.id
    barrier = threading.Barrier(2)
    wins: dict[str, bool] = {}

    def race(user: str) -> None:
        with sessions() as s:
            barrier.wait()
            wins[user] = q.claim(s, item_id, user, ttl=TTL)

    threads = [threading.Thread(target=race, args=(u,)) for u in ("ann", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins.values()) == [False, True]
    winner = next(u for u, won in wins.items() if won)
    loser = next(u for u, won in wins.items() if not won)
    with sessions() as s:
        with pytest.raises(q.ClaimLost):
            q.decide(s, item_id, loser, q.Action.approve)
        s.rollback()
        q.decide(s, item_id, winner, q.Action.approve)
        assert q.counts(s)["decided"] == 1


def test_an_expired_claim_can_be_taken_over(sessions) -> None:  # type: ignore[no-untyped-def]
    _fill(sessions)
    with sessions() as s:
        view = q.claim_next(s, "ann", ttl=TTL)
        assert view is not None
        assert q.claim_next(s, "bob", ttl=TTL).item.id != view.item.id  # type: ignore[union-attr]
        s.execute(update(QueueItem).where(QueueItem.id == view.item.id).values(claim_expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
        s.commit()
        assert q.claim(s, view.item.id, "carl", ttl=TTL)
        with pytest.raises(q.ClaimLost):
            q.decide(s, view.item.id, "ann", q.Action.reject)


def test_decide_and_undo_are_audited_and_undo_restores_the_queue(sessions) -> None:  # type: ignore[no-untyped-def]
    _fill(sessions)
    login = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    with sessions() as s:
        view = q.claim_next(s, "ann", ttl=TTL)
        decision = q.decide(s, view.item.id, "ann", q.Action.reject)  # type: ignore[union-attr]
        assert (decision.hate, decision.insult, decision.off_topic) == (1, 0, 0)  # the flagged label is confirmed
        assert q.counts(s)["pending"] == 1 and q.counts(s)["decided"] == 1
        undone = q.undo_last(s, "ann", since=login)
        assert undone is not None and undone.id == decision.id
        assert q.counts(s)["pending"] == 2
        assert q.undo_last(s, "ann", since=login) is None
        assert q.undo_last(s, "bob", since=login) is None
        actions = [e.action for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]
        assert actions == ["decide.reject", "decide.undo"]
        assert s.scalar(select(func.count()).select_from(ModeratorDecision)) == 1  # undo marks, never deletes


def test_reports_enter_the_reported_queue_and_reopen_decided_items(sessions) -> None:  # type: ignore[no-untyped-def]
    _fill(sessions)
    with sessions() as s:
        fresh = q.report(s, _comment("z", body="reported text"), "z", reporter="forum", reason="spam")
        s.commit()
        assert fresh.status == "reported" and q.counts(s)["reported"] == 1
        view = q.claim_next(s, "ann", ttl=TTL)
        q.decide(s, view.item.id, "ann", q.Action.approve)  # type: ignore[union-attr]
        again = q.report(s, _comment(view.item.comment_id), view.item.comment_id, reporter="forum", reason="abuse")  # type: ignore[union-attr]
        s.commit()
        assert again.status == "reported" and q.counts(s)["reported"] == 2


def test_labelling_mode_orders_by_uncertainty(sessions) -> None:  # type: ignore[no-untyped-def]
    with sessions() as s:
        for ident, score in (("sure", 0.02), ("unsure", 0.48), ("middling", 0.3)):
            q.enqueue(s, _comment(ident), _scored(ident, insult=score), THRESHOLDS, labelling=True)
        s.commit()
        assert q.counts(s)["labelling"] == 3 and q.counts(s)["pending"] == 0
        order = [v.item.comment_id for v in q.list_items(s, q.Status.pending, labelling=True, sort=q.Sort.uncertainty)]
        assert order == ["unsure", "middling", "sure"]


def test_forget_author_erases_their_comments_everywhere(sessions) -> None:  # type: ignore[no-untyped-def]
    from serving.privacy import forget_author

    _fill(sessions)
    with sessions() as s:
        q.enqueue(s, _comment("x", body="my secret words", author="leaver"), _scored("x", insult=0.8, decision="review"), THRESHOLDS)
        s.commit()
        view = q.list_items(s, q.Status.pending, label="insult")
        target = next(v for v in view if v.item.comment_id == "x")
        assert q.claim(s, target.item.id, "ann", ttl=TTL)
        q.decide(s, target.item.id, "ann", q.Action.reject)
        assert forget_author(s, "leaver", actor="admin") == 1
        assert s.get(StoredComment, "x") is None
        assert s.scalar(select(func.count()).where(CommentScore.comment_id == "x")) == 0
        assert s.scalar(select(func.count()).where(ModeratorDecision.comment_id == "x")) == 0
        assert s.scalar(select(func.count()).where(QueueItem.comment_id == "x")) == 0
        assert s.get(StoredComment, "a") is not None  # other authors untouched
        assert all("leaver" not in str(e.detail) and "secret" not in str(e.detail) for e in s.scalars(select(AuditEntry)))


def test_retention_erases_old_text_but_keeps_scores_and_decisions(sessions) -> None:  # type: ignore[no-untyped-def]
    from labels.feedback import export_decisions
    from serving.privacy import erase_expired

    _fill(sessions)
    with sessions() as s:
        view = q.claim_next(s, "ann", ttl=TTL)
        q.decide(s, view.item.id, "ann", q.Action.reject)  # type: ignore[union-attr]
        old = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
        s.execute(update(StoredComment).where(StoredComment.id.in_(["a", "b"])).values(received_at=old))
        s.commit()
        assert erase_expired(s, retention_days=30) == 2
        assert s.get(StoredComment, "a").body is None and s.get(StoredComment, "c").body == "some comment"  # type: ignore[union-attr]
        assert s.scalar(select(func.count()).select_from(CommentScore)) == 3
        assert s.scalar(select(func.count()).select_from(ModeratorDecision)) == 1
        exported = export_decisions(s)
        assert exported.rows == [] and exported.skipped_erased == 1
        assert erase_expired(s, retention_days=30) == 0


def test_feedback_export_has_labels_moderator_and_time_and_kappa_on_overlap(sessions) -> None:  # type: ignore[no-untyped-def]
    from labels.feedback import export_decisions

    with sessions() as s:
        for i in range(6):
            q.enqueue(s, _comment(f"k{i}", body=f"comment number {i}"), _scored(f"k{i}", insult=0.7, decision="review"), THRESHOLDS)
        s.commit()
        items = q.list_items(s, q.Status.pending)
        # ann decides all six; then each is reported back and bob decides it again, agreeing on insult for 5 of 6
        for n, v in enumerate(items):
            assert q.claim(s, v.item.id, "ann", ttl=TTL)
            q.decide(s, v.item.id, "ann", q.Action.relabel, {"insult": int(n % 2 == 0)})
        for n, v in enumerate(items):
            q.report(s, _comment(v.item.comment_id), v.item.comment_id, reporter="forum", reason="again")
            s.commit()
            assert q.claim(s, v.item.id, "bob", ttl=TTL)
            q.decide(s, v.item.id, "bob", q.Action.relabel, {"insult": 1 if n == 1 else int(n % 2 == 0)})
        exported = export_decisions(s)
    assert len(exported.rows) == 6 and exported.overlap == 6
    row = next(r for r in exported.rows if r.id == items[1].item.comment_id)
    assert row.labeller == "bob" and row.labelled_at is not None and row.insult == 1 and row.hate == 0  # the latest decision wins
    assert exported.kappa["insult"] is not None and 0 < exported.kappa["insult"] < 1
    assert exported.kappa["hate"] is None  # one class only: undefined


def test_accounts_hash_passwords_and_keys(sessions) -> None:  # type: ignore[no-untyped-def]
    from serving.accounts import Role, add_user, any_api_keys, authenticate, check_api_key, create_api_key, revoke_api_key
    from threadguard.errors import UsageError
    from threadguard.tables import ApiKey, User

    with sessions() as s:
        add_user(s, "ann", "long enough pw", Role.moderator, actor="test")
        s.commit()
        stored = s.scalar(select(User).where(User.name == "ann"))
        assert stored is not None and "long enough pw" not in stored.password_hash and stored.password_hash.startswith("$argon2")
        assert authenticate(s, "ann", "long enough pw") is not None
        assert authenticate(s, "ann", "wrong password") is None and authenticate(s, "nobody", "x" * 10) is None
        with pytest.raises(UsageError, match="already exists"):
            add_user(s, "ann", "another pw!", Role.admin, actor="test")
        with pytest.raises(UsageError, match="at least 8"):
            add_user(s, "bob", "short", Role.admin, actor="test")
        assert not any_api_keys(s)
        key = create_api_key(s, "forum", actor="test")
        s.commit()
        assert any_api_keys(s) and check_api_key(s, key) is not None and check_api_key(s, key + "x") is None
        assert key not in {row.key_sha256 for row in s.scalars(select(ApiKey))}
        revoke_api_key(s, "forum", actor="test")
        s.commit()
        assert check_api_key(s, key) is None


def test_a_moderator_holds_one_claim_at_a_time(sessions) -> None:  # type: ignore[no-untyped-def]
    _fill(sessions)
    with sessions() as s:
        first, second = (v.item.id for v in q.list_items(s, q.Status.pending))
        assert q.claim(s, first, "ann", ttl=TTL) and q.claim(s, second, "ann", ttl=TTL)
        assert q.claim(s, first, "bob", ttl=TTL)  # ann moved on, so her first item is free again
        assert not q.claim(s, second, "bob", ttl=TTL)
