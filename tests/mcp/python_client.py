"""The official MCP Python SDK (`mcp` on PyPI) against edgerun's /mcp: run by tests/mcp.test.mjs.

Prints one JSON line of what it saw; the node test asserts on it.
"""
import asyncio
import json
import sys
import time

from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client


def text(result):
    return "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")


async def main(url):
    seen = {}
    async with streamable_http_client(url) as streams:
        read, write = streams[0], streams[1]
        async with ClientSession(read, write) as s:
            init = await s.initialize()
            seen["server"] = init.server_info.name
            seen["tools"] = sorted(t.name for t in (await s.list_tools()).tools)
            created = await s.call_tool("create_session", {"language": "python"})
            sid = created.structured_content["id"]
            seen["session"] = sid
            first = await s.call_tool("run_code", {"session_id": sid, "code": "x = 41\nopen('v.txt','w').write('set')\nprint('set')"})
            second = await s.call_tool("run_code", {"session_id": sid, "code": "print(x + 1, open('v.txt').read())"})
            seen["runs"] = [first.content[0].text, second.content[0].text]
            await s.call_tool("write_file", {"session_id": sid, "path": "py.txt", "content": "from python"})
            seen["read"] = (await s.call_tool("read_file", {"session_id": sid, "path": "py.txt"})).content[0].text
            failed = await s.call_tool("run_code", {"session_id": sid, "code": "raise SystemExit(5)"})
            seen["failed"] = {"isError": failed.is_error, "text": text(failed)}
            progress = []

            async def on_progress(p, total, message):
                progress.append({"progress": p, "message": message, "at": time.monotonic()})

            code = "import time\nprint('a', flush=True)\ntime.sleep(1.5)\nprint('b', flush=True)"
            done = await s.call_tool("run_code", {"session_id": sid, "code": code}, progress_callback=on_progress)
            end = time.monotonic()
            seen["progress"] = [{"progress": p["progress"], "message": p["message"], "before_end_ms": round((end - p["at"]) * 1000)} for p in progress]
            seen["streamed"] = done.content[0].text
    print(json.dumps(seen))


asyncio.run(main(sys.argv[1]))
