"""The az runner: argv, environment, timeouts, JSON decoding, and failures as typed errors."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pytest_subprocess import FakeProcess

from azpe.az import AzRunner, child_env, resolve_az
from azpe.errors import AuthError, AzTimeout, AzureError, ExitCode, NotFound, TransientError, UsageError
from azpe.retry import is_transient
from tests.azsamples import dumps, network_error, sdk_error, server_json

SHOW = ["postgres", "flexible-server", "show", "--resource-group", "rg-data", "--name", "pg-orders"]


def make_executable(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IEXEC | stat.S_IXGRP | stat.S_IXOTH)
    return os.fspath(path)


# -- the child environment (a pure function) -------------------------------------------------


def test_child_env_turns_telemetry_and_colour_off() -> None:
    env = child_env({"PATH": "/usr/bin", "AZURE_CORE_COLLECT_TELEMETRY": "true", "AZURE_CORE_NO_COLOR": "0"})
    assert env["AZURE_CORE_COLLECT_TELEMETRY"] == "false"
    assert env["AZURE_CORE_NO_COLOR"] == "true"
    assert env["PYTHONIOENCODING"] == "utf-8"
    assert env["PATH"] == "/usr/bin"


def test_child_env_drops_settings_that_change_azs_output_or_hide_errors() -> None:
    env = child_env(
        {
            "AZURE_CORE_OUTPUT": "table",
            "AZURE_CORE_ONLY_SHOW_ERRORS": "true",
            "AZURE_CORE_DISABLE_CONFIRM_PROMPT": "true",
            "HOME": "/home/dba",
        }
    )
    assert "AZURE_CORE_OUTPUT" not in env
    assert "AZURE_CORE_ONLY_SHOW_ERRORS" not in env
    assert "AZURE_CORE_DISABLE_CONFIRM_PROMPT" not in env
    assert env["HOME"] == "/home/dba"


def test_child_env_keeps_the_users_login_config_and_proxy() -> None:
    base = {
        "AZURE_CONFIG_DIR": "/home/dba/.azure-prod",
        "REQUESTS_CA_BUNDLE": "/etc/ssl/corp.pem",
        "HTTPS_PROXY": "http://proxy:3128",
        "AZURE_CORE_INSTANCE_DISCOVERY": "false",
    }
    env = child_env(base)
    for key, value in base.items():
        assert env[key] == value


def test_child_env_does_not_modify_its_input() -> None:
    base = {"AZURE_CORE_OUTPUT": "yaml"}
    child_env(base)
    assert base == {"AZURE_CORE_OUTPUT": "yaml"}


# -- finding az --------------------------------------------------------------------------------


@pytest.fixture
def three_azs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    found = {
        name: make_executable(tmp_path / name / "az", "#!/bin/sh\nexit 0\n")
        for name in ("explicit", "env", "path")
    }
    monkeypatch.setenv("PATH", os.fspath(tmp_path / "path"))
    return found


def test_resolve_az_prefers_the_az_option(three_azs: dict[str, str]) -> None:
    assert resolve_az(three_azs["explicit"], {"AZPE_AZ": three_azs["env"]}) == three_azs["explicit"]


def test_resolve_az_then_azpe_az(three_azs: dict[str, str]) -> None:
    assert resolve_az(None, {"AZPE_AZ": three_azs["env"]}) == three_azs["env"]


def test_resolve_az_then_az_on_path(three_azs: dict[str, str]) -> None:
    assert resolve_az(None, {}) == three_azs["path"]
    assert resolve_az(None, {"AZPE_AZ": ""}) == three_azs["path"]


@pytest.mark.parametrize(
    ("explicit", "environ"),
    [
        ("/nonexistent/az", {}),
        ("/nonexistent/az", {"AZPE_AZ": "ENV"}),  # an explicit --az does not fall back
        (None, {"AZPE_AZ": "/nonexistent/az"}),
    ],
)
def test_resolve_az_missing_is_an_auth_error_exit_4(
    three_azs: dict[str, str], explicit: str | None, environ: dict[str, str]
) -> None:
    environ = {k: three_azs["env"] if v == "ENV" else v for k, v in environ.items()}
    with pytest.raises(AuthError) as caught:
        resolve_az(explicit, environ)
    assert caught.value.exit_code == ExitCode.AUTH
    assert caught.value.code == "AzNotFound"
    assert "/nonexistent/az" in caught.value.message
    assert caught.value.hint and "--az" in caught.value.hint and "AZPE_AZ" in caught.value.hint


def test_resolve_az_not_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", os.fspath(tmp_path))
    with pytest.raises(AuthError, match="az not found"):
        resolve_az(None, {})


def test_resolve_az_refuses_a_file_that_is_not_executable(tmp_path: Path) -> None:
    plain = tmp_path / "az"
    plain.write_text("not a program")
    plain.chmod(0o644)
    with pytest.raises(AuthError):
        resolve_az(os.fspath(plain), {})


# -- the runner, with az faked by pytest-subprocess ------------------------------------------


@pytest.fixture
def runner(fake_az: str) -> AzRunner:
    env = {"PATH": "/usr/bin", "AZURE_CORE_OUTPUT": "table", "AZURE_CONFIG_DIR": "/home/dba/.azure"}
    return AzRunner(fake_az, timeout=30, env=env)


def test_run_json_appends_o_json_and_decodes(fp: FakeProcess, runner: AzRunner, fake_az: str) -> None:
    server = server_json([])
    fp.register([fake_az, *SHOW, "-o", "json"], stdout=dumps(server))
    assert runner.run_json(SHOW) == server
    assert list(fp.calls) == [[fake_az, *SHOW, "-o", "json"]]


def test_run_passes_argv_as_a_list_without_a_shell(fp: FakeProcess, runner: AzRunner, fake_az: str) -> None:
    args = ["network", "private-endpoint-connection", "reject", "--description", "it's $HOME; rm -rf /"]
    recorder = fp.register([fake_az, *args], stdout="{}")
    result = runner.run(args)
    assert result.argv == (fake_az, *args)
    assert result.returncode == 0
    assert result.stdout == "{}"
    call = recorder.first_call
    assert call is not None and call.kwargs is not None
    assert call.kwargs.get("shell", False) is False


def test_the_child_gets_the_clean_env_and_a_closed_stdin(
    fp: FakeProcess, runner: AzRunner, fake_az: str
) -> None:
    recorder = fp.register([fake_az, *SHOW, "-o", "json"], stdout="{}")
    runner.run_json(SHOW)
    call = recorder.first_call
    assert call is not None and call.kwargs is not None
    assert call.kwargs["stdin"] is subprocess.DEVNULL
    assert call.kwargs["stdout"] is subprocess.PIPE
    assert call.kwargs["stderr"] is subprocess.PIPE
    env = call.kwargs["env"]
    assert env["AZURE_CORE_COLLECT_TELEMETRY"] == "false"
    assert env["AZURE_CORE_NO_COLOR"] == "true"
    assert "AZURE_CORE_OUTPUT" not in env
    assert env["AZURE_CONFIG_DIR"] == "/home/dba/.azure"
    if sys.platform != "win32":
        assert call.kwargs["start_new_session"] is True  # Ctrl-C reaches azpe only


def test_runner_defaults_to_the_environment_of_azpe(
    fp: FakeProcess, fake_az: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_CONFIG_DIR", "/srv/azure")
    monkeypatch.setenv("AZURE_CORE_ONLY_SHOW_ERRORS", "1")
    recorder = fp.register([fake_az, "version"], stdout="{}")
    AzRunner(fake_az, timeout=5).run(["version"])
    assert recorder.first_call is not None and recorder.first_call.kwargs is not None
    env = recorder.first_call.kwargs["env"]
    assert env["AZURE_CONFIG_DIR"] == "/srv/azure"
    assert "AZURE_CORE_ONLY_SHOW_ERRORS" not in env


@pytest.mark.parametrize("stdout", ["", "\n", "  \n\n"])
def test_empty_stdout_is_none(fp: FakeProcess, runner: AzRunner, fake_az: str, stdout: str) -> None:
    fp.register([fake_az, *SHOW, "-o", "json"], stdout=stdout, stderr="WARNING: something\n")
    assert runner.run_json(SHOW) is None


@pytest.mark.parametrize("stdout", ["Name    State\n------  -----\n", "{'id': 1}", '{"id": ', "WARNING: x"])
def test_stdout_that_is_not_json_is_unexpected_output(
    fp: FakeProcess, runner: AzRunner, fake_az: str, stdout: str
) -> None:
    fp.register([fake_az, *SHOW, "-o", "json"], stdout=stdout)
    with pytest.raises(AzureError) as caught:
        runner.run_json(SHOW)
    assert type(caught.value) is AzureError
    assert caught.value.code == "UnexpectedOutput"
    assert not is_transient(caught.value)


def test_a_failure_is_classified(fp: FakeProcess, runner: AzRunner, fake_az: str) -> None:
    fp.register([fake_az, *SHOW, "-o", "json"], returncode=3, stderr=sdk_error("ResourceNotFound", "gone"))
    with pytest.raises(NotFound) as caught:
        runner.run_json(SHOW)
    assert caught.value.code == "ResourceNotFound"


def test_a_failure_with_stdout_is_still_a_failure(fp: FakeProcess, runner: AzRunner, fake_az: str) -> None:
    fp.register(
        [fake_az, *SHOW, "-o", "json"],
        returncode=1,
        stdout="{}",
        stderr=network_error("Conflict", "ServerIsBusy", "busy"),
    )
    with pytest.raises(TransientError) as caught:
        runner.run_json(SHOW)
    assert caught.value.code == "ServerIsBusy"


def test_warnings_on_stderr_do_not_make_a_failure(fp: FakeProcess, runner: AzRunner, fake_az: str) -> None:
    fp.register(
        [fake_az, *SHOW, "-o", "json"],
        stdout="[]",
        stderr="WARNING: Resource ID will be ignored since other three arguments have been provided.\n",
    )
    assert runner.run_json(SHOW) == []


def test_a_timeout_kills_az_and_is_a_transient_az_timeout(
    fp: FakeProcess, runner: AzRunner, fake_az: str
) -> None:
    def hang(process: object) -> None:
        raise subprocess.TimeoutExpired(cmd="az", timeout=30)

    recorder = fp.register([fake_az, *SHOW, "-o", "json"], callback=hang)
    with pytest.raises(AzTimeout) as caught:
        runner.run_json(SHOW)
    assert is_transient(caught.value)
    assert caught.value.code == "Timeout"
    assert "30 s" in caught.value.message
    assert caught.value.hint and "--timeout" in caught.value.hint
    assert recorder.first_call is not None
    expected = signal.SIGTERM if sys.platform == "win32" else signal.SIGKILL
    assert expected in recorder.first_call.received_signals()
    assert runner.kill_running() == 0  # nothing left in the running set


def test_the_per_call_timeout_is_reported(fp: FakeProcess, runner: AzRunner, fake_az: str) -> None:
    def hang(process: object) -> None:
        raise subprocess.TimeoutExpired(cmd="az", timeout=300)

    fp.register([fake_az, "version"], callback=hang)
    with pytest.raises(AzTimeout, match="300 s"):
        runner.run(["version"], timeout=300)


def test_each_call_is_logged_with_its_argv(
    fp: FakeProcess, runner: AzRunner, fake_az: str, caplog: pytest.LogCaptureFixture
) -> None:
    fp.register([fake_az, *SHOW, "-o", "json"], stdout="{}", stderr="WARNING: w\n")
    with caplog.at_level(logging.DEBUG, logger="azpe"):
        runner.run_json(SHOW)
    messages = [r.getMessage() for r in caplog.records]
    assert f"az: {fake_az} {' '.join(SHOW)} -o json" in messages
    assert any(m.startswith("az exited 0") for m in messages)
    assert "az stderr: WARNING: w" in messages


def test_argv_builds_the_exact_command(runner: AzRunner, fake_az: str) -> None:
    assert runner.argv(["version"]) == [fake_az, "version"]


# -- a real process --------------------------------------------------------------------------

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="fake az is a POSIX shell script")

FAKE_AZ = """#!/bin/sh
out="$AZPE_TEST_OUT"
printf '%s\\n' "$@" > "$out/argv"
env > "$out/env"
readlink /proc/self/fd/0 > "$out/stdin" 2>/dev/null || true
echo 'WARNING: Resource ID will be ignored since other three arguments have been provided.' >&2
case "$1" in
  fail)
    echo 'ERROR: Conflict({"error": {"code": "ServerIsBusy", "message": "Server is busy."}})' >&2
    exit 1 ;;
  missing)
    printf 'ERROR: (ResourceNotFound) gone\\nCode: ResourceNotFound\\nMessage: gone\\n' >&2
    exit 3 ;;
esac
cat <<'JSON'
{"id": "x", "state": "Ready", "unicode": "\\u00e9\u00e9"}
JSON
"""


@pytest.fixture
def real_az(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[AzRunner, Path]:
    """A fake az script first on PATH, run for real (no pytest-subprocess)."""
    bin_dir = tmp_path / "bin"
    make_executable(bin_dir / "az", FAKE_AZ)
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.delenv("AZPE_AZ", raising=False)
    monkeypatch.setenv("AZPE_TEST_OUT", os.fspath(out))
    monkeypatch.setenv("AZURE_CORE_OUTPUT", "table")
    monkeypatch.setenv("AZURE_CONFIG_DIR", os.fspath(tmp_path / "azure-config"))
    az = resolve_az(None, os.environ)
    assert az == os.fspath(bin_dir / "az")
    return AzRunner(az, timeout=10), out


@posix_only
def test_a_real_az_gets_its_argv_env_and_a_closed_stdin(
    real_az: tuple[AzRunner, Path], tmp_path: Path
) -> None:
    runner, out = real_az
    args = ["show", "--description", "two words; $HOME `id` 'q' \"dq\"", "--name", "é"]
    data = runner.run_json(args)
    assert data == {"id": "x", "state": "Ready", "unicode": "éé"}
    assert (out / "argv").read_text(encoding="utf-8").splitlines() == [*args, "-o", "json"]
    env = dict(line.split("=", 1) for line in (out / "env").read_text().splitlines() if "=" in line)
    assert env["AZURE_CORE_COLLECT_TELEMETRY"] == "false"
    assert env["AZURE_CORE_NO_COLOR"] == "true"
    assert "AZURE_CORE_OUTPUT" not in env
    assert env["AZURE_CONFIG_DIR"] == os.fspath(tmp_path / "azure-config")
    if sys.platform.startswith("linux"):
        assert (out / "stdin").read_text().strip() == "/dev/null"


@posix_only
def test_a_real_az_failure_is_classified(real_az: tuple[AzRunner, Path]) -> None:
    runner, _ = real_az
    with pytest.raises(TransientError) as busy:
        runner.run_json(["fail"])
    assert busy.value.code == "ServerIsBusy"
    with pytest.raises(NotFound) as missing:
        runner.run_json(["missing"])
    assert missing.value.exit_code == ExitCode.NOT_FOUND


@posix_only
def test_a_real_az_result_keeps_both_streams(real_az: tuple[AzRunner, Path]) -> None:
    runner, _ = real_az
    result = runner.run(["show"])
    assert result.returncode == 0
    assert json.loads(result.stdout)["state"] == "Ready"
    assert result.stderr.startswith("WARNING: Resource ID will be ignored")
    assert result.seconds >= 0


def _bad_shebang(path: Path) -> None:
    make_executable(path, "#!/nonexistent/python3\nprint('never')\n")


def _not_a_program(path: Path) -> None:
    path.write_bytes(bytes(range(256)))  # no #!, no ELF header: the kernel cannot exec it
    path.chmod(0o755)


def _no_exec_bit(path: Path) -> None:
    path.write_text("#!/bin/sh\necho '{}'\n")
    path.chmod(0o644)  # shutil.which would refuse it; AzRunner takes the path as given


def _gone_since_found(path: Path) -> None:
    pass  # resolve_az found it, then it was uninstalled: nothing is there any more


@posix_only
@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (_bad_shebang, "No such file or directory: the interpreter on its #! line"),
        (_not_a_program, "Exec format error"),
        (_no_exec_bit, "Permission denied"),
        (_gone_since_found, "No such file or directory"),
    ],
)
def test_an_az_the_os_cannot_start_is_an_auth_error_exit_4(
    tmp_path: Path, make: Callable[[Path], None], reason: str
) -> None:
    az = tmp_path / "bin" / "az"
    az.parent.mkdir()
    make(az)
    runner = AzRunner(os.fspath(az), timeout=10)
    with pytest.raises(AuthError) as caught:
        runner.run_json(SHOW)
    error = caught.value
    assert error.exit_code == ExitCode.AUTH
    assert error.code == "AzNotRunnable"
    assert error.message.startswith(f"cannot run az {az}: {reason}")
    if make is _gone_since_found:
        assert "#!" not in error.message  # it is really missing: do not blame its interpreter
    assert error.hint and "--az" in error.hint and "AZPE_AZ" in error.hint
    assert not is_transient(error)  # retrying cannot help
    assert runner.kill_running() == 0  # nothing was started, nothing is tracked


def _gone(pid: int, within: float = 2.0) -> bool:
    """The process stops running (or is a zombie waiting for its reaper) within ``within``
    seconds: SIGKILL is delivered asynchronously, so a busy machine may need a moment."""
    deadline = time.monotonic() + within
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        stat_file = Path(f"/proc/{pid}/stat")
        with contextlib.suppress(OSError):
            if stat_file.read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


@posix_only
def test_a_real_hanging_az_is_killed_at_the_timeout(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    az = make_executable(tmp_path / "bin" / "az", f"#!/bin/sh\necho $$ > {pid_file}\nexec sleep 60\n")
    runner = AzRunner(az, timeout=0.5)
    with pytest.raises(AzTimeout) as caught:
        runner.run(["network", "private-endpoint-connection", "reject"])
    assert "0.5 s" in caught.value.message
    assert _gone(int(pid_file.read_text()))


@posix_only
def test_a_real_hanging_az_behind_a_wrapper_is_killed_with_its_children(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    # Like the deb package's az: a shell that runs the real program as its child, without exec.
    az = make_executable(tmp_path / "bin" / "az", f"#!/bin/sh\nsh -c 'echo $$ > {pid_file}; exec sleep 60'\n")
    runner = AzRunner(az, timeout=0.2)
    with pytest.raises(AzTimeout):
        runner.run(["network", "private-endpoint-connection", "reject"])
    # Had only the wrapper been killed, the 60 s "az" would still be running.
    assert _gone(int(pid_file.read_text()))


def test_child_env_overrides_a_configured_default_resource_group() -> None:
    # Seen with the real az: `az config set defaults.group=X` narrows a subscription-wide
    # `az postgres flexible-server list` to X; an empty AZURE_DEFAULTS_GROUP overrides it.
    env = child_env({"AZURE_DEFAULTS_GROUP": "rg-narrow"})
    assert env["AZURE_DEFAULTS_GROUP"] == ""


# -- the breaker: an outage ends the run in seconds ---------------------------------------------

REFUSED = json.loads((Path(__file__).parent / "data" / "az-postgres-show-unreachable.json").read_text())[
    "stderr"
]


def test_after_six_calls_in_a_row_that_cannot_reach_azure_no_az_is_started(
    fp: FakeProcess, runner: AzRunner, fake_az: str
) -> None:
    fp.register([fake_az, "version"], returncode=1, stderr=REFUSED, occurrences=6)
    for _ in range(6):
        with pytest.raises(TransientError) as failed:
            runner.run(["version"])
        assert failed.value.code == "NetworkError"
    with pytest.raises(AzureError) as stopped:
        runner.run(["version"])
    assert stopped.value.code == "AzureUnreachable"
    assert not is_transient(stopped.value)  # not retried: every later call fails at once
    assert (
        "6 az calls in a row could not reach Azure ([Errno 111] Connection refused" in stopped.value.message
    )
    assert fp.call_count([fake_az, "version"]) == 6


def test_a_call_that_reaches_azure_resets_the_breaker(
    fp: FakeProcess, runner: AzRunner, fake_az: str
) -> None:
    throttled = network_error("Too Many Requests", "TooManyRequests", "slow down")
    for _ in range(2):
        fp.register([fake_az, "version"], returncode=1, stderr=REFUSED, occurrences=5)
        fp.register([fake_az, "version"], returncode=1, stderr=throttled)  # Azure answered
    for _ in range(12):
        with pytest.raises(TransientError):
            runner.run(["version"])
    assert runner.unreachable is None
    assert fp.call_count([fake_az, "version"]) == 12


# -- what a failed call's error keeps: argv, exit code, the end of its output --------------------

DESCRIPTION = "don't: see ticket #42"
WRITE = ["network", "private-endpoint-connection", "reject", "--name", "pe-x", f"--description={DESCRIPTION}"]


def test_a_failed_calls_error_keeps_its_argv_exit_code_and_stderr_tail(
    fp: FakeProcess, runner: AzRunner, fake_az: str
) -> None:
    """An error azpe does not know (no ARM code, no known text) can still be diagnosed: the
    command as a shell takes it, az's exit code and the last 20 lines of its stderr."""
    noise = [f"WARNING: line {n}" for n in range(25)]
    stderr = "\n".join([*noise, "", "ERROR: something azpe has never seen"]) + "\n"
    fp.register([fake_az, *WRITE, "-o", "json"], returncode=1, stderr=stderr)
    with pytest.raises(AzureError) as caught:
        runner.run_json(WRITE)
    details = caught.value.details()
    assert details[0] == f"az command: {shlex.join([fake_az, *WRITE, '-o', 'json'])}"
    assert shlex.split(details[0].removeprefix("az command: ")) == [fake_az, *WRITE, "-o", "json"]
    assert details[1] == "az exited 1"
    assert details[2] == "az stderr (last 20 lines):"
    assert details[3:] == [f"  {line}" for line in noise[-19:]] + ["  ERROR: something azpe has never seen"]
    assert caught.value.as_record() == {"code": "AzureError", "message": "something azpe has never seen"}


def test_a_classified_failure_keeps_its_call_too(fp: FakeProcess, runner: AzRunner, fake_az: str) -> None:
    fp.register([fake_az, *SHOW, "-o", "json"], returncode=3, stderr=sdk_error("ResourceNotFound", "gone"))
    with pytest.raises(NotFound) as caught:
        runner.run_json(SHOW)
    assert caught.value.details() == [
        f"az command: {fake_az} {' '.join(SHOW)} -o json",
        "az exited 3",
        "az stderr (last 3 lines):",
        "  ERROR: (ResourceNotFound) gone",
        "  Code: ResourceNotFound",
        "  Message: gone",
    ]


def test_a_very_long_stderr_line_is_cut(fp: FakeProcess, runner: AzRunner, fake_az: str) -> None:
    fp.register([fake_az, "version"], returncode=1, stderr="ERROR: " + "x" * 5000 + "\n")
    with pytest.raises(AzureError) as caught:
        runner.run(["version"])
    line = caught.value.details()[-1]
    assert line == f"  ERROR: {'x' * 493}... (5007 characters)"


def test_a_timed_out_calls_error_keeps_its_argv(fp: FakeProcess, runner: AzRunner, fake_az: str) -> None:
    def hang(process: object) -> None:
        raise subprocess.TimeoutExpired(cmd="az", timeout=30)

    fp.register([fake_az, *SHOW, "-o", "json"], callback=hang)
    with pytest.raises(AzTimeout) as caught:
        runner.run_json(SHOW)
    details = caught.value.details()
    assert details[:2] == [
        f"az command: {fake_az} {' '.join(SHOW)} -o json",
        "az was stopped before it exited",
    ]


def test_output_that_is_not_json_is_kept_in_the_details(
    fp: FakeProcess, runner: AzRunner, fake_az: str
) -> None:
    fp.register([fake_az, *SHOW, "-o", "json"], stdout="<html>proxy says no</html>\n", stderr="WARNING: w\n")
    with pytest.raises(AzureError) as caught:
        runner.run_json(SHOW)
    assert caught.value.code == "UnexpectedOutput"
    assert caught.value.details()[1:] == [
        "az exited 0",
        "az stdout:",
        "  <html>proxy says no</html>",
        "az stderr:",
        "  WARNING: w",
    ]


def test_the_breakers_error_keeps_the_last_call_that_could_not_reach_azure(
    fp: FakeProcess, runner: AzRunner, fake_az: str
) -> None:
    fp.register([fake_az, "version"], returncode=1, stderr=REFUSED, occurrences=6)
    for _ in range(6):
        with pytest.raises(TransientError):
            runner.run(["version"])
    assert runner.unreachable is not None
    assert runner.unreachable.details()[:2] == [f"az command: {fake_az} version", "az exited 1"]


def test_an_error_not_from_az_has_no_details() -> None:
    assert UsageError("bad name").details() == []


def test_the_logged_argv_can_be_pasted_into_a_shell(
    fp: FakeProcess, runner: AzRunner, fake_az: str, caplog: pytest.LogCaptureFixture
) -> None:
    fp.register([fake_az, *WRITE, "-o", "json"], stdout="{}")
    with caplog.at_level(logging.INFO, logger="azpe"):
        runner.run_json(WRITE)
    (logged,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("az: ")]
    assert shlex.split(logged.removeprefix("az: ")) == [fake_az, *WRITE, "-o", "json"]


def test_a_failure_logs_its_exit_and_stderr_tail_at_v_and_all_of_it_at_vv(
    fp: FakeProcess, runner: AzRunner, fake_az: str, caplog: pytest.LogCaptureFixture
) -> None:
    stderr = "".join(f"WARNING: line {n}\n" for n in range(30)) + "ERROR: Bad Request(boom)\n"
    fp.register([fake_az, "version"], returncode=1, stderr=stderr, occurrences=2)
    with caplog.at_level(logging.INFO, logger="azpe"), pytest.raises(AzureError):
        runner.run(["version"])
    (at_v,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("az exited")]
    assert at_v.startswith("az exited 1 after ")
    tail = [f"WARNING: line {n}" for n in range(11, 30)] + ["ERROR: Bad Request(boom)"]
    assert at_v.endswith("; stderr: " + "\n".join(tail))
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="azpe"), pytest.raises(AzureError):
        runner.run(["version"])
    (at_vv,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("az exited")]
    assert at_vv.endswith("; stderr: " + stderr.strip())
