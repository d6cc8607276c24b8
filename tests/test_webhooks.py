"""The one outbound-webhook sender (app.webhooks): Standard Webhooks signatures that
the `standardwebhooks` package accepts, the address policy (http(s) only, no
redirects, no loopback, private, link-local or metadata addresses unless
WEBHOOK_ALLOW_HOSTS names the host, checked after resolving and pinned for the
connection), and the backoff table shared with the outbox.

Every request here goes to a receiver on loopback; names that resolve elsewhere do so
through a patched resolver and are refused before any connection."""
from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook as Verifier
from standardwebhooks.webhooks import WebhookVerificationError

from app.engine import backoff
from app.errors import DomainError
from app.notify import dispatch
from app.webhooks import addresses, sender, signing
from tests.fakes import WebhookReceiver

BODY = b'{"event":"incident.update","incident":{"id":42}}'


@pytest.fixture
def receiver():
    server = WebhookReceiver(default=204)
    yield server
    server.close()


@pytest.fixture
def resolver(monkeypatch):
    """Names resolve as a test says (and nowhere else); unknown names do not resolve."""
    table: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def fake(host, port, *args, **kwargs):
        if host in table:
            family = lambda a: socket.AF_INET6 if ":" in a else socket.AF_INET  # noqa: E731
            return [(family(a), socket.SOCK_STREAM, 6, "", (a, port)) for a in table[host]]
        if host in ("127.0.0.1", "::1"):
            return real(host, port, *args, **kwargs)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return table


def deliver(url, secret, *, allow=(), msg_id="msg_1", now=None):
    return sender.deliver(url, secret, msg_id, BODY, now or datetime.now(UTC), event="incident.update",
                          allow=frozenset(allow))


# --- signatures ---------------------------------------------------------------------------------

def test_a_delivery_is_signed_as_standard_webhooks_says(receiver):
    secret = signing.new_secret()
    assert secret.startswith("whsec_") and len(signing.key(secret)) == 32
    now = datetime.now(UTC)
    result = deliver(receiver.url("/in?x=1"), secret, allow=["127.0.0.1"], msg_id="update:7:webhook:3", now=now)
    assert (result.ok, result.code, result.error) == (True, 204, None)
    [got] = receiver.received
    assert got["path"] == "/in?x=1" and got["body"] == BODY
    headers = {k.lower(): v for k, v in got["headers"].items()}
    assert headers["webhook-id"] == "update:7:webhook:3"
    assert headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert headers["host"] == f"127.0.0.1:{receiver.port}"
    assert Verifier(secret).verify(got["body"], got["headers"]) == {"event": "incident.update", "incident": {"id": 42}}
    for forged in (signing.new_secret(), "whsec_" + secret[6:][::-1]):
        with pytest.raises(WebhookVerificationError):
            Verifier(forged).verify(got["body"], got["headers"])
    with pytest.raises(WebhookVerificationError):
        Verifier(secret).verify(got["body"].replace(b"42", b"43"), got["headers"])


def test_the_signature_is_the_plain_hmac_the_docs_describe():
    import base64
    import hashlib
    import hmac
    secret = signing.from_key(b"an old secret, kept as the key bytes")
    expected = base64.b64encode(hmac.new(b"an old secret, kept as the key bytes", b"msg_1.1772442000." + BODY,
                                         hashlib.sha256).digest()).decode()
    assert signing.sign(secret, "msg_1", 1772442000, BODY) == f"v1,{expected}"
    assert Verifier(secret).sign("msg_1", datetime.fromtimestamp(1772442000, UTC), BODY) == f"v1,{expected}"


def test_typed_secrets_must_be_whsec_of_24_to_64_bytes():
    for bad in ("hunter2", "whsec_", "whsec_not base64!", "whsec_" + "QQ==" * 4, signing.from_key(b"x" * 65)):
        with pytest.raises(DomainError, match="whsec_"):
            signing.check_secret(bad)
    good = signing.from_key(b"k" * 24)
    assert signing.check_secret(f"  {good} ") == good


# --- the address policy ---------------------------------------------------------------------------

def test_a_loopback_receiver_is_refused_unless_the_allow_list_names_it(receiver):
    secret = signing.new_secret()
    refused = deliver(receiver.url(), secret)
    assert not refused.ok and not refused.retry and refused.code is None
    assert "127.0.0.1 is a loopback address" in refused.error and "WEBHOOK_ALLOW_HOSTS" in refused.error
    assert receiver.received == []  # nothing was sent
    assert deliver(receiver.url(), secret, allow=[f"127.0.0.1:{receiver.port + 1}"]).ok is False  # another port
    assert deliver(receiver.url(), secret, allow=[f"127.0.0.1:{receiver.port}"]).ok
    assert deliver(receiver.url(), secret, allow=["127.0.0.1"]).ok
    assert len(receiver.received) == 2


def test_a_name_resolving_to_a_private_address_is_refused_before_connecting(receiver, resolver, monkeypatch):
    resolver["hooks.corp.example"] = ["10.20.30.40"]
    resolver["mixed.example"] = ["93.184.215.14", "192.168.1.7"]
    resolver["metadata.example"] = ["169.254.169.254"]
    resolver["v6-metadata.example"] = ["fd00:ec2::254"]
    resolver["link-local.example"] = ["fe80::1"]
    resolver["mapped.example"] = ["::ffff:127.0.0.1"]
    connects = []
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: connects.append(a) or (_ for _ in ()).throw(
        AssertionError("no connection may be made")))
    secret = signing.new_secret()
    for host, said in (("hooks.corp.example", "10.20.30.40), a private address"),
                       ("mixed.example", "192.168.1.7), a private address"),
                       ("metadata.example", "a cloud metadata address"),
                       ("v6-metadata.example", "a cloud metadata address"),
                       ("link-local.example", "a link-local address"),
                       ("mapped.example", "a loopback address")):
        result = deliver(f"https://{host}/hook", secret)
        assert not result.ok and not result.retry, host
        assert said.replace("), ", ") is ") in result.error, result.error
    assert connects == []
    unresolved = deliver("https://nowhere.example/hook", secret)
    assert not unresolved.ok and unresolved.retry and "could not resolve nowhere.example" in unresolved.error


def test_the_connection_goes_to_the_address_that_was_checked(receiver, resolver, monkeypatch):
    """The name is resolved once; the request goes to that address with the name in
    the Host header, so a name that then resolves elsewhere (DNS rebinding) cannot
    send it there."""
    resolver["rebinding.test"] = ["127.0.0.1"]
    lookup, names = socket.getaddrinfo, []

    def rebinding(host, *args, **kwargs):
        answer = lookup(host, *args, **kwargs)
        if host == "rebinding.test":
            names.append(host)
            resolver["rebinding.test"] = ["10.9.9.9"]  # the next answer would be private
        return answer

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    result = deliver(receiver.url("/x", host="rebinding.test"), signing.new_secret(), allow=["rebinding.test"])
    assert result.ok and names == ["rebinding.test"]  # one lookup; the connection went to its answer
    assert receiver.received[-1]["headers"]["Host"] == f"rebinding.test:{receiver.port}"


def test_a_redirect_is_a_failure_and_is_not_followed(receiver):
    receiver.answers = [(302, {"Location": receiver.url("/elsewhere")}), (307, {"Location": "http://10.0.0.1/"})]
    secret = signing.new_secret()
    for code, where in ((302, receiver.url("/elsewhere")), (307, "http://10.0.0.1/")):
        result = deliver(receiver.url("/moved"), secret, allow=["127.0.0.1"])
        assert (result.ok, result.code, result.retry) == (False, code, False)
        assert result.error == f"HTTP {code}: redirected to {where}, not followed; give the webhook's final address"
    assert [got["path"] for got in receiver.received] == ["/moved", "/moved"]


def test_answers_say_whether_trying_again_may_help(receiver):
    receiver.answers = [(500, {}), (429, {}), (408, {}), (404, {}), (410, {})]
    results = [deliver(receiver.url(), signing.new_secret(), allow=["127.0.0.1"]) for _ in range(5)]
    assert [(r.code, r.retry) for r in results] == [(500, True), (429, True), (408, True), (404, False), (410, False)]
    assert results[0].error == "HTTP 500 Internal Server Error"
    closed = deliver("http://127.0.0.1:9/x", signing.new_secret(), allow=["127.0.0.1"])
    assert closed.retry and closed.error.startswith("could not reach 127.0.0.1:9")
    assert deliver("ftp://example.com/x", signing.new_secret()).error.startswith("refused: ")
    assert deliver(receiver.url(), "", allow=["127.0.0.1"]).error == "the webhook has no signing secret"


@pytest.mark.parametrize("url, said", [
    ("ftp://example.com/x", "http:// or https://"), ("javascript:alert(1)", "http:// or https://"),
    ("example.com/x", "http:// or https://"), ("https://", "http:// or https://"),
    ("https://example.com:99999/x", "cannot be read"), ("https://u:p@example.com/x", "credentials"),
    ("http://127.0.0.1:8080/x", "loopback"), ("https://localhost/x", "loopback"), ("https://[::1]/x", "loopback"),
    ("https://10.0.0.5/x", "private"), ("http://169.254.169.254/latest/meta-data", "metadata"),
    ("https://0.0.0.0/x", "unspecified"), ("https://example.com/" + "x" * 2000, "under 2000"),
])
def test_saving_refuses_what_can_never_be_delivered(app, url, said):
    with pytest.raises(DomainError, match=said) as refused:
        addresses.check_url(url)
    assert refused.value.field == "url"


def test_saving_takes_names_and_allowed_hosts(app):
    assert addresses.check_url(" https://hooks.slack.com/services/T0/B0/x ") == "https://hooks.slack.com/services/T0/B0/x"
    assert addresses.check_url("http://hooks.corp.example/in") == "http://hooks.corp.example/in"  # checked when sent
    allow = addresses.allow_list("10.0.0.5, [::1]:8443, Receiver.Internal")
    assert addresses.check_url("https://10.0.0.5/x", allow=allow)
    assert addresses.check_url("https://[::1]:8443/x", allow=allow)
    with pytest.raises(DomainError):
        addresses.check_url("https://[::1]/x", allow=allow)
    assert addresses.check_url("http://receiver.internal/x", allow=allow)


@pytest.mark.parametrize("app_config", [{"WEBHOOK_ALLOW_HOSTS": "10.0.0.5, hooks.corp.example"}])
def test_the_allow_list_is_a_setting(app):
    assert addresses.allow_list() == {"10.0.0.5", "hooks.corp.example"}
    assert addresses.check_url("https://10.0.0.5/x")


# --- one backoff table ----------------------------------------------------------------------------

def test_webhooks_and_the_outbox_share_one_backoff_table():
    from app.comms import webhooks as comms_webhooks
    from app.statuspage import webhooks as statuspage_webhooks
    assert [backoff.retry_delay(n).total_seconds() for n in range(1, 9)] == [15, 30, 60, 120, 240, 300, 300, 300]
    assert backoff.exhausted(backoff.MAX_ATTEMPTS) and not backoff.exhausted(backoff.MAX_ATTEMPTS - 1)
    for module in (dispatch, comms_webhooks, statuspage_webhooks):
        assert module.backoff is backoff
        assert not hasattr(module, "BACKOFF") and not hasattr(module, "MAX_ATTEMPTS")
    assert sum(backoff.retry_delay(n).total_seconds() for n in range(1, backoff.MAX_ATTEMPTS)) < 3600
    assert timedelta(seconds=backoff.BACKOFF[0]) == backoff.retry_delay(1)


# --- what docs/webhooks.md tells receivers -------------------------------------------------------

def test_the_verification_snippets_in_the_docs_accept_a_delivery_and_refuse_a_forgery(receiver):
    import re
    from pathlib import Path
    text = (Path(__file__).resolve().parent.parent / "docs" / "webhooks.md").read_text()
    snippets = [code for code in re.findall(r"```python\n(.*?)```", text, re.S) if "def verify" in code]
    assert len(snippets) == 2
    secret = signing.new_secret()
    assert deliver(receiver.url(), secret, allow=["127.0.0.1"]).ok
    [got] = receiver.received
    for code in snippets:
        scope: dict = {}
        exec(code, scope)  # noqa: S102 - our own documentation
        assert scope["verify"](secret, got["headers"], got["body"]) == {"event": "incident.update",
                                                                         "incident": {"id": 42}}
        for headers, body in ((got["headers"], got["body"] + b" "),
                              ({**got["headers"], "webhook-id": "msg_other"}, got["body"])):
            with pytest.raises((ValueError, WebhookVerificationError)):
                scope["verify"](secret, headers, body)
