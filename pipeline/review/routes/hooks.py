"""Public endpoints of the dispatch side: Twilio webhooks, the email unsubscribe link and the
email's "wrong where you are?" link.

They need no editor session: Twilio's requests are authenticated by their
``X-Twilio-Signature`` (HMAC-SHA1 with the account's auth token over the public URL and the
form), the unsubscribe and "wrong?" links by the subscriber's secret token. CSRF tokens do not
apply (the app's CSRF check skips these paths); the logic lives in
:mod:`pipeline.dispatch.optout` and :mod:`pipeline.dispatch.replies`.
"""

from __future__ import annotations

from datetime import datetime
from html import escape

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlalchemy.exc import IntegrityError
from twilio.request_validator import RequestValidator

from pipeline.dispatch.optout import handle_inbound_sms, record_status, unsubscribe
from pipeline.dispatch.replies import delivery_for_link, record_wrong
from pipeline.review.deps import SessionDep, page, public_page

router = APIRouter(tags=["hooks"])
PUBLIC_PREFIXES = ("/hooks/", "/u/", "/w/")


async def twilio_form(request: Request) -> dict[str, str]:
    """The form Twilio posted, after checking its signature (403 when it does not match)."""
    dispatch = request.app.state.settings.dispatch
    if dispatch.twilio_auth_token is None:
        raise HTTPException(503, "Twilio webhooks need ZIPCAST_DISPATCH__TWILIO_AUTH_TOKEN")
    form = {k: str(v) for k, v in (await request.form()).items()}
    url = dispatch.public_url.rstrip("/") + request.url.path
    validator = RequestValidator(dispatch.twilio_auth_token.get_secret_value())
    if not validator.validate(url, form, request.headers.get("x-twilio-signature", "")):
        raise HTTPException(403, f"bad X-Twilio-Signature for {url}; is "
                                 f"ZIPCAST_DISPATCH__PUBLIC_URL the URL Twilio calls?")
    return form


def _now(request: Request) -> datetime:
    return request.app.state.now()


@router.post("/hooks/twilio/inbound")
async def twilio_inbound(request: Request, db: SessionDep) -> Response:
    """An SMS to our number: STOP and friends opt out, HELP answers; replies are TwiML.

    Twilio's signature carries no timestamp, so a captured request stays valid: each
    ``MessageSid`` is acted on once, and a repeat gets an empty 200 (no retry, no reply).
    """
    form = await twilio_form(request)
    sid = form.get("MessageSid") or form.get("SmsSid") or None
    # the database work (which may wait for a concurrent delivery's commit) off the event loop
    result = await run_in_threadpool(handle_inbound_sms, db, form.get("From", ""),
                                     form.get("Body", ""), _now(request), provider_id=sid,
                                     settings=request.app.state.settings)
    body = f"<Message>{escape(result.reply)}</Message>" if result.reply else ""
    return Response(f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>',
                    media_type="text/xml")


@router.post("/hooks/twilio/status")
async def twilio_status(request: Request, db: SessionDep) -> Response:
    """A message status callback (queued, sent, delivered, undelivered, failed)."""
    form = await twilio_form(request)
    sid = form.get("MessageSid") or form.get("SmsSid")
    if not sid:
        raise HTTPException(400, "no MessageSid in the callback")
    record_status(db, sid, form.get("MessageStatus") or form.get("SmsStatus") or "unknown",
                  _now(request), error_code=form.get("ErrorCode") or None)
    return Response(status_code=204)


@router.get("/u/{token}")
def unsubscribe_page(request: Request, token: str):
    """The link in every email: a confirmation button (link scanners must not unsubscribe)."""
    return public_page(request, "review/unsubscribe.html", {"token": token, "done": False})


@router.post("/u/{token}")
def unsubscribe_now(request: Request, token: str, db: SessionDep):
    """The button, or a mail client's RFC 8058 one-click POST: opt out at once."""
    sub = unsubscribe(db, token, _now(request))
    if sub is None:
        raise HTTPException(404, "this unsubscribe link is not valid (it may be mistyped); "
                                 "reply STOP to any text, or write to help@zipcast.example")
    return public_page(request, "review/unsubscribe.html", {"token": token, "done": True})


@router.get("/w/{token}/{delivery_id}")
def wrong_page(request: Request, token: str, delivery_id: int, db: SessionDep):
    """The "wrong where you are?" link: a confirmation button (link scanners follow GETs)."""
    delivery = delivery_for_link(db, token, delivery_id)
    if delivery is None:
        raise HTTPException(404, "this link is not valid (it may be mistyped or cut short)")
    return page(request, "review/wrong.html", {"token": token, "delivery": delivery,
                                                "done": False})


@router.post("/w/{token}/{delivery_id}")
def wrong_now(request: Request, token: str, delivery_id: int, db: SessionDep):
    """Record that the message was wrong where the subscriber is (once per message)."""
    delivery = delivery_for_link(db, token, delivery_id)
    if delivery is None:
        raise HTTPException(404, "this link is not valid (it may be mistyped or cut short)")
    record_wrong(db, delivery, via="email link", at=_now(request))
    try:
        db.commit()
    except IntegrityError:  # the same link clicked twice at once: recorded by the other
        db.rollback()
    return page(request, "review/wrong.html", {"token": token, "delivery": delivery,
                                                "done": True})
