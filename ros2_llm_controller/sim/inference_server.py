"""A local OpenAI-compatible inference server for tests, ``make fleet-demo`` and ``bench/fleet.py``.

``TransformersServe`` runs ``transformers serve <folder>`` (transformers' own OpenAI-compatible
server; needs the ``transformers[serving]`` extras pinned in requirements/dev.txt) on 127.0.0.1 and a
free port, offline (``HF_HUB_OFFLINE=1``), on the embedded model with the shipped adapter merged
(``model_store.merge_adapter``: written once into the cache). Readiness is polled (``GET /health``,
then one warm-up completion: the first request pays for the server's lazy set-up), never slept for.

    with TransformersServe() as server:
        gen = OpenAIGenerator(server.base_url)
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable


# Continuous batching (concurrent requests share forward passes: a fleet's requests are batched) with a
# bounded KV cache: 128 blocks of 32 tokens, 4096 tokens, about 190 MB for SmolLM2-135M in fp32. Unbounded,
# transformers 5.23 gives it 60 % of the machine's RAM on CPU (13.8 GB seen on a 24 GB machine).
CONTINUOUS_BATCHING = ("--continuous-batching", "--cb-block-size", "32", "--cb-num-blocks", "128")


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _transformers_cli() -> list[str]:
    """The ``transformers`` command of this interpreter's environment."""
    exe = Path(sys.executable).with_name("transformers")
    if exe.is_file():
        return [str(exe)]
    found = shutil.which("transformers")
    if found:
        return [found]
    return [sys.executable, "-m", "transformers.cli.transformers"]


class ServerError(RuntimeError):
    pass


class TransformersServe:
    """``transformers serve`` as a child process; a context manager (stops it on exit)."""

    def __init__(self, model_dir: str | Path | None = None, port: int | None = None, device: str = "cpu",
                 log_path: str | Path | None = None, ready_timeout_s: float = 300.0,
                 extra_args: tuple[str, ...] = (), log: Callable[[str], None] = lambda m: None):
        self.model_dir = Path(model_dir) if model_dir else None
        self.port = port or free_port()
        self.device = device
        self.log_path = Path(log_path) if log_path else None
        self.ready_timeout_s = ready_timeout_s
        self.extra_args = tuple(extra_args)
        self.log = log
        self.proc: subprocess.Popen | None = None
        self._log_fh = None
        self.startup_s = 0.0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> "TransformersServe":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        if self.model_dir is None:
            from ..core.model_store import merge_adapter

            self.model_dir = merge_adapter()  # embedded model + shipped adapter, merged once into the cache
        cmd = [*_transformers_cli(), "serve", str(self.model_dir), "--device", self.device, "--host", "127.0.0.1",
               "--port", str(self.port), "--log-level", "warning", *self.extra_args]
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        if self.log_path is None:
            self.log_path = Path(tempfile.mkdtemp(prefix="transformers-serve-")) / "server.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_fh = open(self.log_path, "w", encoding="utf-8")
        self.log(f"starting: {' '.join(cmd)}  (log: {self.log_path})")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=self._log_fh, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        deadline = t0 + self.ready_timeout_s
        self._poll(lambda: self._get("/health") == 200, deadline, "GET /health")
        self._poll(self._warm, deadline, "a first completion")
        self.startup_s = time.monotonic() - t0
        self.log(f"transformers serve ready at {self.base_url} in {self.startup_s:.1f} s")

    def _poll(self, ready: Callable[[], bool], deadline: float, what: str) -> None:
        delay = 0.05
        while True:
            if self.proc.poll() is not None:
                raise ServerError(f"transformers serve exited with code {self.proc.returncode} before {what} "
                                  f"succeeded; last lines of {self.log_path}:\n{self.tail()}")
            if ready():
                return
            if time.monotonic() > deadline:
                raise ServerError(f"transformers serve not ready ({what}) after {self.ready_timeout_s:g} s; "
                                  f"see {self.log_path}:\n{self.tail()}")
            time.sleep(delay)  # polling interval, growing to 0.5 s: the readiness itself is checked each time
            delay = min(delay * 1.5, 0.5)

    def _get(self, path: str) -> int | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2.0) as resp:
                return resp.status
        except (OSError, urllib.error.URLError):
            return None

    def _warm(self) -> bool:
        body = json.dumps({"messages": [{"role": "user", "content": "stop"}], "max_tokens": 2,
                           "temperature": 0}).encode()
        req = urllib.request.Request(f"{self.base_url}/chat/completions", data=body,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=120.0) as resp:
                return resp.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log_fh is not None:
            self._log_fh.close()
            self._log_fh = None
