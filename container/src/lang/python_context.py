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
#
# Checkpoints: after a run the driver saves the namespace into the workspace (the request's
# `checkpoint` path, under `.sandbox/`): each variable pickled on its own with cloudpickle (so
# functions and classes defined here travel by value), modules as their names (re-imported),
# and the names of what could not be pickled. A `restore` request loads such a file into a
# fresh interpreter; nothing of the user's code runs again. cloudpickle is loaded from the
# runtime's directory (argv[1]) under a private name: a user's own install cannot shadow it.
def _edgerun_context():
    import ast, base64, gc, importlib, importlib.util, io, json, linecache, os, pickle, signal, struct, sys, traceback, types

    def private_cloudpickle(libdir):
        init = os.path.join(libdir, "cloudpickle", "__init__.py")
        spec = importlib.util.spec_from_file_location("_edgerun_cloudpickle", init, submodule_search_locations=[os.path.dirname(init)])
        mod = importlib.util.module_from_spec(spec)
        sys.modules["_edgerun_cloudpickle"] = mod
        spec.loader.exec_module(mod)
        return mod
    try:
        cloudpickle = private_cloudpickle(sys.argv[1])
    except Exception as e:
        cloudpickle = None
        serializer_error = f"cloudpickle could not be loaded from {sys.argv[1] if len(sys.argv) > 1 else '(none)'}: {e}"
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

    def user_names():
        return [k for k in ns if not (k.startswith("__") and k.endswith("__"))]

    def checkpoint(path, limit):
        if cloudpickle is None:
            return {"written": False, "reason": serializer_error}
        modules, values, lost, sizes = {}, {}, [], []
        for k in user_names():
            v = ns[k]
            if isinstance(v, types.ModuleType):
                modules[k] = v.__name__
                continue
            try:
                b = cloudpickle.dumps(v)
            except BaseException:
                lost.append(k)
                continue
            values[k] = b
            sizes.append((len(b), k))
        total = sum(n for n, _ in sizes)
        if total > limit:
            largest = [[k, n] for n, k in sorted(sizes, reverse=True)[:5]]
            return {"written": False, "reason": f"the state is {total} bytes pickled, over the checkpoint limit of {limit}", "largest": largest, "lost": lost}
        data = pickle.dumps({"format": 1, "modules": modules, "values": values, "lost": lost})
        full = os.path.join(home, path)
        try:
            with open(full, "rb") as f:
                if f.read() == data:
                    return {"written": True, "bytes": len(data), "lost": lost, "unchanged": True}
        except OSError:
            pass
        os.makedirs(os.path.dirname(full), exist_ok=True)
        tmp = full + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, full)
        return {"written": True, "bytes": len(data), "lost": lost}

    def restore(path):
        full = os.path.join(home, path)
        if not os.path.exists(full):
            return {"restored": None}
        # Loading makes many objects at once: the collector would walk them again and again.
        gc.disable()
        try:
            return load(full)
        finally:
            gc.enable()

    def load(full):
        try:
            with open(full, "rb") as f:
                state = pickle.loads(f.read())
            if not isinstance(state, dict) or state.get("format") != 1:
                raise ValueError("not a checkpoint of this runtime")
            modules, values, lost = dict(state["modules"]), dict(state["values"]), list(state["lost"])
        except Exception as e:
            return {"restored": False, "reason": f"the checkpoint could not be read ({type(e).__name__}: {e}); the context starts empty"}
        for k, name in modules.items():
            try:
                ns[k] = importlib.import_module(name)
            except Exception:
                lost.append(k)
        for k, b in values.items():
            try:
                ns[k] = pickle.loads(b)
            except Exception:
                lost.append(k)
        return {"restored": True, "lost": sorted(set(lost))}

    reply({"ready": True, "pid": os.getpid()})
    while True:
        try:
            (n,) = struct.unpack(">I", read_exact(4))
            req = json.loads(read_exact(n))
        except EOFError:
            os._exit(0)
        except KeyboardInterrupt:
            continue
        if req.get("op") == "restore":
            try:
                reply(restore(req["checkpoint"]))
            except BaseException as e:
                reply({"restored": False, "reason": f"restoring failed: {type(e).__name__}: {e}"})
            continue
        if req.get("op") != "run":
            reply({"error": f"unknown operation {req.get('op')!r}"})
            continue
        out = run(req)
        if req.get("checkpoint"):
            try:
                out["checkpoint"] = checkpoint(req["checkpoint"], req.get("checkpoint_max", 64 << 20))
            except BaseException as e:
                out["checkpoint"] = {"written": False, "reason": f"{type(e).__name__}: {e}"}
        end = ("\x1e" + req["nonce"] + "\x1e").encode()
        for stream, fd in ((sys.stdout, 1), (sys.stderr, 2)):
            try:
                stream.flush()
            except Exception:
                pass
            os.write(fd, end)
        reply(out)
_edgerun_context()
