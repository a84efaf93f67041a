# The Python plugin's bootstrap, run with `python -P -c` (so the standard input stays the
# program's and nothing is put before the workspace on sys.path): it reads the run's code from
# the runtime's file (argv[1]) and runs it as `__main__` named `main.py`, as `python main.py`
# would in the workspace, without ever putting it there. Tracebacks name it `main.py` and show
# its lines (from linecache, never from a workspace file of that name); `import main` imports
# the user's own main.py. Its one name is removed from `__main__` before the code runs.
def _edgerun_main():
    # Only `sys` on the way in: linecache and tokenize cost ~6 ms of imports, paid only by a run
    # that fails (compile reads the encoding cookie from the bytes itself).
    import sys
    name = "main.py"
    with open(sys.argv[1], "rb") as f:
        raw = f.read()
    sys.argv[:] = [name]
    main = sys.modules["__main__"].__dict__
    del main["_edgerun_main"]
    main["__file__"] = name
    def lines():
        import io, linecache, tokenize
        try:
            encoding = tokenize.detect_encoding(io.BytesIO(raw).readline)[0]
        except SyntaxError:
            encoding = "utf-8"
        text = raw.decode(encoding, "replace").splitlines(True)
        linecache.cache[name] = (sum(map(len, text)), None, text, name)
        return text
    def report(e, tb):
        # The traceback module reads lines from linecache; the interpreter's own printer would
        # read them from a file named main.py in the current directory.
        text = lines()
        if tb is None and isinstance(e, SyntaxError):
            # The compiler takes the error's line from a file of that name if one exists: ours instead.
            e.text = text[e.lineno - 1] if e.lineno and 0 < e.lineno <= len(text) else None
        e.__traceback__ = tb
        if sys.excepthook is sys.__excepthook__:
            import traceback
            traceback.print_exception(type(e), e, tb)
        else:
            sys.excepthook(type(e), e, tb)
        sys.exit(1)
    try:
        code = compile(raw, name, "exec")
    except SyntaxError as e:
        report(e, None)
    try:
        exec(code, main)
    except SystemExit:
        raise
    except BaseException as e:
        report(e, e.__traceback__.tb_next)
_edgerun_main()
