from __future__ import annotations

import os
import signal
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def fake_az(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An executable named az for ``shutil.which``; pytest-subprocess intercepts its runs."""
    path = tmp_path / "bin" / "az"
    path.parent.mkdir()
    path.write_text("#!/bin/sh\nexit 99\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("AZPE_AZ", str(path))
    return os.fspath(path)


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries and polls wait nothing in unit tests (the policy's shape is tested on its own)."""
    from tenacity import wait_none

    monkeypatch.setattr("azpe.retry.DEFAULT_WAIT", wait_none())
    monkeypatch.setattr("azpe.retry.DEFAULT_POLL", wait_none())
    monkeypatch.setattr("azpe.retry.BUSY_POLL", wait_none())
    monkeypatch.setattr("azpe.capacity.AZ_START_CPU_SECONDS", 0.0)  # az starts are not paced


@pytest.fixture(autouse=True)
def ctrl_c_reaches_python() -> Iterator[None]:
    """Ctrl-C is Python's KeyboardInterrupt in every test, however the suite was started: a
    shell starts a background job with SIGINT ignored, and then ``_thread.interrupt_main``
    (the unit tests' Ctrl-C) does nothing."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
