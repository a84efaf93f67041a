"""The asynchronous client: the same shape as the sync one, every call awaited and streams as
async iterators."""

from __future__ import annotations

from typing import Any, AsyncIterable, AsyncIterator, Dict, Iterable, Mapping, Optional, Union
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


class AsyncEdgerun:
    """The async client of one edgerun API: ``async with AsyncEdgerun(base_url, token) as c``."""

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        token: Optional[str] = None,
        *,
        timeout: Union[float, httpx.Timeout] = DEFAULT_TIMEOUT,
        headers: Optional[Mapping[str, str]] = None,
        http_client: Optional[httpx.AsyncClient] = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.headers = dict(headers or {})
        self._http = http_client or httpx.AsyncClient(timeout=timeout)
        self.sessions = AsyncSessions(self)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> "AsyncEdgerun":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def request(
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
        r = await self._http.request(method, self.base_url + path, **kw)
        if r.status_code >= 300:
            raise error_of(r)
        return r

    async def json(self, method: str, path: str, **kw: Any) -> Any:
        return record((await self.request(method, path, **kw)).json())

    async def events(self, path: str, body: Any = UNSET, *, method: str = "POST", idempotency_key: Optional[str] = None) -> AsyncIterator[Event]:
        """A POST answered as Server-Sent Events, as an async iterator. To close the
        connection as soon as you stop early, iterate inside ``contextlib.aclosing(...)``
        (an async generator left by ``break`` is closed only when it is collected)."""
        h = headers_for(self.token, {**self.headers, "accept": "text/event-stream"}, idempotency_key)
        kw = {} if body is UNSET else {"json": body}
        async with self._http.stream(method, self.base_url + path, headers=h, **kw) as r:
            if r.status_code >= 300:
                await r.aread()
                raise error_of(r)
            if not r.headers.get("content-type", "").startswith("text/event-stream"):
                raise not_a_stream(r)
            parser, ended = EventStreamParser(), False
            async for line in r.aiter_lines():
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

    async def execute(self, language: str, code: str, *, timeout: Optional[int] = None, env: Optional[Mapping[str, str]] = None, stdin: Optional[str] = None) -> Record:
        return await self.json("POST", "/api/execute", json={"language": language, **run_body(code, timeout, env, stdin)})

    def execute_stream(self, language: str, code: str, *, timeout: Optional[int] = None, env: Optional[Mapping[str, str]] = None, stdin: Optional[str] = None) -> AsyncIterator[Event]:
        return self.events("/api/execute", {"language": language, **run_body(code, timeout, env, stdin)})

    async def health(self) -> Record:
        return await self.json("GET", "/health")


class AsyncSessions:
    def __init__(self, client: AsyncEdgerun) -> None:
        self.client = client

    async def create(
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
    ) -> "AsyncSession":
        body = compact(language=language, id=id, persistent=persistent, metadata=metadata, data=data, setup=setup, default_timeout=default_timeout, allow_internet=allow_internet)
        info = await self.client.json("POST", "/api/sessions", json=body, idempotency_key=idempotency_key)
        return AsyncSession(self.client, info["id"], info)

    async def get(self, session_id: str) -> "AsyncSession":
        s = AsyncSession(self.client, session_id)
        await s.refresh()
        return s

    def session(self, session_id: str) -> "AsyncSession":
        return AsyncSession(self.client, session_id)

    async def list(self, *, limit: Optional[int] = None, cursor: Optional[str] = None) -> Record:
        return await self.client.json("GET", "/api/sessions", params=params_of(limit=limit, cursor=cursor))

    async def all(self, *, limit: Optional[int] = None) -> AsyncIterator[Record]:
        cursor = None
        while True:
            page = await self.list(limit=limit, cursor=cursor)
            for s in page["sessions"]:
                yield s
            cursor = page["cursor"]
            if not cursor:
                return

    async def delete(self, session_id: str) -> Record:
        return await self.client.json("DELETE", session_path(session_id))

    async def delete_all(self) -> Record:
        return await self.client.json("DELETE", "/api/sessions")


class AsyncSession:
    def __init__(self, client: AsyncEdgerun, session_id: str, info: Optional[Record] = None) -> None:
        self.client = client
        self.id = session_id
        self.info = info
        self._path = session_path(session_id)
        self.files = AsyncFiles(self)

    def __repr__(self) -> str:
        return f"AsyncSession({self.id!r})"

    async def refresh(self) -> Record:
        self.info = await self.client.json("GET", self._path)
        return self.info

    async def run(self, code: Optional[str] = None, *, timeout: Optional[int] = None, env: Optional[Mapping[str, str]] = None, stdin: Optional[str] = None, idempotency_key: Optional[str] = None) -> Record:
        return await self.client.json("POST", f"{self._path}/run", json=run_body(code, timeout, env, stdin), idempotency_key=idempotency_key)

    def stream(self, code: Optional[str] = None, *, timeout: Optional[int] = None, env: Optional[Mapping[str, str]] = None, stdin: Optional[str] = None, idempotency_key: Optional[str] = None) -> AsyncIterator[Event]:
        return self.client.events(f"{self._path}/run", run_body(code, timeout, env, stdin), idempotency_key=idempotency_key)

    async def cancel(self) -> Record:
        return await self.client.json("POST", f"{self._path}/cancel")

    async def runs(self, *, limit: Optional[int] = None) -> Record:
        return await self.client.json("GET", f"{self._path}/runs", params=params_of(limit=limit))

    async def get_run(self, run_id: str) -> Record:
        return await self.client.json("GET", f"{self._path}/runs/{file_path(run_id)}")

    async def setup(self, *, pip: Any = None, npm: Any = None, go: Any = None, commands: Any = None, wait: bool = False) -> Record:
        self.info = await self.client.json("POST", f"{self._path}/setup", json=setup_body(pip, npm, go, commands))
        return (await self.wait_for_setup()) if wait else self.info

    def setup_events(self) -> AsyncIterator[Event]:
        return self.client.events(f"{self._path}/setup", method="GET")

    async def wait_for_setup(self) -> Record:
        async for ev in self.setup_events():
            if ev.event == "exit":
                self.info = ev.data
            elif ev.event == "error":
                raise EdgerunError(ev.data["error"], status=200, code=ev.data["code"], body=ev.data)
        return self.info

    async def patch(self, *, default_timeout: Any = UNSET, metadata: Optional[Mapping[str, Any]] = None, allow_internet: Optional[bool] = None) -> Record:
        self.info = await self.client.json("PATCH", self._path, json=patch_body(default_timeout, metadata, allow_internet))
        return self.info

    async def set_code(self, code: str, *, description: Optional[str] = None) -> Record:
        return await self.client.json("PUT", f"{self._path}/code", json=compact(code=code, description=description))

    async def get_code(self) -> Record:
        return await self.client.json("GET", f"{self._path}/code")

    async def duplicate(self, *, id: Optional[str] = None) -> "AsyncSession":
        info = await self.client.json("POST", f"{self._path}/duplicate", json=compact(id=id))
        return AsyncSession(self.client, info["id"], info)

    async def start_process(self, command: str, *, env: Optional[Mapping[str, str]] = None, max_seconds: Optional[int] = None, restart: Optional[str] = None) -> Record:
        """``POST …/processes``: a background process (``bash -c command``) that outlives the call."""
        return await self.client.json("POST", f"{self._path}/processes", json=compact(command=command, env=dict(env) if env is not None else None, max_seconds=max_seconds, restart=restart))

    async def processes(self) -> Record:
        """``GET …/processes``: the session's background processes, oldest first."""
        return await self.client.json("GET", f"{self._path}/processes")

    async def process(self, process_id: str) -> Record:
        return await self.client.json("GET", f"{self._path}/processes/{quote(process_id, safe='')}")

    async def process_logs(self, process_id: str) -> Record:
        """``GET …/processes/{proc}/logs``: the last of its stdout and stderr, and its state."""
        return await self.client.json("GET", f"{self._path}/processes/{quote(process_id, safe='')}/logs")

    def follow_process(self, process_id: str) -> AsyncIterator[Event]:
        """Its logs streamed: ``stdout``/``stderr`` as it prints, then ``exit`` with the process."""
        return self.client.events(f"{self._path}/processes/{quote(process_id, safe='')}/logs", method="GET")

    async def process_input(self, process_id: str, data: str, *, eof: bool = False) -> Record:
        """``POST …/processes/{proc}/stdin``: writes ``data`` (and closes its input with ``eof``)."""
        return await self.client.json("POST", f"{self._path}/processes/{quote(process_id, safe='')}/stdin", json={"data": data, "eof": eof})

    async def stop_process(self, process_id: str) -> Record:
        """``DELETE …/processes/{proc}``: ends it and everything it started."""
        return await self.client.json("DELETE", f"{self._path}/processes/{quote(process_id, safe='')}")

    async def port_url(self, port: int, *, expires_in: Optional[int] = None) -> Record:
        """``POST …/ports/{port}/url``: a signed address that works without the token until it expires."""
        return await self.client.json("POST", f"{self._path}/ports/{int(port)}/url", json=compact(expires_in=expires_in))

    async def port(self, port: int, path: str = "/", *, method: str = "GET", content: Any = None, headers: Optional[Mapping[str, str]] = None) -> httpx.Response:
        """A request to the session's app on ``port``: its answer (a status outside 2xx raises EdgerunError)."""
        p = path if path.startswith("/") else "/" + path
        return await self.client.request(method, f"{self._path}/ports/{int(port)}{p}", content=content, headers=headers)

    async def delete(self) -> Record:
        return await self.client.json("DELETE", self._path)


class AsyncFiles:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _url(self, path: str) -> str:
        return f"{self.session._path}/files/{file_path(path)}"

    async def list(self) -> Record:
        return await self.session.client.json("GET", f"{self.session._path}/files")

    async def read(self, path: str) -> bytes:
        return (await self.session.client.request("GET", self._url(path))).content

    async def read_text(self, path: str, encoding: str = "utf-8") -> str:
        return (await self.read(path)).decode(encoding)

    async def write(self, path: str, data: Union[bytes, str, Iterable[bytes], AsyncIterable[bytes]]) -> Record:
        content = data.encode() if isinstance(data, str) else data
        return await self.session.client.json("PUT", self._url(path), content=content, headers={"content-type": "application/octet-stream"})

    async def delete(self, path: str) -> Record:
        return await self.session.client.json("DELETE", self._url(path))
