"""One background thread for model generation, latest command wins (ROS-free).

Generation takes seconds on a CPU, so it never runs in an executor callback. At most one job runs
and one waits: a newer command sets the running job's cancel Event and replaces the waiting one,
so a burst of commands costs one generation, not a queue of stale ones.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class Job:
    command: str
    seq: int
    cancel: threading.Event = field(default_factory=threading.Event)
    # Set by ``run`` once the job's outcome is delivered: a 2 ms motion can finish while its job is still
    # returning, and must not leave the robot "generating".
    delivered: bool = False


class LatestCommandWorker:
    """Runs ``run(job)`` for the latest submitted job in a daemon thread.

    ``setup()`` runs first in that thread (model loading); jobs submitted meanwhile wait. Exceptions
    from ``setup``/``run`` go to ``on_error(job_or_None, exc)`` and never end the thread.
    """

    def __init__(self, run: Callable[[Job], None], on_error: Callable[[Job | None, BaseException], None],
                 setup: Callable[[], None] | None = None, name: str = "llm_generation"):
        self._run, self._on_error, self._setup = run, on_error, setup
        self._cond = threading.Condition()
        self._pending: Job | None = None
        self._running: Job | None = None
        self._closed = False
        self._seq = itertools.count(1)
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, command: str) -> tuple[Job, Job | None]:
        """Queue ``command``; returns (the new job, the pending job it replaced or None)."""
        with self._cond:
            if self._closed:
                raise RuntimeError("worker is closed")
            job = Job(command, next(self._seq))
            replaced, self._pending = self._pending, job
            if replaced is not None:
                replaced.cancel.set()
            if self._running is not None:
                self._running.cancel.set()
            self._cond.notify()
            return job, replaced

    def cancel_all(self) -> Job | None:
        """Cancel the running job and drop the pending one (returned)."""
        with self._cond:
            dropped, self._pending = self._pending, None
            if dropped is not None:
                dropped.cancel.set()
            if self._running is not None:
                self._running.cancel.set()
            return dropped

    @property
    def busy(self) -> bool:
        with self._cond:
            running = self._running is not None and not self._running.delivered
            return running or self._pending is not None

    def close(self, timeout_s: float = 5.0) -> bool:
        """Cancel everything and stop the thread; False if a job did not finish in time."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self.cancel_all()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def _loop(self) -> None:
        if self._setup is not None:
            try:
                self._setup()
            except Exception as exc:  # noqa: BLE001 - reported, the thread keeps serving
                self._on_error(None, exc)
        while True:
            with self._cond:
                while self._pending is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                job, self._pending = self._pending, None
                self._running = job
            try:
                self._run(job)
            except Exception as exc:  # noqa: BLE001
                self._on_error(job, exc)
            finally:
                with self._cond:
                    self._running = None
