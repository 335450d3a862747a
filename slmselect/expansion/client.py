"""Talk to a teacher model behind any OpenAI-compatible ``/v1/chat/completions`` endpoint, through httpx.

:class:`TeacherClient` sends one chat request and returns the reply's text. Connection errors, time-outs,
429 and 5xx answers and malformed response bodies are retried with exponential backoff and jitter
(honouring ``Retry-After``); after ``max_retries`` retries the request fails with :class:`RequestFailed`.
Answers that retrying cannot fix (400, 401, 403, 404, 422) raise :class:`~slmselect.errors.TeacherError`
at once, with a message that says what to change. The API key goes only into the ``Authorization``
header: no message, log or report carries it.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from slmselect.errors import TeacherError

__all__ = ["RequestFailed", "TeacherClient", "chat_url", "redact_url"]

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
MAX_WAIT_S = 60.0


class RequestFailed(Exception):
    """A request that still failed after its retries; ``reason`` is a short key, ``detail`` says more."""

    def __init__(self, reason: str, detail: str, attempts: int) -> None:
        super().__init__(f"{detail} (after {attempts} attempt{'s' if attempts != 1 else ''})")
        self.reason, self.detail, self.attempts = reason, detail, attempts


def redact_url(url: str) -> str:
    """``url`` without any user name or password in it."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)


def chat_url(base_url: str) -> str:
    """The chat-completions URL for a base URL given as ``http://host:port``, ``.../v1`` or the full path."""
    url = base_url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        url = "http://" + url
    if url.endswith("/chat/completions"):
        return url
    if url.endswith("/v1"):
        return url + "/chat/completions"
    return url + "/v1/chat/completions"


def _server_message(response: httpx.Response) -> str:
    """The server's own words about an error, on one line, at most 300 characters."""
    return " ".join(_server_words(response).split())[:300]


def _server_words(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300].strip()
    if not isinstance(body, dict):
        return str(body)[:300]
    err = body.get("error")
    if isinstance(err, dict):
        return str(err.get("message", ""))[:300]
    return str(err or body.get("detail", ""))[:300]


class TeacherClient:
    """One endpoint and model; :meth:`complete` sends a chat request with retries."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        model: str,
        api_key: str | None,
        max_retries: int = 4,
        backoff: float = 0.5,
        seed: int = 0,
    ) -> None:
        self._http = http
        self.url = chat_url(base_url)
        self.shown_url = redact_url(self.url)
        self.model = model
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.max_retries = max_retries
        self.backoff = backoff
        self._jitter = random.Random(seed)
        self.retries = 0  # retries made over the client's life, for the report

    def _fatal(self, response: httpx.Response) -> TeacherError | None:
        status, said = response.status_code, _server_message(response)
        said = f" The server said: {said}." if said else ""
        if status in (401, 403):
            return TeacherError(
                f"The teacher at {self.shown_url} refused the request ({status}): the API key is missing or wrong."
                f"{said} Put the key in the environment variable named by api_key_env (--api-key-env), never on the command line."
            )
        if status == 404:
            return TeacherError(
                f"{self.shown_url} answered 404 for model {self.model!r}.{said} Check --base-url (the server's root or its /v1) "
                "and --model (a name the server lists at /v1/models)."
            )
        if status in (400, 422):
            return TeacherError(
                f"The teacher at {self.shown_url} rejected the request as malformed ({status}).{said} If it does not support "
                "the response format, try another response_format ('json_object', 'json_schema', 'json_object_schema' or 'none')."
            )
        return None

    async def _wait(self, attempt: int, retry_after: str | None) -> None:
        wait = self.backoff * (2 ** attempt) * (0.5 + self._jitter.random())
        if retry_after:
            try:
                wait = max(wait, float(retry_after))
            except ValueError:
                pass
        await asyncio.sleep(min(wait, MAX_WAIT_S))

    async def complete(
        self,
        messages: list[dict[str, str]],
        *,
        response_format: dict[str, Any] | None,
        max_tokens: int,
        temperature: float,
        seed: int,
    ) -> str:
        """The text of the first choice of one chat completion."""
        payload: dict[str, Any] = {
            "model": self.model, "messages": messages, "max_tokens": max_tokens, "temperature": temperature, "seed": seed,
        }
        if response_format is not None:
            payload["response_format"] = response_format
        reason, detail = "", ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                self.retries += 1
            retry_after = None
            try:
                response = await self._http.post(self.url, json=payload, headers=self._headers)
            except httpx.TimeoutException:
                reason, detail = "timeout", f"no answer from {self.shown_url} within the time-out"
            except httpx.TransportError as err:
                reason, detail = "connection", f"cannot reach {self.shown_url} ({type(err).__name__}: {err})"
            else:
                fatal = self._fatal(response)
                if fatal is not None:
                    raise fatal
                if response.status_code in RETRY_STATUS or response.status_code >= 500:
                    retry_after = response.headers.get("retry-after")
                    reason = "rate_limited" if response.status_code == 429 else f"http_{response.status_code}"
                    detail = f"{self.shown_url} answered {response.status_code}: {_server_message(response)}"
                elif response.is_success:
                    content = _content(response)
                    if content is not None:
                        return content
                    reason, detail = "malformed_response", f"{self.shown_url} sent a body that is not a chat completion"
                else:
                    raise TeacherError(
                        f"The teacher at {self.shown_url} answered {response.status_code}: {_server_message(response)}."
                    )
            if attempt < self.max_retries:
                await self._wait(attempt, retry_after)
        raise RequestFailed(reason, detail, self.max_retries + 1)


def _content(response: httpx.Response) -> str | None:
    try:
        body = response.json()
        content = body["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    return content if isinstance(content, str) else None
