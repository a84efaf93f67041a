# The driver of a live Python context, run with `python -P -c` (so it is on nobody's import
# path and nothing is put before the workspace on sys.path). The executor speaks to it in
# frames (a u32 big-endian length, then that much JSON): requests on its standard input, which
# the driver moves to a private descriptor (user code reads an empty stdin, or the run's
# `stdin` text), replies on descriptor 3. The user's output goes to the real stdout and stderr;
# after each run the driver writes the run's end marker (a nonce from the request) on both, so
# that the executor knows when it has all of the run's output.
#
# A run: its code is parsed; all but a final expression statement is executed in the context's
# namespace (`__main__`'s), the final expression is evaluated and its `repr` answered as
# `result`, with rich forms (`_repr_html_`, `_repr_png_`, `_repr_svg_`) and the figures
# matplotlib holds as `outputs`. `sys.exit(n)` ends the run with exit code n and keeps the
# interpreter. SIGINT interrupts a run (KeyboardInterrupt) and is ignored between runs.
def _edgerun_context():
    import ast, base64, importlib, io, json, linecache, os, signal, struct, sys, traceback

    requests = os.dup(0)
    replies = os.dup(3)
    os.close(3)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    main = sys.modules["__main__"]
    ns = main.__dict__
    del ns["_edgerun_context"]
    ns["__file__"] = "main.py"
    sys.argv[:] = ["main.py"]
    state = {"running": False}

    def on_sigint(signum, frame):
        if state["running"]:
            raise KeyboardInterrupt
    signal.signal(signal.SIGINT, on_sigint)

    def read_exact(n):
        buf = b""
        while len(buf) < n:
            chunk = os.read(requests, n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    def reply(obj):
        data = json.dumps(obj).encode()
        os.write(replies, struct.pack(">I", len(data)) + data)

    def rich(value):
        outs = []
        for method, mime, binary in (("_repr_html_", "text/html", False), ("_repr_svg_", "image/svg+xml", False), ("_repr_png_", "image/png", True)):
            f = getattr(type(value), method, None)
            if f is None:
                continue
            try:
                data = f(value)
            except Exception:
                continue
            if data is None:
                continue
            if binary:
                data = base64.b64encode(data).decode()
            outs.append({"mime": mime, "data": str(data)})
        return outs

    def figures():
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is None:
            return []
        outs = []
        try:
            for num in plt.get_fignums():
                buf = io.BytesIO()
                plt.figure(num).savefig(buf, format="png")
                outs.append({"mime": "image/png", "data": base64.b64encode(buf.getvalue()).decode()})
            plt.close("all")
        except Exception as e:
            print(f"[edgerun] a figure could not be drawn: {e}", file=sys.stderr)
        return outs

    def report(e):
        tb = e.__traceback__
        # Drop the driver's own frames: the user's code starts at the first frame of a cell.
        while tb is not None and not tb.tb_frame.f_code.co_filename.startswith("<cell "):
            tb = tb.tb_next
        traceback.print_exception(type(e), e, tb)

    home = os.getcwd()

    def run(req):
        name = f"<cell {req['n']}>"
        # Each run starts in the workspace, entered by its path (an inject may have put a new
        # directory there since the last run).
        os.chdir(home)
        code = req["code"]
        linecache.cache[name] = (len(code), None, code.splitlines(True), name)
        saved = {k: os.environ.get(k) for k in req.get("env", {})}
        os.environ.update(req.get("env", {}))
        sys.stdin = io.StringIO(req.get("stdin", ""))
        importlib.invalidate_caches()
        out = {"exit_code": 0}
        value = None
        try:
            try:
                tree = ast.parse(code, name, "exec")
                last = tree.body[-1] if tree.body and isinstance(tree.body[-1], ast.Expr) else None
                if last is not None:
                    tree.body.pop()
                body = compile(tree, name, "exec")
                tail = compile(ast.Expression(last.value), name, "eval") if last is not None else None
            except SyntaxError as e:
                report(e)
                out["exit_code"] = 1
                return out
            state["running"] = True
            try:
                exec(body, ns)
                if tail is not None:
                    value = eval(tail, ns)
            finally:
                state["running"] = False
            if value is not None:
                ns["_"] = value
                out["result"] = repr(value)
                out["outputs"] = rich(value)
        except SystemExit as e:
            state["running"] = False
            if e.code is None:
                out["exit_code"] = 0
            elif isinstance(e.code, int):
                out["exit_code"] = e.code & 0xFF
            else:
                print(e.code, file=sys.stderr)
                out["exit_code"] = 1
        except KeyboardInterrupt as e:
            state["running"] = False
            report(e)
            out["exit_code"] = 130
            out["interrupted"] = True
        except BaseException as e:
            state["running"] = False
            report(e)
            out["exit_code"] = 1
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            sys.stdin = io.StringIO("")
        out["outputs"] = out.get("outputs", []) + figures()
        return out

    reply({"ready": True, "pid": os.getpid()})
    while True:
        try:
            (n,) = struct.unpack(">I", read_exact(4))
            req = json.loads(read_exact(n))
        except EOFError:
            os._exit(0)
        except KeyboardInterrupt:
            continue
        if req.get("op") != "run":
            reply({"error": f"unknown operation {req.get('op')!r}"})
            continue
        out = run(req)
        end = ("\x1e" + req["nonce"] + "\x1e").encode()
        for stream, fd in ((sys.stdout, 1), (sys.stderr, 2)):
            try:
                stream.flush()
            except Exception:
                pass
            os.write(fd, end)
        reply(out)
_edgerun_context()
