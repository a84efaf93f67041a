"""The synchronous client."""

from __future__ import annotations

from typing import Any, Dict, Iterable, Iterator, Mapping, Optional, Union
from urllib.parse import quote

import httpx

from ._base import (
    DEFAULT_BASE_URL,
    DEFAULT_TIMEOUT,
    ENDINGS,
    UNSET,
    EdgerunError,
    Event,
    EventStreamParser,
    Record,
    compact,
    error_of,
    file_path,
    headers_for,
    not_a_stream,
    params_of,
    patch_body,
    record,
    run_body,
    session_path,
    setup_body,
    stream_ended,
)


class Edgerun:
    """The client of one edgerun API.

    ``Edgerun(base_url="http://localhost:8787", token=None)``; use it as a context manager, or
    call ``close()``, to close its connections.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        token: Optional[str] = None,
        *,
        timeout: Union[float, httpx.Timeout] = DEFAULT_TIMEOUT,
        headers: Optional[Mapping[str, str]] = None,
        http_client: Optional[httpx.Client] = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.headers = dict(headers or {})
        self._http = http_client or httpx.Client(timeout=timeout)
        self.sessions = Sessions(self)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "Edgerun":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = UNSET,
        content: Any = None,
        params: Optional[Mapping[str, Any]] = None,
        headers: Optional[Mapping[str, str]] = None,
        idempotency_key: Optional[str] = None,
    ) -> httpx.Response:
        """One request: the answer of a 2xx; any other status raises EdgerunError."""
        h = headers_for(self.token, {**self.headers, **(headers or {})}, idempotency_key)
        kw: Dict[str, Any] = {"headers": h, "params": params}
        if json is not UNSET:
            kw["json"] = json
        elif content is not None:
            kw["content"] = content
        r = self._http.request(method, self.base_url + path, **kw)
        if r.status_code >= 300:
            raise error_of(r)
        return r

    def json(self, method: str, path: str, **kw: Any) -> Any:
        """One request whose answer is JSON, as records."""
        return record(self.request(method, path, **kw).json())

    def events(self, path: str, body: Any = UNSET, *, method: str = "POST", idempotency_key: Optional[str] = None) -> Iterator[Event]:
        """A request answered as Server-Sent Events: the events as they arrive. A refusal
        before the stream began raises EdgerunError (at the first ``next``)."""
        h = headers_for(self.token, {**self.headers, "accept": "text/event-stream"}, idempotency_key)
        kw = {} if body is UNSET else {"json": body}
        with self._http.stream(method, self.base_url + path, headers=h, **kw) as r:
            if r.status_code >= 300:
                r.read()
                raise error_of(r)
            if not r.headers.get("content-type", "").startswith("text/event-stream"):
                raise not_a_stream(r)
            parser, ended = EventStreamParser(), False
            for line in r.iter_lines():
                ev = parser.feed(line)
                if ev is not None:
                    ended = ended or ev.event in ENDINGS
                    yield ev
            ev = parser.flush()
            if ev is not None:
                ended = ended or ev.event in ENDINGS
                yield ev
            if not ended:
                raise stream_ended(r.status_code)

    def execute(self, language: str, code: str, *, timeout: Optional[int] = None, env: Optional[Mapping[str, str]] = None, stdin: Optional[str] = None) -> Record:
        """``POST /api/execute``: runs code once in a throwaway session; the run answer."""
        return self.json("POST", "/api/execute", json={"language": language, **run_body(code, timeout, env, stdin)})

    def execute_stream(self, language: str, code: str, *, timeout: Optional[int] = None, env: Optional[Mapping[str, str]] = None, stdin: Optional[str] = None) -> Iterator[Event]:
        """``POST /api/execute``, streamed."""
        return self.events("/api/execute", {"language": language, **run_body(code, timeout, env, stdin)})

    def health(self) -> Record:
        return self.json("GET", "/health")


class Sessions:
    """``client.sessions``: create, list, open and delete sessions."""

    def __init__(self, client: Edgerun) -> None:
        self.client = client

    def create(
        self,
        language: str,
        *,
        id: Optional[str] = None,
        persistent: Optional[bool] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        data: Optional[Mapping[str, Any]] = None,
        setup: Optional[Mapping[str, Any]] = None,
        default_timeout: Optional[int] = None,
        allow_internet: Optional[bool] = None,
        idempotency_key: Optional[str] = None,
    ) -> "Session":
        """``POST /api/sessions``: a new session."""
        body = compact(language=language, id=id, persistent=persistent, metadata=metadata, data=data, setup=setup, default_timeout=default_timeout, allow_internet=allow_internet)
        info = self.client.json("POST", "/api/sessions", json=body, idempotency_key=idempotency_key)
        return Session(self.client, info["id"], info)

    def get(self, session_id: str) -> "Session":
        """``GET /api/sessions/{id}`` (404: EdgerunError ``not_found``)."""
        s = Session(self.client, session_id)
        s.refresh()
        return s

    def session(self, session_id: str) -> "Session":
        """A handle on a session without asking the API anything."""
        return Session(self.client, session_id)

    def list(self, *, limit: Optional[int] = None, cursor: Optional[str] = None) -> Record:
        """``GET /api/sessions``: one page (``sessions``, ``count``, ``cursor``), newest first."""
        return self.client.json("GET", "/api/sessions", params=params_of(limit=limit, cursor=cursor))

    def all(self, *, limit: Optional[int] = None) -> Iterator[Record]:
        """Every session, page after page."""
        cursor = None
        while True:
            page = self.list(limit=limit, cursor=cursor)
            yield from page["sessions"]
            cursor = page["cursor"]
            if not cursor:
                return

    def delete(self, session_id: str) -> Record:
        return self.client.json("DELETE", session_path(session_id))

    def delete_all(self) -> Record:
        """``DELETE /api/sessions``: every session (a batch at once, the rest in the background)."""
        return self.client.json("DELETE", "/api/sessions")


class Session:
    """One session: its runs, files, setup, settings and stored code. ``info`` is the session
    object as the API last answered it."""

    def __init__(self, client: Edgerun, session_id: str, info: Optional[Record] = None) -> None:
        self.client = client
        self.id = session_id
        self.info = info
        self._path = session_path(session_id)
        self.files = Files(self)

    def __repr__(self) -> str:
        return f"Session({self.id!r})"

    def refresh(self) -> Record:
        self.info = self.client.json("GET", self._path)
        return self.info

    def run(self, code: Optional[str] = None, *, timeout: Optional[int] = None, env: Optional[Mapping[str, str]] = None, stdin: Optional[str] = None, idempotency_key: Optional[str] = None) -> Record:
        """``POST …/run``: runs ``code`` (None: the stored code); the run answer."""
        return self.client.json("POST", f"{self._path}/run", json=run_body(code, timeout, env, stdin), idempotency_key=idempotency_key)

    def stream(self, code: Optional[str] = None, *, timeout: Optional[int] = None, env: Optional[Mapping[str, str]] = None, stdin: Optional[str] = None, idempotency_key: Optional[str] = None) -> Iterator[Event]:
        """``POST …/run`` streamed: ``run``, ``stdout``/``stderr`` as written, then ``exit``
        (the run answer) or ``error``. A generator: ``close()`` it (or leave its ``for`` loop
        and let it go) to close the connection early; the run goes on and is kept either way."""
        return self.client.events(f"{self._path}/run", run_body(code, timeout, env, stdin), idempotency_key=idempotency_key)

    def cancel(self) -> Record:
        """``POST …/cancel``: ends the running run or setup (409 ``conflict`` when none runs)."""
        return self.client.json("POST", f"{self._path}/cancel")

    def runs(self, *, limit: Optional[int] = None) -> Record:
        return self.client.json("GET", f"{self._path}/runs", params=params_of(limit=limit))

    def get_run(self, run_id: str) -> Record:
        """``GET …/runs/{run_id}``: one of the last 20 runs' answers."""
        return self.client.json("GET", f"{self._path}/runs/{file_path(run_id)}")

    def setup(self, *, pip: Any = None, npm: Any = None, go: Any = None, commands: Any = None, wait: bool = False) -> Record:
        """``POST …/setup``; with ``wait``, answers once the setup is ``completed`` or ``failed``."""
        self.info = self.client.json("POST", f"{self._path}/setup", json=setup_body(pip, npm, go, commands))
        return self.wait_for_setup() if wait else self.info

    def setup_events(self) -> Iterator[Event]:
        """``GET …/setup`` streamed: installers' output as ``log``, commands' ``stdout`` and
        ``stderr``, then ``exit`` with the session once the setup ended (at once when none runs)."""
        return self.client.events(f"{self._path}/setup", method="GET")

    def wait_for_setup(self) -> Record:
        """Follows the setup to its end; the session then (an ``error`` event raises)."""
        for ev in self.setup_events():
            if ev.event == "exit":
                self.info = ev.data
            elif ev.event == "error":
                raise EdgerunError(ev.data["error"], status=200, code=ev.data["code"], body=ev.data)
        return self.info

    def patch(self, *, default_timeout: Any = UNSET, metadata: Optional[Mapping[str, Any]] = None, allow_internet: Optional[bool] = None) -> Record:
        """``PATCH /api/sessions/{id}`` (``default_timeout=None`` unsets it)."""
        self.info = self.client.json("PATCH", self._path, json=patch_body(default_timeout, metadata, allow_internet))
        return self.info

    def set_code(self, code: str, *, description: Optional[str] = None) -> Record:
        """``PUT …/code``: the code a run without code runs."""
        return self.client.json("PUT", f"{self._path}/code", json=compact(code=code, description=description))

    def get_code(self) -> Record:
        return self.client.json("GET", f"{self._path}/code")

    def duplicate(self, *, id: Optional[str] = None) -> "Session":
        info = self.client.json("POST", f"{self._path}/duplicate", json=compact(id=id))
        return Session(self.client, info["id"], info)

    def start_process(self, command: str, *, env: Optional[Mapping[str, str]] = None, max_seconds: Optional[int] = None, restart: Optional[str] = None) -> Record:
        """``POST …/processes``: a background process (``bash -c command``) that outlives the call."""
        return self.client.json("POST", f"{self._path}/processes", json=compact(command=command, env=dict(env) if env is not None else None, max_seconds=max_seconds, restart=restart))

    def processes(self) -> Record:
        """``GET …/processes``: the session's background processes, oldest first."""
        return self.client.json("GET", f"{self._path}/processes")

    def process(self, process_id: str) -> Record:
        return self.client.json("GET", f"{self._path}/processes/{quote(process_id, safe='')}")

    def process_logs(self, process_id: str) -> Record:
        """``GET …/processes/{proc}/logs``: the last of its stdout and stderr, and its state."""
        return self.client.json("GET", f"{self._path}/processes/{quote(process_id, safe='')}/logs")

    def follow_process(self, process_id: str) -> Iterator[Event]:
        """Its logs streamed: ``stdout``/``stderr`` as it prints, then ``exit`` with the process."""
        return self.client.events(f"{self._path}/processes/{quote(process_id, safe='')}/logs", method="GET")

    def process_input(self, process_id: str, data: str, *, eof: bool = False) -> Record:
        """``POST …/processes/{proc}/stdin``: writes ``data`` (and closes its input with ``eof``)."""
        return self.client.json("POST", f"{self._path}/processes/{quote(process_id, safe='')}/stdin", json={"data": data, "eof": eof})

    def stop_process(self, process_id: str) -> Record:
        """``DELETE …/processes/{proc}``: ends it and everything it started."""
        return self.client.json("DELETE", f"{self._path}/processes/{quote(process_id, safe='')}")

    def port_url(self, port: int, *, expires_in: Optional[int] = None) -> Record:
        """``POST …/ports/{port}/url``: a signed address that works without the token until it expires."""
        return self.client.json("POST", f"{self._path}/ports/{int(port)}/url", json=compact(expires_in=expires_in))

    def port(self, port: int, path: str = "/", *, method: str = "GET", content: Any = None, headers: Optional[Mapping[str, str]] = None) -> httpx.Response:
        """A request to the session's app on ``port``: its answer (a status outside 2xx raises EdgerunError)."""
        p = path if path.startswith("/") else "/" + path
        return self.client.request(method, f"{self._path}/ports/{int(port)}{p}", content=content, headers=headers)

    def delete(self) -> Record:
        return self.client.json("DELETE", self._path)


class Files:
    """``session.files``: the session's workspace files."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def _url(self, path: str) -> str:
        return f"{self.session._path}/files/{file_path(path)}"

    def list(self) -> Record:
        """``GET …/files``: ``files`` (path, size, uploaded), sorted by path, and ``count``."""
        return self.session.client.json("GET", f"{self.session._path}/files")

    def read(self, path: str) -> bytes:
        return self.session.client.request("GET", self._url(path)).content

    def read_text(self, path: str, encoding: str = "utf-8") -> str:
        return self.read(path).decode(encoding)

    def write(self, path: str, data: Union[bytes, str, Iterable[bytes]]) -> Record:
        """``PUT …/files/{path}``: text as UTF-8, bytes, or an iterable of bytes (streamed)."""
        content = data.encode() if isinstance(data, str) else data
        return self.session.client.json("PUT", self._url(path), content=content, headers={"content-type": "application/octet-stream"})

    def delete(self, path: str) -> Record:
        return self.session.client.json("DELETE", self._url(path))
