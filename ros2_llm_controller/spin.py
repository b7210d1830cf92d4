"""One way to start, spin and stop rclpy nodes: `llm_controller`, `sim_robot` and the closed loop use it.

``ExecutorThread`` spins nodes in a thread and, on ``close()``, shuts the executor down and *joins* the
thread before the nodes are destroyed (a spin thread still inside rclpy at interpreter exit aborts the
process: "terminate called without an active exception", exit 134).

``run_until_signal`` is a node executable's ``main``: rclpy without its own signal handlers (they would
shut the context down before a final zero could be published), SIGINT/SIGTERM request one orderly
stop, and any further signal is only logged. A non-interactive ``ros2 launch`` forwards SIGINT to its
children, so a process-group SIGINT reaches a node twice; the second one must not kill it while it
publishes its final zero. Every step of the stop has a timeout; SIGKILL stays the way to force it.

Exit codes: 0 after a signal, 1 when the node reports a fatal error, 2 when it cannot start.
"""

from __future__ import annotations

import signal
import threading
from typing import Any, Callable, Sequence

import rclpy
from rclpy.context import Context
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.logging import get_logger
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

EXIT_OK, EXIT_FATAL, EXIT_CANNOT_START = 0, 1, 2


class ExecutorThread:
    """A single-threaded executor spinning ``nodes`` in a daemon thread.

    Single-threaded on purpose: rclpy's MultiThreadedExecutor busy-spins while a ready callback waits for
    its (mutually exclusive) group, pegging a core and starving a simulator in the same process.
    """

    def __init__(self, nodes: Sequence[Node] = (), context: Context | None = None, name: str = "executor",
                 on_exit: Callable[[BaseException | None], None] | None = None):
        self.executor = SingleThreadedExecutor(context=context)
        for node in nodes:
            self.executor.add_node(node)
        self._on_exit = on_exit
        self._thread = threading.Thread(target=self._spin, name=name, daemon=True)
        self._thread.start()

    def add_node(self, node: Node) -> None:
        self.executor.add_node(node)

    def _spin(self) -> None:
        error: BaseException | None = None
        try:
            self.executor.spin()
        except ExternalShutdownException:
            pass
        except Exception as exc:  # noqa: BLE001 - reported to on_exit; the owner stops the robot
            error = exc
        finally:
            if self._on_exit is not None:
                self._on_exit(error)

    def close(self, timeout_s: float = 2.0) -> bool:
        """Stop spinning and join the thread; False if it did not end in time."""
        self.executor.shutdown(timeout_sec=timeout_s)
        if self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
        return not self._thread.is_alive()


def run_until_signal(name: str, make_node: Callable[[Callable[[str], None]], Node],
                     args: Sequence[str], *, before_stop: Callable[[Node], None] | None = None) -> int:
    """Init rclpy with ``args``, build the node, spin it until SIGINT/SIGTERM or a fatal error, stop.

    ``make_node(fatal)`` builds the node; the node calls ``fatal(reason)`` to end the process with exit
    code 1. ``before_stop(node)`` runs first on the way out, while the context is still up (the
    controller publishes its zero there). An exception from ``make_node`` is a start-up error: one
    "cannot start" line, no traceback, exit code 2.
    """
    rclpy.init(args=list(args), signal_handler_options=SignalHandlerOptions.NO)
    logger = get_logger(name)
    stop = threading.Event()
    exit_code = [EXIT_OK]

    def on_signal(signum: int, _frame: Any) -> None:
        if stop.is_set():  # e.g. ros2 launch forwarding the SIGINT the process group already got
            logger.info(f"{signal.Signals(signum).name} again: already stopping")
        stop.set()

    def fatal(_reason: str) -> None:  # the node has logged why
        exit_code[0] = EXIT_FATAL
        stop.set()

    def on_spin_exit(error: BaseException | None) -> None:
        if error is not None:
            logger.fatal(f"executor stopped: {error!r}")
            fatal(repr(error))
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    node: Node | None = None
    spinner: ExecutorThread | None = None
    try:
        node = make_node(fatal)
        spinner = ExecutorThread([node], name=f"{name}_executor", on_exit=on_spin_exit)
        stop.wait()
    except Exception as exc:  # noqa: BLE001 - bad parameters at start-up: a clear message, no traceback
        logger.fatal(f"cannot start: {exc}")
        exit_code[0] = EXIT_CANNOT_START
    finally:
        if node is not None and before_stop is not None:
            before_stop(node)
        if spinner is not None:
            spinner.close()
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
        # The process is on its way out. Python's finalisation resets its own handlers to SIG_DFL, so a
        # late second signal (ros2 launch's copy) would end the process with -2; ignored ones stay ignored.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
    return exit_code[0]
