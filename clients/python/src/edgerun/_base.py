"""What the sync and async clients share: the error class, answers as records, the SSE parser
and the request bodies."""

from __future__ import annotations

import json as _json
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Union
from urllib.parse import quote

import httpx

DEFAULT_BASE_URL = "http://localhost:8787"
# Runs last up to 300 s (and may wait behind others); a stream sends a keep-alive every 15 s.
DEFAULT_TIMEOUT = httpx.Timeout(60.0, read=330.0)
ENDINGS = frozenset({"exit", "error"})


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()
"""An argument not given (where ``None`` means something, as ``default_timeout=None``)."""


class EdgerunError(Exception):
    """Every error answer of the API (``{"error", "code"}`` with its HTTP status), and streams
    that end badly.

    ``code`` is the API's machine-readable code (``not_found``, ``invalid_field``, …) or, from the
    client itself, ``http_error`` (an error answer not in the API's shape), ``not_a_stream``,
    ``stream_ended`` (the stream closed before its ``exit`` or ``error`` event) or ``bad_event``.
    """

    def __init__(self, message: str, *, status: int, code: str, body: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.body = body

    def __repr__(self) -> str:
        return f"EdgerunError(status={self.status}, code={self.code!r}, message={self.message!r})"

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


class Record(Dict[str, Any]):
    """A JSON object of an answer: a dict whose keys also read as attributes (``r.stdout``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__} has no field {name!r}") from None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict.__repr__(self)})"


def record(value: Any) -> Any:
    """JSON as records, nested objects included."""
    if isinstance(value, dict):
        return Record((k, record(v)) for k, v in value.items())
    if isinstance(value, list):
        return [record(v) for v in value]
    return value


@dataclass(frozen=True)
class Event:
    """One Server-Sent Event: its name (``run``, ``stdout``, ``stderr``, ``exit``, ``error``;
    ``message`` when unnamed) and its data, parsed from JSON."""

    event: str
    data: Any


class EventStreamParser:
    """The WHATWG event-stream rules, fed one line (without its ending) at a time: ``event:`` and
    ``data:`` fields, an optional space after the colon, several ``data:`` lines joined by a
    newline, comments and other fields ignored, an event dispatched at a blank line."""

    def __init__(self) -> None:
        self._name = ""
        self._data: List[str] = []

    def feed(self, line: str) -> Optional[Event]:
        if line == "":
            return self.flush()
        if line.startswith(":"):
            return None
        field, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if field == "event":
            self._name = value
        elif field == "data":
            self._data.append(value)
        return None

    def flush(self) -> Optional[Event]:
        name, data = self._name or "message", self._data
        self._name, self._data = "", []
        if not data:
            return None
        raw = "\n".join(data)
        try:
            parsed = _json.loads(raw)
        except ValueError:
            raise EdgerunError(f"the stream sent an event whose data is not JSON: {raw[:200]}", status=200, code="bad_event", body=raw) from None
        return Event(name, record(parsed))


def error_of(response: httpx.Response) -> EdgerunError:
    """The EdgerunError of a non-2xx answer (whose body has been read)."""
    text = response.text
    try:
        body: Any = response.json()
    except ValueError:
        body = text
    if isinstance(body, dict) and isinstance(body.get("error"), str) and isinstance(body.get("code"), str):
        return EdgerunError(body["error"], status=response.status_code, code=body["code"], body=body)
    return EdgerunError(f"HTTP {response.status_code}: {text[:300]}", status=response.status_code, code="http_error", body=body)


def not_a_stream(response: httpx.Response) -> EdgerunError:
    ctype = response.headers.get("content-type") or "no content type"
    return EdgerunError(f"expected an event stream, got {ctype}", status=response.status_code, code="not_a_stream")


def stream_ended(status: int) -> EdgerunError:
    return EdgerunError("the event stream ended before its exit or error event", status=status, code="stream_ended")


def headers_for(token: Optional[str], extra: Optional[Mapping[str, str]], idempotency_key: Optional[str] = None) -> Dict[str, str]:
    h = dict(extra or {})
    if token:
        h["authorization"] = f"Bearer {token}"
    if idempotency_key is not None:
        h["idempotency-key"] = idempotency_key
    return h


def session_path(session_id: str) -> str:
    if not isinstance(session_id, str) or not session_id:
        raise ValueError("a session id must be a non-empty string")
    return "/api/sessions/" + quote(session_id, safe="")


def file_path(path: str) -> str:
    """A workspace path, percent-encoded segment by segment."""
    return "/".join(quote(seg, safe="") for seg in str(path).split("/"))


def compact(**fields: Any) -> Dict[str, Any]:
    """The fields that were given (``None`` and UNSET left out)."""
    return {k: v for k, v in fields.items() if v is not None and v is not UNSET}


def run_body(code: Optional[str], timeout: Optional[int], env: Optional[Mapping[str, str]], stdin: Optional[str]) -> Dict[str, Any]:
    return compact(code=code, timeout=timeout, env=dict(env) if env is not None else None, stdin=stdin)


def setup_body(pip: Any, npm: Any, go: Any, commands: Any) -> Dict[str, Any]:
    return {"setup": compact(pip=pip, npm=npm, go=go, commands=commands)}


def patch_body(default_timeout: Any, metadata: Any, allow_internet: Any) -> Dict[str, Any]:
    body = compact(metadata=metadata, allow_internet=allow_internet)
    if default_timeout is not UNSET:
        body["default_timeout"] = default_timeout  # None unsets it
    return body


def params_of(**params: Any) -> Dict[str, Union[str, int]]:
    return {k: v for k, v in params.items() if v is not None}
