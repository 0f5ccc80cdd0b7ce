"""Build the review app: settings in, routers included, nothing read from module globals."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import anyio
from fastapi import Depends, FastAPI, Request
from fastapi.responses import PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from pipeline.editorial.comments import Presence
from pipeline.editorial.models import Editor
from pipeline.review.deps import (
    STATIC_DIR,
    CsrfRejected,
    LoginRequired,
    ReviewSettings,
    page,
    public_page,
    require_csrf,
    signed_in_editor,
)
from pipeline.review.routes import (
    auth,
    detail,
    exchange,
    hooks,
    runs,
    signup,
    slots,
    thread,
    verification,
)
from pipeline.review.security import (
    VERIFY_SLOTS,
    LoginLimiter,
    load_secret,
    refuse_tracked_secret,
    secret_is_tracked,
    verify_password,
)
from pipeline.review.sheet import SubscriberCounts
from pipeline.settings import Settings, get_settings
from pipeline.store.db import get_engine, migrate

CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")


def _editor(request: Request) -> Editor | None:
    """The signed-in editor for the page header of an error page, if the session is current."""
    if "session" not in request.scope or request.session.get("editor_id") is None:
        return None
    with Session(get_engine(request.app.state.settings.db_url),
                 expire_on_commit=False) as db:
        return signed_in_editor(request, db)


PUBLIC_PATHS = ("/signup", "/m/", "/u/")  # subscribers' pages: no editor layout on errors


def _public(request: Request) -> bool:
    return request.url.path.startswith(PUBLIC_PATHS)


def create_app(
    settings: Settings | None = None,
    review: ReviewSettings | None = None,
    *,
    clock: Callable[[], float] = time.monotonic,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    key_tracked: Callable[[Path], bool] = secret_is_tracked,
    verify: Callable[[str | None, str], bool] = verify_password,
) -> FastAPI:
    """The review app for one database.

    Parameters
    ----------
    settings : zipcast settings (database URL, data folder); default: from the environment
    review : review-server settings (cookie, rate limit, send time); default: settings.review
    clock : monotonic seconds for the sign-in rate limit
    now : the wall clock (aware UTC) for saved-at stamps and the deadline banner
    key_tracked : whether git tracks the key file (default: ask ``git ls-files``)
    verify : checks a password against an editor's hash (``None``: no such editor)

    Raises
    ------
    SecretKeyTracked
        when the signing key comes from a file that git tracks
    """
    settings = settings or get_settings()
    review = review or settings.review
    secret = review.secret_key
    if not secret:
        key_file = settings.data_dir / "review-secret.key"
        secret = load_secret(key_file)
        refuse_tracked_secret(key_file, key_tracked)
    migrate(settings.db_url)
    counts = SubscriberCounts(settings.db_url, clock)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(counts.warm)  # before the first request is taken
        yield

    app = FastAPI(title="zipcast review", docs_url=None, redoc_url=None, openapi_url=None,
                  dependencies=[Depends(require_csrf)], lifespan=lifespan)
    app.state.settings = settings
    app.state.review = review
    app.state.limiter = LoginLimiter(
        review.login_max_failures, review.login_window_s, clock,
        max_failures_per_address=review.login_max_failures_per_ip)
    app.state.verify_password = verify
    # password checks get threads of their own, so a burst of sign-ins waits here instead of
    # filling the shared thread pool every other request needs
    app.state.verify_slots = anyio.CapacityLimiter(VERIFY_SLOTS)
    app.state.now = now
    app.state.clock = clock
    app.state.presence = Presence()  # who is on which slot, for the sheet's hint
    app.state.subscriber_counts = counts  # counted at start-up, then at most once a minute
    app.state.run_cache = {}  # run id -> maps and sparkline bands, computed once
    app.add_middleware(SessionMiddleware, secret_key=secret, session_cookie="zipcast_review",
                       max_age=review.session_max_age_s, same_site="lax",
                       https_only=review.secure_cookie)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, _exc: LoginRequired):  # type: ignore[no-untyped-def]
        if request.headers.get("x-requested-with") == "fetch":
            return PlainTextResponse("sign in again", status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    @app.exception_handler(CsrfRejected)
    async def csrf_rejected(request: Request, _exc: CsrfRejected):  # type: ignore[no-untyped-def]
        if _public(request):  # a subscriber's page: no editor layout, a way back to the form
            return public_page(request, "review/signup_message.html", {
                "title": "Form expired",
                "text": "This form is out of date or came from another site; nothing was "
                        "changed. Go back, reload the page and try again."}, status_code=403)
        return page(request, "review/error.html", {
            "title": "Form expired",
            "detail": "This form is out of date or came from another site. Reload the page "
                      "and try again; your text was not saved."}, status_code=403)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):  # type: ignore[no-untyped-def]
        """Errors as pages people can act on (JSON-free), plain text for fetch() callers."""
        if request.headers.get("x-requested-with") == "fetch" or request.url.path.startswith(
                "/hooks/"):
            return PlainTextResponse(str(exc.detail), status_code=exc.status_code,
                                     headers=getattr(exc, "headers", None))
        titles = {403: "Not allowed", 404: "Not found", 405: "Not allowed here",
                  413: "Too large", 422: "Cannot do that"}
        if _public(request):
            return public_page(request, "review/signup_message.html", {
                "title": titles.get(exc.status_code, "Something went wrong"),
                "text": str(exc.detail)}, status_code=exc.status_code)
        return page(request, "review/error.html", {
            "title": titles.get(exc.status_code, "Something went wrong"),
            "detail": str(exc.detail)}, status_code=exc.status_code,
            editor=_editor(request))

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(auth.router)
    app.include_router(runs.router)
    app.include_router(slots.router)
    app.include_router(thread.router)
    app.include_router(detail.router)
    app.include_router(exchange.router)
    app.include_router(hooks.router)
    app.include_router(verification.router)
    app.include_router(signup.router)
    return app
