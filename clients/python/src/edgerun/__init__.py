"""The Python client of the edgerun HTTP API.

    from edgerun import Edgerun

    client = Edgerun("http://localhost:8787", token=None)
    s = client.sessions.create(language="python")
    print(s.run("print(1)").stdout)
    for ev in s.stream("import time; print('a', flush=True); time.sleep(1); print('b')"):
        print(ev.event, ev.data)

``AsyncEdgerun`` has the same shape with ``await`` and ``async for``. Every error answer raises
``EdgerunError`` with ``status`` and ``code``.
"""

from ._async import AsyncEdgerun, AsyncFiles, AsyncSession, AsyncSessions
from ._base import UNSET, EdgerunError, Event, EventStreamParser, Record
from ._sync import Edgerun, Files, Session, Sessions

__all__ = [
    "AsyncEdgerun",
    "AsyncFiles",
    "AsyncSession",
    "AsyncSessions",
    "Edgerun",
    "EdgerunError",
    "Event",
    "EventStreamParser",
    "Files",
    "Record",
    "Session",
    "Sessions",
    "UNSET",
]
__version__ = "0.1.0"
