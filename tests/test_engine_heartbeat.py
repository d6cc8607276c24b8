"""ENGINE_HEARTBEAT_URL, the engine's dead man's switch: fetched after a cycle that held
the lease and did its work, at most once a minute, never by a standby, and never in the
way of the cycle. A real HTTP server on loopback receives the pings; the minute is
moved by hand (the switch's clock), not waited for."""
from __future__ import annotations

import logging
import socket
import time

import pytest

from app.config import ConfigError, from_env
from app.engine.core import Engine, Job
from app.engine.deadman import DeadMansSwitch
from app.engine.runner import _cycle
from tests.fakes import WebhookReceiver, wait_for


class Clock:
    def __init__(self):
        self.at = 1000.0

    def __call__(self) -> float:
        return self.at


@pytest.fixture(scope="module")
def receiver_server():
    server = WebhookReceiver()
    yield server
    server.close()


@pytest.fixture
def receiver(receiver_server):
    """The loopback server, emptied for this test, answering 200."""
    receiver_server.received.clear()
    receiver_server.default = 200
    return receiver_server


def pings(switch: DeadMansSwitch, engine: Engine, clock: Clock, times: list[float]) -> list[bool]:
    """A cycle at each time (seconds from now); which of them started a ping. Each ping
    is waited for before the next cycle, so the receiver has them all."""
    started = []
    start = clock.at
    for at in times:
        clock.at = start + at
        thread = switch.cycled(engine.cycle())
        if thread is not None:
            thread.join(10)
            assert not thread.is_alive()
        started.append(thread is not None)
    return started


def test_the_engine_pings_at_most_once_a_minute(app, receiver):
    clock = Clock()
    switch = DeadMansSwitch(receiver.url("/ping/0d1f2e"), clock=clock)
    engine = Engine([], holder="active")
    assert pings(switch, engine, clock, [0, 0.5, 30, 59.9, 60, 61, 119, 125]) == [
        True, False, False, False, True, False, False, True]
    assert [(got["method"], got["path"]) for got in receiver.received] == [("GET", "/ping/0d1f2e")] * 3


def test_a_standby_engine_never_pings(app, receiver):
    clock = Clock()
    active, standby = Engine([], holder="active"), Engine([], holder="standby")
    switch = DeadMansSwitch(receiver.url(), clock=clock)
    assert pings(switch, active, clock, [0]) == [True]
    standby_switch = DeadMansSwitch(receiver.url(), clock=clock)
    assert pings(standby_switch, standby, clock, [0, 61, 200]) == [False, False, False]
    assert len(receiver.received) == 1


def test_cycles_with_errors_do_not_ping(app, receiver):
    """An engine whose cycles keep failing pages nobody: the switch should go off."""
    def broken(now, limit):
        raise RuntimeError("a broken query")

    clock = Clock()
    switch = DeadMansSwitch(receiver.url(), clock=clock)
    engine = Engine([Job("broken", broken, lambda ident, now: True)], holder="active")
    assert pings(switch, engine, clock, [0, 61, 200]) == [False, False, False]
    engine.jobs = []
    assert pings(switch, engine, clock, [1]) == [True]


def test_a_failing_url_is_logged_and_the_cycles_go_on(app, receiver, caplog):
    clock = Clock()
    receiver.default = 500
    engine = Engine([], holder="active")
    switch = DeadMansSwitch(receiver.url("/ping/secret-uuid"), clock=clock)
    with caplog.at_level(logging.WARNING, logger="firebreak.engine"):
        assert pings(switch, engine, clock, [0, 61]) == [True, True]
        refused = socket.socket()
        refused.bind(("127.0.0.1", 0))
        switch.url = f"http://127.0.0.1:{refused.getsockname()[1]}/ping"  # bound, not listening
        assert pings(switch, engine, clock, [61]) == [True]
        refused.close()
    failures = [r.getMessage() for r in caplog.records if "heartbeat" in r.getMessage()]
    assert len(failures) == 3 and "HTTP Error 500" in failures[0] and "refused" in failures[2]
    assert not [m for m in failures if "secret-uuid" in m]
    assert engine.cycle().active


@pytest.mark.realtime
def test_a_url_that_never_answers_does_not_hold_the_cycle_up(app, caplog):
    """The ping waits for its answer in its own thread, up to its timeout; the cycle
    goes on at once, and no second ping starts while one waits."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts the connection, never answers
    clock = Clock()
    switch = DeadMansSwitch(f"http://127.0.0.1:{silent.getsockname()[1]}/ping", timeout=1.0, clock=clock)
    engine = Engine([], holder="active")
    try:
        began = time.perf_counter()
        waiting = switch.cycled(engine.cycle())
        clock.at += 61
        assert switch.cycled(engine.cycle()) is None  # the first still waits
        assert time.perf_counter() - began < 0.5 and waiting.is_alive()
        with caplog.at_level(logging.WARNING, logger="firebreak.engine"):
            waiting.join(10)
        assert "timed out" in caplog.text
    finally:
        silent.close()


def test_the_running_engine_pings_when_the_url_is_set(app, receiver):
    app.config["ENGINE_HEARTBEAT_URL"] = receiver.url("/ping")
    _cycle(app, {})
    wait_for(lambda: receiver.received, 10, "the ping", step=0.01)
    assert [got["path"] for got in receiver.received] == ["/ping"]


def test_without_a_url_nothing_is_fetched(app):
    assert DeadMansSwitch("").cycled(Engine([], holder="active").cycle()) is None


@pytest.mark.parametrize("url", ["ftp://hc-ping.com/x", "hc-ping.com/0d1f2e", "https:///path-only"])
def test_a_heartbeat_url_that_is_not_http_refuses_to_start(monkeypatch, url):
    monkeypatch.setenv("ENGINE_HEARTBEAT_URL", url)
    with pytest.raises(ConfigError, match="ENGINE_HEARTBEAT_URL must be an http:// or https:// URL") as refused:
        from_env()
    assert url not in str(refused.value)


@pytest.mark.parametrize("url", ["https://hc-ping.com/0d1f 2e", "https://hc-ping.com/0d1f\t2e", "https://hc-ping.com/0d1f\x7f",
                                 "https://hc-ping.com/0d1fé", "https://hc-ping.com:99999/0d1f", "https://hc-ping.com:x/0d1f"])
def test_a_heartbeat_url_urllib_would_refuse_refuses_to_start(monkeypatch, url):
    """What urllib would refuse at the first ping (quoting the path in its error) is
    refused at start, without the URL."""
    monkeypatch.setenv("ENGINE_HEARTBEAT_URL", url)
    with pytest.raises(ConfigError, match="ENGINE_HEARTBEAT_URL") as refused:
        from_env()
    assert "0d1f" not in str(refused.value)


def test_a_ping_that_fails_before_sending_never_logs_the_path(app, caplog):
    """Given a URL urllib refuses (a switch made without the settings' check), the log
    says why without quoting the URL."""
    switch = DeadMansSwitch("http://127.0.0.1:9/ping secret-uuid", clock=Clock())
    with caplog.at_level(logging.WARNING, logger="firebreak.engine"):
        switch.cycled(Engine([], holder="active").cycle()).join(10)
    [failure] = [r.getMessage() for r in caplog.records if "heartbeat" in r.getMessage()]
    assert "secret-uuid" not in failure and failure == "engine heartbeat to 127.0.0.1 failed: InvalidURL"


def test_the_heartbeat_url_may_come_from_a_file(monkeypatch, tmp_path):
    path = tmp_path / "heartbeat_url"
    path.write_text("https://hc-ping.com/0d1f2e\n")
    monkeypatch.setenv("ENGINE_HEARTBEAT_URL_FILE", str(path))
    assert from_env()["ENGINE_HEARTBEAT_URL"] == "https://hc-ping.com/0d1f2e"
