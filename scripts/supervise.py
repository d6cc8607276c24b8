"""The process scripts/serve.sh execs into: it holds the web server and the engine, so
the signals a container runtime or systemd sends to one process reach both.

- The web server (gunicorn) runs once. When it exits, for whatever reason, the engine
  is stopped and the supervisor exits with gunicorn's status: the host restarts the
  whole, never half of it.
- The engine is started again when it dies, after 1 s, then 2, 4 … up to 30 s while it
  keeps dying (back to 1 s once it has run a minute), so a crash loop does not spin.
- SIGTERM and SIGINT are passed to both, to gunicorn always as SIGTERM (SIGINT is its
  quick stop, which cuts the requests in flight). gunicorn stops accepting and lets the
  requests in flight finish (its --graceful-timeout); the engine finishes the unit at
  hand and gives its lease up (app/engine/runner.py). The engine gets `--grace`
  seconds for that, then SIGKILL; gunicorn holds its own limit.

The signals are blocked and taken with sigtimedwait in one loop (children get them
unblocked again), so nothing runs between two lines of this code. Standard library
only: it stays small beside the processes it watches.

    python scripts/supervise.py --grace 20 --engine "flask --app wsgi engine run" \\
        -- gunicorn --graceful-timeout 20 wsgi:app
"""
from __future__ import annotations

import argparse
import shlex
import signal
import subprocess
import sys
import time

STOP = {signal.SIGTERM, signal.SIGINT}
WATCHED = STOP | {signal.SIGCHLD}
FIRST_DELAY, MAX_DELAY = 1.0, 30.0  # seconds before the engine is started again
HEALTHY_RUN = 60.0  # an engine that ran this long starts again after FIRST_DELAY


def say(message: str) -> None:
    print(f"supervise: {message}", file=sys.stderr, flush=True)


def _unblock() -> None:  # in the child, before exec: the mask is inherited
    signal.pthread_sigmask(signal.SIG_UNBLOCK, WATCHED)


def start(command: list[str]) -> subprocess.Popen:
    return subprocess.Popen(command, preexec_fn=_unblock)


def exit_status(returncode: int) -> int:
    """A child's status as a shell reports it: 128 + N when signal N ended it."""
    return 128 - returncode if returncode < 0 else returncode


class Engine:
    """The engine process, started again with a growing delay while it keeps dying."""

    def __init__(self, command: list[str]):
        self.command = command
        self.delay = FIRST_DELAY
        self.process: subprocess.Popen | None = None
        self.started = 0.0
        self.due: float | None = time.monotonic()  # when to start it (None: not planned)

    def start_if_due(self, now: float) -> None:
        if self.process is None and self.due is not None and now >= self.due:
            self.process, self.started, self.due = start(self.command), now, None

    def check(self, now: float, stopping: bool) -> None:
        """Notice an exit; unless stopping, plan the next start."""
        if self.process is None or self.process.poll() is None:
            return
        status = exit_status(self.process.returncode)
        self.process = None
        if stopping:
            return
        if now - self.started >= HEALTHY_RUN:
            self.delay = FIRST_DELAY
        self.due = now + self.delay
        say(f"the engine exited (status {status}); starting it again in {self.delay:.0f} s")
        self.delay = min(self.delay * 2, MAX_DELAY)

    def tell(self, signum: int) -> None:
        """Pass a stop signal on; it is not started again after this."""
        self.due = None
        if self.process is not None:
            self.process.send_signal(signum)


def supervise(engine_command: list[str], web_command: list[str], grace: float) -> int:
    signal.pthread_sigmask(signal.SIG_BLOCK, WATCHED)
    web = start(web_command)
    engine = Engine(engine_command)
    kill_at = None  # when an engine told to stop gets SIGKILL
    while True:
        now = time.monotonic()
        engine.start_if_due(now)
        waits = [1.0] + [moment - now for moment in (engine.due, kill_at) if moment is not None]
        received = signal.sigtimedwait(WATCHED, max(0.0, min(waits)))
        now = time.monotonic()
        if received is not None and received.si_signo in STOP:
            say(f"{signal.Signals(received.si_signo).name}: stopping the web server and the engine")
            web.send_signal(signal.SIGTERM)  # gunicorn's graceful stop, whichever came
            engine.tell(received.si_signo)
            kill_at = kill_at or now + grace
        if web.poll() is not None and kill_at is None:
            say(f"the web server exited (status {exit_status(web.returncode)}); stopping the engine")
            engine.tell(signal.SIGTERM)
            kill_at = now + grace
        if kill_at is not None and engine.process is not None and engine.process.poll() is None and now >= kill_at:
            say(f"the engine did not stop within {grace:.0f} s; killing it")
            engine.process.kill()
            engine.process.wait()
        engine.check(now, stopping=kill_at is not None)
        if web.returncode is not None and engine.process is None:
            return exit_status(web.returncode)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", required=True, help="the engine's command line (restarted when it dies)")
    parser.add_argument("--grace", type=float, default=20.0,
                        help="seconds the engine gets to stop after SIGTERM before SIGKILL (default 20)")
    parser.add_argument("web", nargs=argparse.REMAINDER, help="-- then the web server's command line")
    args = parser.parse_args(argv)
    web = args.web[1:] if args.web[:1] == ["--"] else args.web
    if not web:
        parser.error("the web server's command line is missing (after --)")
    if not args.grace > 0:
        parser.error("--grace must be a positive number of seconds")
    return supervise(shlex.split(args.engine), web, args.grace)


if __name__ == "__main__":
    sys.exit(main())
