"""POST /v1/reports: a forum backend reports a comment (a reader flagged it) into the reported queue."""

from __future__ import annotations

from fastapi import APIRouter, Request

from labels.threads import comment_id
from serving import queue as q
from serving.deps import ClientDep, DbDep, ScorerDep, SettingsDep
from serving.problems import problem_exception
from serving.schemas import ErrorOut, ReportIn, ReportOut
from serving.scoring import score_rows

router = APIRouter(tags=["moderation"])


@router.post("/v1/reports", status_code=201, response_model=ReportOut, responses={401: {"model": ErrorOut}, 422: {"model": ErrorOut}})
def report(body: ReportIn, request: Request, session: DbDep, client: ClientDep, scorer: ScorerDep, settings: SettingsDep) -> ReportOut:
    """Queue the comment for moderators under "reported" (a decided comment is reopened), scored by the live model."""
    c = body.comment
    if len(c.body) > settings.max_comment_chars:
        raise problem_exception(422, ["body", "comment", "body"], f"comment is {len(c.body)} characters; the limit is {settings.max_comment_chars}",
                                "string_too_long")
    ident = c.id or comment_id(c.article_title or "", None, None, c.body)
    result = score_rows(scorer, [c], [ident])[0]
    # The reporting key's site thresholds pick the label the moderator sees first, as they decide its /v1/score calls.
    chosen = request.app.state.thresholds.for_site(client.site, scorer.thresholds)
    item = q.report(session, c, ident, reporter=client.name, reason=body.reason, result=result, thresholds=chosen.values)
    session.commit()
    return ReportOut(item_id=item.id, comment_id=ident, status=item.status)
