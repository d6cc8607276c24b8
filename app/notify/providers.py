"""Where messages leave: Twilio for SMS and calls, SMTP for email, or the console.

One small interface (`send_sms`, `place_call`, `send_email`). With nothing
configured, the console provider logs each message and the outbox page shows it,
so everything works offline.
"""
from __future__ import annotations

import logging
import os
import smtplib
import ssl
import threading
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import parse_qs, unquote, urlparse

from flask import current_app

log = logging.getLogger("firebreak.notify")


@dataclass(frozen=True)
class Sent:
    provider: str
    provider_id: str
    status: str  # what the provider said: queued, sent, …


class ProviderError(Exception):
    """A send that did not happen. `retry` says whether trying again may help."""

    def __init__(self, message: str, *, retry: bool):
        super().__init__(message)
        self.retry = retry


class Console:
    name = "console"

    def _sent(self, kind: str, to: str, text: str) -> Sent:
        log.warning("[console %s to %s] %s", kind, to, text)
        return Sent(self.name, f"console-{uuid.uuid4().hex[:16]}", "sent")

    def send_sms(self, to: str, body: str, status_callback: str | None = None) -> Sent:
        return self._sent("sms", to, body)

    def place_call(self, to: str, url: str, status_callback: str | None = None) -> Sent:
        return self._sent("call", to, url)

    def send_email(self, to: str, subject: str, body: str, html: str | None = None) -> Sent:
        return self._sent("email", to, f"{subject}\n{body}")


class Twilio:
    """The real `twilio` client; TWILIO_API_BASE points it at another host (tests' fake)."""

    name = "twilio"

    def __init__(self, sid: str, token: str, from_number: str, api_base: str, timeout: float):
        from requests.utils import get_environ_proxies
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client
        api_base = api_base.rstrip("/")
        # The environment's proxy and CA settings, read once for the one host this
        # client talks to, as requests would read them: requests re-reads them for
        # every request (scanning all of os.environ twice), a good part of the client's
        # CPU per message, and paging a burst is bound by that CPU.
        http = TwilioHttpClient(timeout=timeout, proxy=get_environ_proxies(api_base) or None)
        http.session.trust_env = False
        http.session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        # environment={}: TWILIO_EDGE / TWILIO_REGION would rewrite the host.
        self.client = Client(sid, token, environment={}, http_client=http)
        self.client.api.base_url = api_base
        self.from_number = from_number

    def _call(self, fn, **kwargs) -> Sent:
        from twilio.base.exceptions import TwilioException, TwilioRestException
        try:
            result = fn(**kwargs)
        except TwilioRestException as error:
            # 429 and 5xx may pass; other 4xx (a bad number, say) will not.
            retry = error.status == 429 or error.status >= 500
            raise ProviderError(f"Twilio HTTP {error.status}: {error.msg}", retry=retry) from None
        except TwilioException as error:
            raise ProviderError(f"Twilio: {error}", retry=True) from None
        except Exception as error:  # connection refused, timeout, TLS …
            raise ProviderError(f"Twilio unreachable: {type(error).__name__}: {error}", retry=True) from None
        return Sent(self.name, result.sid, result.status or "queued")

    def send_sms(self, to: str, body: str, status_callback: str | None = None) -> Sent:
        kwargs = {"to": to, "from_": self.from_number, "body": body}
        if status_callback:
            kwargs["status_callback"] = status_callback
        return self._call(self.client.messages.create, **kwargs)

    def place_call(self, to: str, url: str, status_callback: str | None = None) -> Sent:
        kwargs = {"to": to, "from_": self.from_number, "url": url}
        if status_callback:
            kwargs.update(status_callback=status_callback,
                          status_callback_event=["initiated", "ringing", "answered", "completed"])
        return self._call(self.client.calls.create, **kwargs)


class Smtp:
    name = "smtp"

    def __init__(self, url: str, sender: str, timeout: float):
        parts = urlparse(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError("SMTP_URL must start with smtp:// or smtps://")
        self.host = parts.hostname or "localhost"
        self.ssl = parts.scheme == "smtps"
        self.port = parts.port or (465 if self.ssl else 25)
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        query = parse_qs(parts.query)
        self.starttls = not self.ssl and (query.get("starttls", ["0"])[0] in ("1", "true") or self.port == 587)
        self.sender = sender
        self.timeout = timeout

    def send_email(self, to: str, subject: str, body: str, html: str | None = None) -> Sent:
        """Plain text, or with `html` multipart/alternative: text first, so a mail
        reader that shows one part shows the HTML and one that cannot, the text."""
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message_id = make_msgid(domain="firebreak")
        message["Message-ID"] = message_id
        message.set_content(body)
        if html:
            message.add_alternative(html, subtype="html")
        try:
            cls = smtplib.SMTP_SSL if self.ssl else smtplib.SMTP
            with cls(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self.password or "")
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as error:
            raise ProviderError(f"SMTP refused {to}: {error.recipients}", retry=False) from None
        except (smtplib.SMTPException, OSError) as error:
            raise ProviderError(f"SMTP: {type(error).__name__}: {error}", retry=True) from None
        return Sent(self.name, message_id.strip("<>")[:64], "sent")


@dataclass
class Providers:
    sms: object
    voice: object
    email: object


SETTINGS = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER", "TWILIO_API_BASE", "SMTP_URL",
            "MAIL_FROM", "NOTIFY_TIMEOUT_SECONDS")


def settings() -> dict:
    """What choosing the providers needs from the app's settings, as plain values
    (for threads without an app context)."""
    return {name: current_app.config[name] for name in SETTINGS}


def from_settings(config: dict) -> Providers:
    """The providers the settings ask for."""
    console = Console()
    phone = console
    if config["TWILIO_ACCOUNT_SID"] and config["TWILIO_AUTH_TOKEN"] and config["TWILIO_FROM_NUMBER"]:
        phone = Twilio(config["TWILIO_ACCOUNT_SID"], config["TWILIO_AUTH_TOKEN"], config["TWILIO_FROM_NUMBER"],
                       config["TWILIO_API_BASE"], config["NOTIFY_TIMEOUT_SECONDS"])
    email = Smtp(config["SMTP_URL"], config["MAIL_FROM"], config["NOTIFY_TIMEOUT_SECONDS"]) if config["SMTP_URL"] else console
    return Providers(sms=phone, voice=phone, email=email)


def configured() -> Providers:
    """The providers the app's settings ask for (made per call)."""
    return from_settings(settings())


_local = threading.local()


def for_thread(config: dict) -> Providers:
    """The providers for these settings, kept per thread: a Twilio client keeps its
    connection open between messages (no new TCP and TLS handshake for each), and
    no client is shared between threads."""
    key = tuple(sorted(config.items()))
    cache = getattr(_local, "providers", None)
    if cache is None:
        cache = _local.providers = {}
    chosen = cache.get(key)
    if chosen is None:
        if len(cache) >= 4:  # settings differ per app (tests): keep a few
            cache.clear()
        chosen = cache[key] = from_settings(config)
    return chosen
