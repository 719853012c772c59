"""The moderator page: login, one-time setup, the queue with keyboard decisions, thread view, admin.

Server-rendered with Jinja2 (autoescaping on: comment text is hostile input and only ever rendered as
text). Every state change is a form post carrying a CSRF token, answered with a 303 redirect after the
transaction has committed, so a decision the browser saw acknowledged is on disk.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select

from labels.schema import LABELS
from labels.threads import parse_file
from serving import assignments
from serving import queue as q
from serving.accounts import Role, add_user, authenticate, consume_setup_token, count_users, create_api_key
from serving.deps import DbDep, ScorerDep
from serving.explain import Piece, read_as, word_weights
from serving.problems import problem_exception
from serving.schemas import CommentIn
from serving.site_thresholds import list_sites, set_site_threshold
from serving.web import AdminDep, UserDep, check_csrf, csrf_token, end_session, ensure_csrf_cookie, start_session
from threadguard.audit import record
from threadguard.errors import ThreadguardError, UsageError
from threadguard.tables import ApiKey, User

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))
QUEUES = ("pending", "reported", "labelling", "decided")


def render(request: Request, name: str, context: dict, status: int = 200) -> HTMLResponse:
    context = {"csrf": csrf_token(request), "user": None, "counts": {}, "queue": None} | context
    response = templates.TemplateResponse(request, name, context, status_code=status)
    ensure_csrf_cookie(request, response)
    return response


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _safe_back(back: str | None) -> str:
    """Only same-site paths under /moderate are followed after a post (no open redirect)."""
    return back if back and back.startswith("/moderate") and not back.startswith("//") else "/moderate"


@router.get("/")
def home() -> RedirectResponse:
    return redirect("/moderate")


@router.get("/login")
def login_page(request: Request, session: DbDep) -> Response:
    if count_users(session) == 0:
        return redirect("/setup")
    return render(request, "login.html", {})


@router.post("/login")
def login(request: Request, session: DbDep, name: Annotated[str, Form()], password: Annotated[str, Form()],
          csrf: Annotated[str | None, Form()] = None) -> Response:
    check_csrf(request, csrf)
    user = authenticate(session, name, password)
    if user is None:
        return render(request, "login.html", {"error": "Wrong name or password."}, status=401)
    record(session, user.name, "login", None)
    session.commit()
    response = redirect("/moderate")
    start_session(request, response, user.name)
    return response


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str | None, Form()] = None) -> Response:
    check_csrf(request, csrf)
    response = redirect("/login")
    end_session(response)
    return response


@router.get("/setup")
def setup_page(request: Request, session: DbDep, token: str = "") -> Response:
    if count_users(session) > 0:
        return redirect("/login")
    return render(request, "setup.html", {"token": token})


@router.post("/setup")
def setup(request: Request, session: DbDep, token: Annotated[str, Form()], name: Annotated[str, Form()], password: Annotated[str, Form()],
          csrf: Annotated[str | None, Form()] = None) -> Response:
    check_csrf(request, csrf)
    if not consume_setup_token(session, token):
        return render(request, "setup.html", {"token": "", "error": "That setup token is not valid (or an admin already exists)."}, status=403)
    try:
        add_user(session, name, password, Role.admin, actor="setup")
    except UsageError as exc:
        session.rollback()
        return render(request, "setup.html", {"token": token, "error": str(exc)}, status=422)
    session.commit()
    response = redirect("/moderate")
    start_session(request, response, name.strip())
    return response


def _queue_args(queue: str) -> tuple[q.Status, bool]:
    if queue == "labelling":
        return q.Status.pending, True
    return q.Status(queue), False


@router.get("/moderate")
def moderate(request: Request, user: UserDep, session: DbDep, scorer: ScorerDep, queue: str = "pending", sort: str | None = None,
                   label: str | None = None, thread: str | None = None, item: int | None = None, message: str | None = None) -> Response:
    if queue not in QUEUES:
        queue = "pending"
    default_sort = q.Sort.uncertainty if queue == "labelling" else q.Sort.score
    chosen_sort = q.Sort(sort) if sort in q.Sort.__members__ else default_sort
    label = label if label in {l.value for l in LABELS} else None
    status, labelling = _queue_args(queue)
    ttl = dt.timedelta(seconds=request.app.state.settings.claim_seconds)
    current = None
    if item is not None:
        try:
            view: q.QueueView | None = q.get_view(session, item)
        except q.NotFound:
            view = None
        if view is not None and view.item.status == q.Status.decided:
            current = view
        elif view is not None and q.claim(session, item, user.name, ttl=ttl):
            current = q.get_view(session, item)
        elif view is not None:
            message = message or f"That comment is being decided by {view.item.claimed_by}; here is the next one."
    if current is None and status != q.Status.decided:
        current = q.claim_next(session, user.name, ttl=ttl, status=status, labelling=labelling, sort=chosen_sort, label=label, thread=thread)
    items = q.list_items(session, status, labelling=labelling, sort=chosen_sort, label=label, thread=thread)
    pieces: list[Piece] = []
    scale = 0.0
    model_read: str | None = None
    if current is not None and current.comment.body:
        c = current.comment
        comment = CommentIn(body=c.body, article_title=c.article_title, article_text=c.article_text, parent_body=c.parent_body)
        model_read = read_as(scorer, comment)
        if current.scores:
            pieces = word_weights(scorer, comment)
            # Words are coloured for the labels that flagged the comment (or its top label), scaled to the strongest word.
            shown = {l for l, v in current.scores.items() if v >= scorer.thresholds[l].review} or {max(current.scores, key=current.scores.get)}
            pieces = [Piece(p.text, {l: w for l, w in p.weights.items() if l in shown}) for p in pieces]
            strongest = max((w for p in pieces for w in p.weights.values()), default=0.0)
            scale = 1.0 / strongest if strongest > 0 else 0.0
    params = {"queue": queue, "sort": chosen_sort.value if sort else None, "label": label, "thread": thread}

    def query_url(**changes: object) -> str:
        merged = {k: v for k, v in (params | changes).items() if v is not None}
        return "/moderate?" + urlencode(merged)

    return render(request, "moderate.html", {
        "user": user, "counts": q.counts(session), "queue": queue, "items": items, "current": current, "pieces": pieces,
        "thresholds": scorer.thresholds, "labels": [l.value for l in LABELS], "sorts": [s.value for s in q.Sort],
        "scale": scale if pieces else 0.0, "read_as": model_read, "sort": chosen_sort.value, "label": label, "thread": thread, "message": message, "query_url": query_url, "back": query_url(),
    })


@router.post("/moderate/decide")
def decide(request: Request, user: UserDep, session: DbDep, item_id: Annotated[int, Form()], action: Annotated[q.Action, Form()],
           labels: Annotated[list[str] | None, Form()] = None, back: Annotated[str | None, Form()] = None,
           csrf: Annotated[str | None, Form()] = None) -> Response:
    check_csrf(request, csrf)
    chosen = {label.value: int(label.value in (labels or [])) for label in LABELS}
    target = _safe_back(back)
    try:
        q.decide(session, item_id, user.name, action, chosen)
    except q.ClaimLost as exc:
        session.rollback()
        return redirect(target + ("&" if "?" in target else "?") + urlencode({"message": str(exc)}))
    return redirect(_without_item(target))


def _without_item(url: str) -> str:
    from urllib.parse import parse_qsl, urlsplit

    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in {"item", "message"}]
    return parts.path + ("?" + urlencode(query) if query else "")


@router.post("/moderate/undo")
def undo(request: Request, user: UserDep, session: DbDep, back: Annotated[str | None, Form()] = None,
         csrf: Annotated[str | None, Form()] = None) -> Response:
    check_csrf(request, csrf)
    decision = q.undo_last(session, user.name, since=user.login_at)
    target = _without_item(_safe_back(back))
    if decision is None:
        return redirect(target + ("&" if "?" in target else "?") + urlencode({"message": "Nothing to undo in this session."}))
    queue = "labelling" if session.get(q.QueueItem, decision.item_id).labelling else decision.previous_status  # type: ignore[union-attr]
    return redirect("/moderate?" + urlencode({"queue": queue, "item": decision.item_id, "message": f"Undid your {decision.action}."}))


@router.post("/moderate/import")
def import_for_labelling(request: Request, user: UserDep, session: DbDep, scorer: ScorerDep, file: UploadFile,
                         csrf: Annotated[str | None, Form()] = None) -> Response:
    """A thread export (forum text, JSONL or CSV) uploaded from the page: every comment joins the labelling queue."""
    check_csrf(request, csrf)
    limit = request.app.state.settings.max_body_bytes
    data = file.file.read(limit + 1)
    if len(data) > limit:
        raise problem_exception(413, ["body", "file"], f"file over {limit} bytes", "too_large")
    suffix = Path(file.filename or "upload.txt").suffix.lower()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"upload{suffix if suffix in {'.txt', '.jsonl', '.csv'} else '.txt'}"
        path.write_bytes(data)
        try:
            comments = parse_file(path)
        except ThreadguardError as exc:
            message = str(exc).replace(str(path), file.filename or "upload")
            raise problem_exception(422, ["body", "file"], message, "parse_error") from exc
    q.score_and_enqueue(session, scorer, comments, labelling=True)
    record(session, user.name, "import.labelling", file.filename, comments=len(comments))
    session.commit()
    return redirect("/moderate?" + urlencode({"queue": "labelling", "message": f"Imported {len(comments)} comments for labelling."}))


@router.get("/moderate/thread/{thread_id}")
def thread_page(request: Request, thread_id: str, user: UserDep, session: DbDep) -> Response:
    return render(request, "thread.html", {"user": user, "counts": q.counts(session), "thread": thread_id, "items": q.thread_view(session, thread_id)})


@router.get("/admin")
def admin_page(request: Request, user: AdminDep, session: DbDep, new_key: tuple[str, str] | None = None) -> Response:
    users = session.scalars(select(User).order_by(User.name)).all()
    keys = session.scalars(select(ApiKey).order_by(ApiKey.name)).all()
    models = request.app.state.models
    roles = {assignments.LIVE: assignments.latest(session, assignments.LIVE), assignments.SHADOW: assignments.latest(session, assignments.SHADOW)}
    return render(request, "admin.html", {"user": user, "counts": q.counts(session), "users": users, "keys": keys, "new_key": new_key,
                                          "sites": list_sites(session), "labels": [l.value for l in LABELS], "live": models.live, "shadow": models.shadow,
                                          "assigned": roles, "model_dirs": [p.name for p in assignments.model_dirs(request.app.state.settings.models_root)]})


@router.post("/admin/thresholds")
def admin_set_thresholds(request: Request, user: AdminDep, session: DbDep, site: Annotated[str, Form()], label: Annotated[str, Form()],
                         review: Annotated[float, Form()], reject: Annotated[float, Form()], csrf: Annotated[str | None, Form()] = None) -> Response:
    """Set one label's review/reject thresholds for a site; every replica applies them within seconds."""
    check_csrf(request, csrf)
    set_site_threshold(session, site.strip(), label, review, reject, actor=user.name)
    session.commit()
    return redirect("/admin")


@router.post("/admin/models")
def admin_models(request: Request, user: AdminDep, session: DbDep, action: Annotated[str, Form()], name: Annotated[str, Form()] = "",
                 csrf: Annotated[str | None, Form()] = None) -> Response:
    """activate NAME, rollback, shadow NAME or shadow-off: recorded in the database, followed by every replica (a broken dir is refused)."""
    check_csrf(request, csrf)
    root = request.app.state.settings.models_root
    if action == "activate":
        assignments.assign(session, assignments.LIVE, assignments.resolve_model_path(name, root), actor=user.name)
    elif action == "rollback":
        assignments.rollback(session, actor=user.name)
    elif action == "shadow":
        assignments.assign(session, assignments.SHADOW, assignments.resolve_model_path(name, root), actor=user.name)
    elif action == "shadow-off":
        assignments.assign(session, assignments.SHADOW, None, actor=user.name)
    else:
        raise UsageError(f"action must be activate, rollback, shadow or shadow-off, not {action!r}")
    session.commit()
    request.app.state.watcher.wake()  # this replica switches at once; the others at their next poll
    return redirect("/admin")


@router.post("/admin/users")
def admin_add_user(request: Request, user: AdminDep, session: DbDep, name: Annotated[str, Form()], password: Annotated[str, Form()],
                   role: Annotated[Role, Form()], csrf: Annotated[str | None, Form()] = None) -> Response:
    check_csrf(request, csrf)
    add_user(session, name, password, role, actor=user.name)
    session.commit()
    return redirect("/admin")


@router.post("/admin/keys")
def admin_create_key(request: Request, user: AdminDep, session: DbDep, name: Annotated[str, Form()], site: Annotated[str, Form()] = "",
                     csrf: Annotated[str | None, Form()] = None) -> Response:
    check_csrf(request, csrf)
    key = create_api_key(session, name, actor=user.name, site=site.strip() or None)
    session.commit()
    return admin_page(request, user, session, new_key=(name, key))

