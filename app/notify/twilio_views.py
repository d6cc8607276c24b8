"""Twilio's webhooks: inbound SMS, the page call's TwiML and keypresses, status callbacks.

Every request must carry a valid X-Twilio-Signature for the URL Twilio was given
(PUBLIC_BASE_URL + path), or it gets 403 and changes nothing. They are public
(Twilio has no session) and exempt from CSRF (the signature is the proof).
"""
from __future__ import annotations

from functools import wraps

from flask import Blueprint, Response, abort, current_app, request
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import Gather, VoiceResponse

from app import clock
from app.extensions import db
from app.links import external_url
from app.notify import dispatch, inbound
from app.notify.models import Channel, Notification
from app.notify.text import CALL_MENU
from app.web import no_csrf, public

bp = Blueprint("twilio", __name__, url_prefix="/twilio")


def public_url() -> str:
    """The URL Twilio signed: the public base, not what a proxy handed us."""
    path = request.full_path if request.query_string else request.path
    return current_app.config["PUBLIC_BASE_URL"] + path


def signed(view):
    @wraps(view)
    def checked(*args, **kwargs):
        token = current_app.config["TWILIO_AUTH_TOKEN"]
        signature = request.headers.get("X-Twilio-Signature", "")
        if not token or not signature or not RequestValidator(token).validate(public_url(), request.form, signature):
            abort(403, description="A valid Twilio signature is needed.")
        return view(*args, **kwargs)
    return checked


def twiml(response) -> Response:
    return Response(str(response), mimetype="application/xml")


@bp.route("/sms", methods=["POST"])
@public
@no_csrf
@signed
def sms():
    message_sid = request.form.get("MessageSid") or request.form.get("SmsSid") or ""
    number = request.form.get("From", "")
    if not message_sid or not number:
        abort(400, description="MessageSid and From are required.")
    row = inbound.receive_sms(message_sid, number, request.form.get("Body", ""), clock.now())
    db.session.commit()
    response = MessagingResponse()
    if row.replied and row.reply:
        response.message(row.reply)
    return twiml(response)


def _call_notification(notification_id: int) -> Notification:
    row = db.session.get(Notification, notification_id)
    if row is None or row.channel != Channel.VOICE:
        abort(404, description="No such call.")
    return row


def _is_page(row: Notification) -> bool:
    return row.purpose in dispatch.PAGE_PURPOSES and row.incident_id is not None


def _say_page(response: VoiceResponse, row: Notification) -> None:
    action = external_url("twilio.keypress", notification_id=row.id)
    gather = Gather(num_digits=1, action=action, method="POST", timeout=8)
    gather.say(row.body)
    gather.say(CALL_MENU)
    response.append(gather)


@bp.route("/voice/<int:notification_id>", methods=["POST"])
@public
@no_csrf
@signed
def voice(notification_id: int):
    """What the page call says: the incident, then the menu; twice if nobody presses.
    Any other call (a verification code, a test page, a reminder) says its words and
    hangs up: it offers no keys, since no key on it may act on an incident."""
    row = _call_notification(notification_id)
    response = VoiceResponse()
    if not _is_page(row):
        response.say(row.body)
        response.hangup()
        return twiml(response)
    _say_page(response, row)
    _say_page(response, row)
    response.say("No key was pressed. Goodbye.")
    return twiml(response)


@bp.route("/voice/<int:notification_id>/keypress", methods=["POST"])
@public
@no_csrf
@signed
def keypress(notification_id: int):
    row = _call_notification(notification_id)
    digits = request.form.get("Digits", "")
    response = VoiceResponse()
    if not _is_page(row):  # nothing was offered: a key here changes nothing
        response.say("Goodbye.")
        response.hangup()
        return twiml(response)
    if digits.startswith("*"):
        _say_page(response, row)
        return twiml(response)
    call_sid = request.form.get("CallSid", "")
    answer = inbound.receive_keypress(f"{call_sid}:{digits}", row, digits, clock.now())
    db.session.commit()
    response.say(answer.text)
    if answer.outcome == "not_understood":
        _say_page(response, row)
    else:
        response.say("Goodbye.")
    return twiml(response)


@bp.route("/status", methods=["POST"])
@public
@no_csrf
@signed
def status():
    """Delivery reports: MessageSid + MessageStatus, or CallSid + CallStatus."""
    form = request.form
    provider_id = form.get("MessageSid") or form.get("SmsSid") or form.get("CallSid")
    state = form.get("MessageStatus") or form.get("SmsStatus") or form.get("CallStatus")
    if not provider_id or not state:
        abort(400, description="A message or call id and its status are required.")
    dispatch.record_status(provider_id, state, clock.now(), error_code=form.get("ErrorCode"))
    db.session.commit()
    return Response("", 204)
