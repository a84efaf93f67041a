"""The Python client against a real local stack: the sync client and the async one, each
through the same scenarios (sessions, runs, streams, files, settings, stored code, cancel,
errors)."""

import asyncio
import os
import re
import time
import uuid

import pytest

import edgerun
from edgerun import AsyncEdgerun, Edgerun, EdgerunError

RUN_ID = re.compile(r"^run_[0-9a-f]{24}$")
PRINT_SLEEP_PRINT = "import time\nprint('a', flush=True)\ntime.sleep(1)\nprint('b', flush=True)"
LONG_RUN = "import time\nprint('started', flush=True)\ntime.sleep(30)\nprint('never')"


def test_the_installed_package_is_tested():
    # tests/clients.test.mjs installs the package with pip into a directory of its own
    # (EDGERUN_CLIENT_TARGET), so these tests see what `pip install ./clients/python` installs.
    target = os.environ.get("EDGERUN_CLIENT_TARGET")
    assert target, "EDGERUN_CLIENT_TARGET is not set"
    assert os.path.realpath(edgerun.__file__).startswith(os.path.realpath(target) + os.sep)
    assert os.path.exists(os.path.join(os.path.dirname(edgerun.__file__), "py.typed"))


def sid(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# --- sync ------------------------------------------------------------------------------------


@pytest.fixture
def client(url, token):
    with Edgerun(url, token=token) as c:
        yield c


def test_sync_runs_failed_runs_history_and_idempotency(client):
    s = client.sessions.create(language="python", id=sid("py-run"), metadata={"owner": "ada"})
    assert s.info.language == "python" and s.info.metadata == {"owner": "ada"} and s.info.run_count == 0
    r = s.run("print(1)")
    assert r.stdout == "1\n" and r.exit_code == 0 and r.killed_by is None and r.session_id == s.id
    assert RUN_ID.match(r.run_id)
    failed = s.run("import sys\nprint('oops', file=sys.stderr)\nraise SystemExit(3)")
    assert failed.exit_code == 3 and failed.stderr == "oops\n"
    assert s.get_run(failed.run_id) == failed, "the stored answer is the answer"
    assert [e.run_id for e in s.runs().runs] == [failed.run_id, r.run_id]
    assert [e.exit_code for e in s.runs(limit=1).runs] == [3]
    key = uuid.uuid4().hex
    first = s.run("import uuid; print(uuid.uuid4())", idempotency_key=key)
    again = s.run("import uuid; print(uuid.uuid4())", idempotency_key=key)
    assert again == first, "a retry with the same key answers the first answer"
    assert s.refresh().run_count == 3
    assert s.delete() == {"deleted": s.id}
    with pytest.raises(EdgerunError) as e:
        client.sessions.get(s.id)
    assert (e.value.status, e.value.code) == (404, "not_found")


def test_sync_stream_yields_events_as_the_program_writes(client):
    s = client.sessions.create(language="python", id=sid("py-sse"))
    t0 = time.monotonic()
    seen = []
    for ev in s.stream(PRINT_SLEEP_PRINT):
        seen.append((ev, time.monotonic()))
    events = [ev for ev, _ in seen]
    assert events[0].event == "run" and RUN_ID.match(events[0].data.run_id)
    out = [(ev, at) for ev, at in seen if ev.event == "stdout"]
    assert "".join(ev.data.data for ev, _ in out) == "a\nb\n"
    a_at = next(at for ev, at in out if "a" in ev.data.data)
    b_at = next(at for ev, at in out if "b" in ev.data.data)
    assert b_at - a_at >= 0.9, f"'a' was read {b_at - a_at:.2f} s before 'b': not before 'b' was printed"
    assert a_at - t0 < 5
    exit_ev = events[-1]
    assert exit_ev.event == "exit" and exit_ev.data.stdout == "a\nb\n" and exit_ev.data.exit_code == 0
    assert exit_ev.data.run_id == events[0].data.run_id
    assert s.get_run(exit_ev.data.run_id) == exit_ev.data
    # A consumer that stops early closes the stream; the run still ends and is kept.
    stream = s.stream("import time\nprint('x', flush=True)\ntime.sleep(1)\nprint('y')")
    run_id = next(stream).data.run_id
    assert next(stream).event == "stdout"
    stream.close()
    kept = None
    for _ in range(50):
        try:
            kept = s.get_run(run_id)
            break
        except EdgerunError as e:
            assert e.status == 404
            time.sleep(0.2)
    assert kept is not None and kept.stdout == "x\ny\n"
    # Refusals before the stream begins raise at the first event.
    with pytest.raises(EdgerunError) as e:
        next(iter(client.sessions.session(sid("nobody")).stream("print(1)")))
    assert (e.value.status, e.value.code) == (404, "not_found")
    s.delete()


def test_sync_files_write_read_list_delete(client):
    s = client.sessions.create(language="python", id=sid("py-files"))
    assert s.files.write("dir/notes é.txt", "kept\n") == {"path": "dir/notes é.txt", "size": 5}
    assert s.files.write("blob.bin", bytes(range(256))).size == 256
    assert s.files.read_text("dir/notes é.txt") == "kept\n"
    assert s.files.read("blob.bin") == bytes(range(256))
    listing = s.files.list()
    assert [(f.path, f.size) for f in listing.files] == [("blob.bin", 256), ("dir/notes é.txt", 5)] and listing.count == 2
    assert s.run("print(open('dir/notes é.txt').read(), end='')").stdout == "kept\n", "a run sees the upload"
    assert s.files.delete("dir/notes é.txt") == {"deleted": "dir/notes é.txt"}
    assert [f.path for f in s.files.list().files] == ["blob.bin"]
    with pytest.raises(EdgerunError) as e:
        s.files.read("dir/notes é.txt")
    assert (e.value.status, e.value.code) == (404, "not_found")
    s.delete()


def test_sync_patch_setup_and_stored_code(client):
    s = client.sessions.create(language="python", id=sid("py-set"))
    info = s.patch(default_timeout=1, metadata={"team": "data"})
    assert info.default_timeout == 1 and info.metadata == {"team": "data"} and s.info is info
    assert s.refresh().default_timeout == 1
    slow = s.run("import time; time.sleep(5)")
    assert slow.killed_by == "timeout" and slow.timed_out, "the patched default_timeout applies"
    assert s.patch(default_timeout=None).default_timeout is None, "None unsets it"
    assert s.patch(allow_internet=True).metadata == {"team": "data"}, "a PATCH changes only what it gives"

    done = s.setup(commands=["echo prepared > ready.txt"], wait=True)
    assert done.setup_status == "completed" and s.info is done, done.setup_log
    assert s.files.read_text("ready.txt") == "prepared\n"
    s.setup(commands=["echo step one", "sleep 2", "echo step two"])
    seen = [(ev, time.monotonic()) for ev in s.setup_events()]
    one = next(at for ev, at in seen if ev.event == "stdout" and "step one" in ev.data.data)
    two = next(at for ev, at in seen if ev.event == "stdout" and "step two" in ev.data.data)
    assert two - one >= 0.8, "the setup's output streams as it comes"
    assert seen[-1][0].event == "exit" and seen[-1][0].data.setup_status == "completed" and seen[-1][0].data.id == s.id
    assert [ev.event for ev in s.setup_events()] == ["exit"], "once over, at once"

    with pytest.raises(EdgerunError) as e:
        s.run()
    assert (e.value.status, e.value.code) == (422, "invalid_field"), "no code and none stored"
    with pytest.raises(EdgerunError) as e:
        s.get_code()
    assert (e.value.status, e.value.code) == (404, "not_found")
    stored = s.set_code("print('from stored code')", description="greets")
    assert stored.code_length == len("print('from stored code')") and stored.description == "greets"
    assert s.get_code().code == "print('from stored code')"
    assert s.run().stdout == "from stored code\n"
    assert s.run("print('given')").stdout == "given\n", "code given wins"
    s.delete()


def test_sync_cancel_ends_the_running_run(client):
    s = client.sessions.create(language="python", id=sid("py-cancel"))
    with pytest.raises(EdgerunError) as e:
        s.cancel()
    assert (e.value.status, e.value.code) == (409, "conflict"), "nothing runs"
    run_id, cancelled, t_cancel, last, out = None, None, None, None, ""
    for ev in s.stream(LONG_RUN):
        if ev.event == "run":
            run_id = ev.data.run_id
        if ev.event == "stdout":
            out += ev.data.data
        if out == "started\n" and cancelled is None:  # the whole line is out: the program sleeps
            cancelled = s.cancel()
            t_cancel = time.monotonic()
        last = ev
    assert cancelled == {"cancelled": run_id}
    assert time.monotonic() - t_cancel < 5
    assert last.event == "exit"
    assert (last.data.killed_by, last.data.exit_code, last.data.signal, last.data.timed_out) == ("cancelled", 137, "SIGKILL", False)
    assert last.data.stdout == "started\n"
    s.delete()


def test_sync_errors_carry_code_and_status(client, url, token):
    with pytest.raises(EdgerunError) as e:
        client.sessions.get(sid("missing"))
    assert (e.value.status, e.value.code) == (404, "not_found") and e.value.message
    with pytest.raises(EdgerunError) as e:
        client.request("POST", "/api/sessions", json={})
    assert (e.value.status, e.value.code) == (422, "invalid_field") and "language" in e.value.message
    with pytest.raises(EdgerunError) as e:
        client.sessions.create(language="cobol")
    assert (e.value.status, e.value.code) == (400, "bad_request")
    if token:
        with Edgerun(url, token="wrong") as other, pytest.raises(EdgerunError) as e:
            other.sessions.list()
        assert (e.value.status, e.value.code) == (401, "unauthorized")


def test_sync_execute(client):
    r = client.execute("python", "print(6 * 7)")
    assert r.stdout == "42\n" and r.exit_code == 0 and "session_id" not in r
    events = list(client.execute_stream("bash", "echo one; echo two >&2; exit 2"))
    assert [e.event for e in events][0] == "run"
    assert "".join(e.data.data for e in events if e.event == "stdout") == "one\n"
    assert "".join(e.data.data for e in events if e.event == "stderr") == "two\n"
    assert events[-1].event == "exit" and events[-1].data.exit_code == 2


# --- async -----------------------------------------------------------------------------------


def wait_until(get, ok, seconds=5.0):
    end = time.monotonic() + seconds
    while True:
        v = get()
        if ok(v) or time.monotonic() > end:
            return v
        time.sleep(0.05)


def test_sync_background_processes_and_their_port(client):
    s = client.sessions.create(language="python", id=sid("py-proc"))
    s.run("open('index.html', 'w').write('from python')")
    server = s.start_process("exec python3 -m http.server 8000 --bind 127.0.0.1", max_seconds=600)
    assert server.status == "running" and server.id.startswith("proc_")

    def page():
        try:
            return s.port(8000, "/index.html").text
        except EdgerunError as e:
            assert e.code == "sandbox_failed"
            return None

    assert wait_until(page, lambda t: t is not None) == "from python"
    ticks = s.start_process("for i in 1 2; do echo tick $i; sleep 0.2; done")
    events = list(s.follow_process(ticks.id))
    assert "".join(e.data.data for e in events if e.event == "stdout") == "tick 1\ntick 2\n"
    assert events[-1].event == "exit" and events[-1].data.status == "exited"
    cat = s.start_process("cat")
    assert s.process_input(cat.id, "hi\n", eof=True).id == cat.id
    logs = wait_until(lambda: s.process_logs(cat.id), lambda l: l.process.status != "running")
    assert (logs.stdout, logs.process.exit_code) == ("hi\n", 0)
    assert [p.id for p in s.processes().processes] == [server.id, ticks.id, cat.id]
    assert s.process(server.id).status == "running"
    url = s.port_url(8000, expires_in=60).url
    assert url.endswith("/") and "/.edgerun-token." in url
    stopped = s.stop_process(server.id)
    assert (stopped.status, stopped.killed_by) == ("killed", "deleted")
    s.delete()


def test_async_client_has_the_same_shape(url, token):
    async def scenario():
        async with AsyncEdgerun(url, token=token) as client:
            s = await client.sessions.create(language="python", id=sid("py-async"))
            r = await s.run("print(1)")
            assert r.stdout == "1\n" and r.exit_code == 0
            assert (await s.run("raise SystemExit(5)")).exit_code == 5

            seen = []
            async for ev in s.stream(PRINT_SLEEP_PRINT):
                seen.append((ev, time.monotonic()))
            out = [(ev, at) for ev, at in seen if ev.event == "stdout"]
            a_at = next(at for ev, at in out if "a" in ev.data.data)
            b_at = next(at for ev, at in out if "b" in ev.data.data)
            assert b_at - a_at >= 0.9
            assert seen[0][0].event == "run" and seen[-1][0].event == "exit" and seen[-1][0].data.stdout == "a\nb\n"

            assert (await s.files.write("x.txt", b"bytes")).size == 5
            assert await s.files.read_text("x.txt") == "bytes"
            assert [f.path for f in (await s.files.list()).files] == ["x.txt"]
            assert await s.files.delete("x.txt") == {"deleted": "x.txt"}
            assert (await s.files.list()).count == 0

            p = await s.start_process("echo bg")
            assert [ev.event async for ev in s.follow_process(p.id)][-1] == "exit"
            assert (await s.process_logs(p.id)).stdout == "bg\n"
            assert [x.id for x in (await s.processes()).processes] == [p.id]
            assert (await s.stop_process(p.id)).status == "exited"

            assert (await s.patch(default_timeout=9)).default_timeout == 9
            await s.set_code("print('stored')")
            assert (await s.run()).stdout == "stored\n"
            assert (await s.setup(commands=["echo set > up.txt"], wait=True)).setup_status == "completed"
            assert await s.files.read_text("up.txt") == "set\n"
            assert [ev.event async for ev in s.setup_events()] == ["exit"]

            cancelled, last, out = None, None, ""
            async for ev in s.stream(LONG_RUN):
                out += ev.data.data if ev.event == "stdout" else ""
                if out == "started\n" and cancelled is None:
                    cancelled = await s.cancel()
                last = ev
            assert cancelled["cancelled"] == last.data.run_id
            assert last.data.killed_by == "cancelled" and last.data.exit_code == 137

            assert (await client.execute("bash", "echo hi")).stdout == "hi\n"
            assert [e.event async for e in client.execute_stream("bash", "echo hi")][-1] == "exit"

            with pytest.raises(EdgerunError) as e:
                await client.sessions.get(sid("missing"))
            assert (e.value.status, e.value.code) == (404, "not_found")
            with pytest.raises(EdgerunError) as e:
                await client.request("POST", "/api/sessions", json={})
            assert (e.value.status, e.value.code) == (422, "invalid_field")

            assert (await s.delete()) == {"deleted": s.id}
            with pytest.raises(EdgerunError) as e:
                await s.refresh()
            assert e.value.status == 404

    asyncio.run(scenario())


def test_event_stream_parser_follows_the_spec():
    p = edgerun.EventStreamParser()
    lines = [": keep-alive", "event: stdout", "data:{\"data\":", "data: \"x\"}", "id: 7", "", "data: [1]", "", "event: lonely", ""]
    events = [ev for ev in (p.feed(l) for l in lines) if ev is not None]
    assert events == [edgerun.Event("stdout", {"data": "x"}), edgerun.Event("message", [1])], "joined data lines; unnamed is message; no data, no event"
    with pytest.raises(EdgerunError) as e:
        p.feed("data: not json")
        p.feed("")
    assert e.value.code == "bad_event"
