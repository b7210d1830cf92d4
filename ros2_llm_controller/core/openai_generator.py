"""The ``openai`` generator: the same ``Generator`` interface, answered by an OpenAI-compatible server.

One inference server (vLLM with ``--enable-lora`` on a GPU, ``transformers serve`` on a CPU, or any
server speaking ``POST /v1/chat/completions``) can serve a whole fleet of robots; each robot's node
keeps its own stop words, parser, limits and zero-velocity guarantees, and only the text comes from
the server.

* Greedy (``temperature: 0``), ``max_tokens``; the server ends the turn at the model's end-of-turn
  token (its eos: ``<|im_end|>`` for SmolLM2).
* Grammar: with ``structured_outputs`` ``auto`` or ``vllm``, the command's regex (``core.grammar``)
  is sent as vLLM structured outputs, both as ``"structured_outputs": {"regex": ...}`` (vLLM >= 0.10)
  and as the older ``"guided_regex"`` (vLLM logs and ignores the key it does not know). A server that
  refuses these keys with 400/422 (``transformers serve`` answers 422 "Unexpected fields") makes an
  ``auto`` generator drop them for good, once, with a warning. When the server did not constrain the
  answer, the answer must still match the regex (checked here) or be a one-line ``reply ...`` (which
  never moves the robot): any other answer outside the command's grammar is a ``GenerationError``,
  so the copy constraint (every quantity of a motion comes from the command) holds either way.
* Failures: every one (connection refused, timeout, HTTP error, invalid or empty JSON, no text, an
  open circuit) raises ``GenerationError`` with the reason; the planner turns it into a rejection
  and the node into a zero velocity. A server that is down never moves a robot.
* Retries: connection errors and 5xx only, at most ``max_retries`` more attempts, exponential
  backoff (``backoff_s`` doubled each time, cancellable). A timeout is not retried: the command is
  already late.
* Circuit breaker: after ``breaker_failures`` failed commands in a row, fail at once for
  ``breaker_cooldown_s``; then one trial request decides (closed again, or open for another
  cool-down). A fleet then does not queue behind a dead server.
* Cancel: the request runs in a helper thread; the caller polls ``cancel`` and the deadline every
  ``poll_s`` and, when either fires, shuts the socket down and raises ``GenerationCancelled`` (or a
  timeout ``GenerationError``) at once, whatever phase the request is in (connect, send, wait).

HTTP is the standard library's ``http.client``, not ``httpx`` (which huggingface_hub happens to
install): the cancel path needs the raw socket (``shutdown`` wakes the blocked read in the helper
thread), a whole-request deadline is easier over it than over httpx's per-phase timeouts, and the
node then depends on nothing a pip upgrade of huggingface_hub could take away.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence
from urllib.parse import urlsplit

from .config import STRUCTURED_MODES
from .generation import GenerationCancelled, GenerationError, GenerationResult, fold_shouting

log = logging.getLogger(__name__)

_GRAMMAR_KEYS = ("structured_outputs", "guided_regex")
# One "reply ..." line outside the grammar is let through: the parser never makes a reply move the robot.
_REPLY = re.compile(r"reply [^\n]+")


class CircuitOpen(GenerationError):
    """The server failed too often in a row: requests fail at once until the cool-down ends."""


class _Retryable(GenerationError):
    """A failure worth another attempt (connection error, 5xx)."""


@dataclass
class _Reply:
    status: int
    body: bytes


class CircuitBreaker:
    """Closed -> (``failures`` in a row) -> open for ``cooldown_s`` -> half-open: one trial call."""

    def __init__(self, failures: int = 3, cooldown_s: float = 10.0, clock: Callable[[], float] = time.monotonic):
        self.failures = max(int(failures), 1)
        self.cooldown_s = float(cooldown_s)
        self.clock = clock
        self._lock = threading.Lock()
        self._count = 0
        self._open_until: float | None = None
        self._trial = False
        self.last_error = ""

    @property
    def state(self) -> str:
        with self._lock:
            if self._open_until is None:
                return "closed"
            return "open" if self.clock() < self._open_until or self._trial else "half-open"

    def before(self) -> None:
        """Raise ``CircuitOpen`` while open; after the cool-down, let exactly one trial call through."""
        with self._lock:
            if self._open_until is None:
                return
            left = self._open_until - self.clock()
            if left > 0 or self._trial:
                raise CircuitOpen(f"circuit open after {self._count} failures in a row (last: {self.last_error}); "
                                  f"failing fast for {max(left, 0.0):.1f} s more")
            self._trial = True

    def release(self) -> None:
        """A call ended without a verdict (cancelled): a trial slot it held is free again."""
        with self._lock:
            self._trial = False

    def success(self) -> None:
        with self._lock:
            self._count, self._open_until, self._trial = 0, None, False

    def failure(self, reason: str) -> None:
        with self._lock:
            self._count += 1
            self.last_error = reason
            if self._trial or self._count >= self.failures:
                self._open_until = self.clock() + self.cooldown_s
                self._trial = False


class OpenAIGenerator:
    """Chat completions from an OpenAI-compatible server at ``base_url`` (e.g. http://127.0.0.1:8000/v1)."""

    def __init__(self, base_url: str = "http://127.0.0.1:8000/v1", model: str = "", api_key: str | None = None,
                 max_new_tokens: int = 64, request_timeout_s: float = 10.0, max_retries: int = 2,
                 structured_outputs: str = "auto", backoff_s: float = 0.1, breaker_failures: int = 3,
                 breaker_cooldown_s: float = 10.0, system_prompt: str | None = None, check_grammar: bool = True,
                 poll_s: float = 0.01):
        parts = urlsplit(str(base_url).strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise GenerationError(f"base_url must be http(s)://host[:port]/path, got {base_url!r}")
        if structured_outputs not in STRUCTURED_MODES:
            raise GenerationError(f"structured_outputs must be one of {', '.join(STRUCTURED_MODES)}, "
                                  f"got {structured_outputs!r}")
        if int(max_new_tokens) < 1 or not float(request_timeout_s) > 0 or int(max_retries) < 0:
            raise GenerationError("max_new_tokens >= 1, request_timeout_s > 0 and max_retries >= 0 are required")
        self.base_url = str(base_url).strip().rstrip("/")
        self._https = parts.scheme == "https"
        self._host, self._port = parts.hostname, parts.port or (443 if self._https else 80)
        self._path = (parts.path.rstrip("/") or "") + "/chat/completions"
        self.model = model or ""
        self.api_key = api_key or None
        self.max_new_tokens = int(max_new_tokens)
        self.request_timeout_s = float(request_timeout_s)
        self.max_retries = int(max_retries)
        self.structured_outputs = structured_outputs
        self.backoff_s = float(backoff_s)
        self.breaker = CircuitBreaker(breaker_failures, breaker_cooldown_s)
        self.system_prompt = system_prompt
        self.check_grammar = bool(check_grammar)
        self.poll_s = float(poll_s)
        self._send_grammar = structured_outputs != "none"
        self.fallback_reason: str | None = None  # why an 'auto' generator stopped sending the grammar
        self.load_s = 0.0

    @classmethod
    def from_config(cls, cfg, environ: Mapping[str, str] | None = None) -> "OpenAIGenerator":
        """Build from a ``ControllerConfig``; the key is read from the variable named by ``api_key_env``."""
        env = os.environ if environ is None else environ
        key = env.get(cfg.api_key_env, "") if cfg.api_key_env else ""
        return cls(cfg.base_url, model=cfg.api_model, api_key=key or None, max_new_tokens=cfg.max_new_tokens,
                   request_timeout_s=cfg.request_timeout_s, max_retries=cfg.max_retries,
                   structured_outputs=cfg.api_structured_outputs, system_prompt=cfg.system_prompt or None)

    # ---- the Generator interface ----

    def generate(self, messages: Sequence[Mapping[str, str]], cancel: threading.Event | None = None,
                 grammar: str | None = None, max_new_tokens: int | None = None) -> GenerationResult:
        t0 = time.monotonic()
        _check_cancel(cancel)
        self.breaker.before()
        try:
            text, usage, constrained = self._complete(fold_shouting(messages), cancel, grammar,
                                                      int(max_new_tokens or self.max_new_tokens))
        except GenerationCancelled:
            self.breaker.release()  # a cancelled trial says nothing about the server
            raise
        except GenerationError as exc:
            self.breaker.failure(str(exc))
            raise
        self.breaker.success()  # the server answered; what it said is judged below, not held against it
        if (grammar and self.check_grammar and not constrained and not re.fullmatch(grammar, text)
                and not _REPLY.fullmatch(text)):
            raise GenerationError(f"answer {text[:80]!r} is outside the command's grammar (the server did not "
                                  "constrain it: no structured outputs)")
        new_tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
        latency = time.monotonic() - t0
        return GenerationResult(text, int(new_tokens) if isinstance(new_tokens, int) else len(text.split()), latency)

    # ---- helpers for the node and the benchmarks ----

    def warmup(self, command: str = "stop") -> GenerationResult | None:
        """One short request, so that the first command does not pay for the server's lazy start.

        A server that is down is not an error here: the node must start (and answer every command
        with a rejection) until the server comes up."""
        msgs = ([{"role": "system", "content": self.system_prompt}] if self.system_prompt else [])
        try:
            return self.generate(msgs + [{"role": "user", "content": command}], max_new_tokens=2,
                                 grammar="(?:stop|query battery)")
        except GenerationError as exc:
            log.warning("warm-up request to %s failed: %s", self.base_url, exc)
            self.breaker.success()  # start closed: the first real command tries again
            return None

    def describe(self) -> dict:
        return {"backend": "openai", "base_url": self.base_url, "model": self.model or "(server default)",
                "api_key": "set" if self.api_key else "unset", "max_new_tokens": self.max_new_tokens,
                "request_timeout_s": self.request_timeout_s, "max_retries": self.max_retries,
                "structured_outputs": self.structured_outputs if self._send_grammar else "none",
                "fallback_reason": self.fallback_reason, "circuit": self.breaker.state}

    # ---- one command: body, grammar fallback, retries ----

    def _body(self, messages: list[dict], grammar: str | None, limit: int) -> dict[str, Any]:
        body: dict[str, Any] = {"messages": messages, "temperature": 0, "max_tokens": limit, "stream": False}
        if self.model:
            body["model"] = self.model
        if grammar and self._send_grammar:
            body["structured_outputs"] = {"regex": grammar}
            body["guided_regex"] = grammar
        return body

    def _complete(self, messages: list[dict], cancel, grammar: str | None, limit: int) -> tuple[str, Any, bool]:
        body = self._body(messages, grammar, limit)
        reply = self._post_with_retries(body, cancel)
        sent_grammar = any(k in body for k in _GRAMMAR_KEYS)
        if sent_grammar and reply.status in (400, 422) and self.structured_outputs == "auto":
            # Was it the grammar keys? Ask again without them: only a success there makes the fallback stick
            # (a 400 for another reason, e.g. a wrong model name, must not switch the grammar off).
            reason = f"HTTP {reply.status}: {_detail(reply.body)}"
            self._send_grammar = False
            try:
                retry = self._post_with_retries(self._body(messages, grammar, limit), cancel)
            except GenerationError:  # no verdict on the keys (cancelled, connection lost): keep sending them
                self._send_grammar = True
                raise
            if retry.status == 200:
                self.fallback_reason = reason
                log.warning("%s refused the structured-output keys (%s); sending no grammar from now on, answers "
                            "are checked against it instead", self.base_url, reason)
                reply, sent_grammar = retry, False
            else:
                self._send_grammar = True
        if reply.status != 200:
            raise GenerationError(f"HTTP {reply.status} from {self.base_url}: {_detail(reply.body)}")
        text, usage = _parse_completion(reply.body)
        return text, usage, sent_grammar

    def _post_with_retries(self, body: dict, cancel) -> _Reply:
        payload = json.dumps(body, ensure_ascii=True).encode()
        attempt = 0
        while True:
            try:
                reply = self._post(payload, cancel)
                if reply.status < 500:
                    return reply
                error: GenerationError = _Retryable(f"HTTP {reply.status} from {self.base_url}: "
                                                    f"{_detail(reply.body)}")
            except _Retryable as exc:
                error = exc
            if attempt >= self.max_retries:
                suffix = f" (after {attempt + 1} attempts)" if attempt else ""
                raise GenerationError(f"{error}{suffix}") from error
            delay = self.backoff_s * (2 ** attempt)
            attempt += 1
            if cancel is None:
                time.sleep(delay)
            elif cancel.wait(delay):
                raise GenerationCancelled("generation cancelled")

    def _post(self, payload: bytes, cancel) -> _Reply:
        """One HTTP request with a whole-request deadline, abortable by ``cancel`` in any phase."""
        deadline = time.monotonic() + self.request_timeout_s
        holder: dict[str, Any] = {}
        done, aborted = threading.Event(), threading.Event()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"

        def run() -> None:
            try:
                if self._https:
                    conn = http.client.HTTPSConnection(self._host, self._port, timeout=self.request_timeout_s,
                                                       context=ssl.create_default_context())
                else:
                    conn = http.client.HTTPConnection(self._host, self._port, timeout=self.request_timeout_s)
                holder["conn"] = conn
                try:
                    conn.connect()
                    if aborted.is_set():  # cancelled while connecting: send nothing
                        return
                    conn.request("POST", self._path, body=payload, headers=headers)
                    resp = conn.getresponse()
                    holder["reply"] = _Reply(resp.status, resp.read())
                finally:
                    conn.close()
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                holder["error"] = exc
            finally:
                done.set()

        thread = threading.Thread(target=run, name="openai-request", daemon=True)
        thread.start()
        while not done.wait(self.poll_s):
            cancelled = cancel is not None and cancel.is_set()
            if cancelled or time.monotonic() >= deadline:
                aborted.set()
                _abort(holder.get("conn"))
                if cancelled:
                    raise GenerationCancelled("generation cancelled")
                raise GenerationError(f"timeout: no answer from {self.base_url} within {self.request_timeout_s:g} s")
        if "reply" in holder:
            return holder["reply"]
        exc = holder.get("error")
        if cancel is not None and cancel.is_set():
            raise GenerationCancelled("generation cancelled")
        if isinstance(exc, (socket.timeout, TimeoutError)):
            raise GenerationError(f"timeout: no answer from {self.base_url} within {self.request_timeout_s:g} s")
        if isinstance(exc, ConnectionRefusedError):
            raise _Retryable(f"connection refused by {self._host}:{self._port} (is the server running?)")
        if isinstance(exc, (ConnectionError, http.client.HTTPException, OSError)):
            raise _Retryable(f"connection error with {self._host}:{self._port}: {type(exc).__name__}: {exc}")
        raise GenerationError(f"request to {self.base_url} failed: {type(exc).__name__}: {exc}")


def _abort(conn) -> None:
    """Wake the helper thread's blocked connect/read: shut the socket down (close alone may not)."""
    sock = getattr(conn, "sock", None)
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _detail(body: bytes, limit: int = 200) -> str:
    """A short, printable reason from an error body (JSON ``detail``/``error.message`` or raw text)."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        err = data.get("error")
        msg = data.get("detail") or (err.get("message") if isinstance(err, dict) else err) or data.get("message")
        if msg:
            text = str(msg)
    text = " ".join(text.split()) or "(empty body)"
    return text if len(text) <= limit else text[:limit] + "..."


def _parse_completion(body: bytes) -> tuple[str, Any]:
    """The assistant text of a chat-completion response, or ``GenerationError`` naming what is wrong."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise GenerationError(f"the server's answer is not JSON ({exc}): {body[:80]!r}") from exc
    if not isinstance(data, dict) or not data:
        raise GenerationError(f"the server's answer is empty or not a JSON object: {body[:80]!r}")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise GenerationError(f"the server's answer has no choices: {body[:120]!r}")
    message = choices[0].get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, str):
        raise GenerationError(f"the server's answer has no message text: {body[:120]!r}")
    text = content.strip()
    if not text:
        raise GenerationError("the server answered with empty text")
    return text, data.get("usage")


def _check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise GenerationCancelled("generation cancelled")
