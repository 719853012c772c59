"""POST /v1/reports: a forum backend reports a comment (a reader flagged it) into the reported queue."""

from __future__ import annotations

from fastapi import APIRouter

from labels.threads import comment_id
from serving import queue as q
from serving.deps import ClientDep, DbDep
from serving.schemas import ErrorOut, ReportIn, ReportOut

router = APIRouter(tags=["moderation"])


@router.post("/v1/reports", status_code=201, response_model=ReportOut, responses={401: {"model": ErrorOut}, 422: {"model": ErrorOut}})
def report(body: ReportIn, session: DbDep, client: ClientDep) -> ReportOut:
    """Queue the comment for moderators under "reported" (a decided comment is reopened)."""
    c = body.comment
    ident = c.id or comment_id(c.article_title or "", None, None, c.body)
    item = q.report(session, c, ident, reporter=client, reason=body.reason)
    session.commit()
    return ReportOut(item_id=item.id, comment_id=ident, status=item.status)
