"""``python -m azpe.sandbox serve --dir DIR``: the emulator as a foreground process, which
``azpe sandbox start`` runs detached. It writes into DIR: ``ca.pem``, ``server.json``
(pid, port, url; removed on exit), ``requests.jsonl`` (the request log) and, on exit,
``state.json`` (the final state in the seed format)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
from pathlib import Path
from types import FrameType


def main(argv: list[str] | None = None) -> int:
    from .state import DEFAULT_TIMING, TIMING_MODELS

    parser = argparse.ArgumentParser(prog="python -m azpe.sandbox")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the emulator until SIGTERM/SIGINT")
    serve.add_argument("--dir", type=Path, required=True)
    serve.add_argument("--seed", type=Path, help="scenario JSON (default: the demo scenario)")
    serve.add_argument("--op-seconds", type=float, default=2.0)
    serve.add_argument("--timing", choices=list(TIMING_MODELS), default=DEFAULT_TIMING)
    serve.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)

    from .api import Emulator
    from .control import INFO_FILE

    state_dir: Path = args.dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    seed = json.loads(args.seed.read_text(encoding="utf-8")) if args.seed else None
    (state_dir / "requests.jsonl").write_text("", encoding="utf-8")
    emulator = Emulator(
        args.op_seconds, state_dir, scenario=seed, port=args.port, log_to_file=True, timing=args.timing
    )
    emulator.start()
    done = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    info = {
        "pid": os.getpid(),
        "port": emulator.port,
        "url": emulator.url,
        "ca": str(emulator.ca_path),
        "opSeconds": args.op_seconds,  # at start; GET /_sandbox/timing has the current values
        "timing": args.timing,
    }
    tmp = state_dir / (INFO_FILE + ".tmp")
    tmp.write_text(json.dumps(info), encoding="utf-8")
    tmp.replace(state_dir / INFO_FILE)  # written last: its presence means "serving"
    # The admin shutdown endpoint stops the server thread; notice that too.
    while not done.wait(0.2):
        if emulator.server.stopping.is_set():
            break
    (state_dir / "state.json").write_text(json.dumps(emulator.dump(), indent=2), encoding="utf-8")
    (state_dir / INFO_FILE).unlink(missing_ok=True)
    if not emulator.server.stopping.is_set():
        emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
