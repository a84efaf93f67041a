/**
 * Generated from docs/openapi.json by clients/typescript/scripts/generate.mjs
 * (openapi-typescript 7.13.0); do not edit. `node clients/typescript/scripts/generate.mjs`
 * rewrites it, and tests/clients.test.mjs fails when it is stale.
 */

export interface paths {
    "/": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The playground page (static; its calls need the token like any client's)
         * @description See docs/api.md for `GET /`.
         */
        get: operations["playground"];
        put?: never;
        /**
         * Seed-compatible plugin run (creates the session on first use)
         * @description See docs/api.md for `POST /`.
         */
        post: operations["plugin"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/execute": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * One-shot run; nothing is kept
         * @description See docs/api.md for `POST /api/execute`.
         */
        post: operations["execute"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/sessions": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * List sessions, newest first, paginated
         * @description See docs/api.md for `GET /api/sessions`.
         */
        get: operations["listSessions"];
        put?: never;
        /**
         * Create a session
         * @description See docs/api.md for `POST /api/sessions`.
         */
        post: operations["createSession"];
        /**
         * Delete every session (the rest in the background when there are many)
         * @description See docs/api.md for `DELETE /api/sessions`.
         */
        delete: operations["deleteAllSessions"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/sessions/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The session object
         * @description See docs/api.md for `GET /api/sessions/{id}`.
         */
        get: operations["getSession"];
        put?: never;
        post?: never;
        /**
         * Delete a session and everything it holds
         * @description See docs/api.md for `DELETE /api/sessions/{id}`.
         */
        delete: operations["deleteSession"];
        options?: never;
        head?: never;
        /**
         * Change the session's settings: default_timeout, metadata, allow_internet
         * @description See docs/api.md for `PATCH /api/sessions/{id}`.
         */
        patch: operations["patchSession"];
        trace?: never;
    };
    "/api/sessions/{id}/cancel": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * End the session's running run or setup
         * @description See docs/api.md for `POST /api/sessions/{id}/cancel`.
         */
        post: operations["cancel"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/sessions/{id}/code": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The session's stored code
         * @description See docs/api.md for `GET /api/sessions/{id}/code`.
         */
        get: operations["getCode"];
        /**
         * Store the code that runs without `code` run
         * @description See docs/api.md for `PUT /api/sessions/{id}/code`.
         */
        put: operations["putCode"];
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/sessions/{id}/contexts": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The session's contexts
         * @description See docs/api.md for `GET /api/sessions/{id}/contexts`.
         */
        get: operations["listContexts"];
        put?: never;
        /**
         * Make a live interpreter context (python, node or typescript) whose variables outlive each run
         * @description See docs/api.md for `POST /api/sessions/{id}/contexts`.
         */
        post: operations["createContext"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/sessions/{id}/contexts/{ctx}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post?: never;
        /**
         * End a context and its interpreter
         * @description See docs/api.md for `DELETE /api/sessions/{id}/contexts/{ctx}`.
         */
        delete: operations["deleteContext"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/sessions/{id}/duplicate": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Copy the session
         * @description See docs/api.md for `POST /api/sessions/{id}/duplicate`.
         */
        post: operations["duplicate"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/sessions/{id}/files": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * List the workspace's files and links
         * @description See docs/api.md for `GET /api/sessions/{id}/files`.
         */
        get: operations["listFiles"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/sessions/{id}/files/{path}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Download a file
         * @description See docs/api.md for `GET /api/sessions/{id}/files/{path}`.
         */
        get: operations["getFile"];
        /**
         * Upload a file (the raw body)
         * @description See docs/api.md for `PUT /api/sessions/{id}/files/{path}`.
         */
        put: operations["putFile"];
        post?: never;
        /**
         * Delete a file or link
         * @description See docs/api.md for `DELETE /api/sessions/{id}/files/{path}`.
         */
        delete: operations["deleteFile"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/sessions/{id}/ports/{port}/url": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * A signed, expiring address of a port that works without the token
         * @description See docs/api.md for `POST /api/sessions/{id}/ports/{port}/url`.
         */
        post: operations["portUrl"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/sessions/{id}/ports/{port}/{app_path}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The session's app listening on a port (any method: GET, POST, PUT, PATCH, DELETE, …)
         * @description See docs/api.md for `GET /api/sessions/{id}/ports/{port}/{app_path}`.
         */
        get: operations["port"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/sessions/{id}/processes": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The session's background processes and how they are
         * @description See docs/api.md for `GET /api/sessions/{id}/processes`.
         */
        get: operations["listProcesses"];
        put?: never;
        /**
         * Start a background process that outlives the request (a dev server, a job)
         * @description See docs/api.md for `POST /api/sessions/{id}/processes`.
         */
        post: operations["startProcess"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/sessions/{id}/processes/{proc}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * One background process
         * @description See docs/api.md for `GET /api/sessions/{id}/processes/{proc}`.
         */
        get: operations["getProcess"];
        put?: never;
        post?: never;
        /**
         * End a background process and everything it started
         * @description See docs/api.md for `DELETE /api/sessions/{id}/processes/{proc}`.
         */
        delete: operations["deleteProcess"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/sessions/{id}/processes/{proc}/logs": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * A background process's output (the last 1 MiB of each stream), or followed as events
         * @description See docs/api.md for `GET /api/sessions/{id}/processes/{proc}/logs`.
         */
        get: operations["processLogs"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/sessions/{id}/processes/{proc}/stdin": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Write to a background process's standard input
         * @description See docs/api.md for `POST /api/sessions/{id}/processes/{proc}/stdin`.
         */
        post: operations["processInput"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/sessions/{id}/run": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Run code in the session
         * @description See docs/api.md for `POST /api/sessions/{id}/run`.
         */
        post: operations["run"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/sessions/{id}/runs": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Recent runs, newest first
         * @description See docs/api.md for `GET /api/sessions/{id}/runs`.
         */
        get: operations["listRuns"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/sessions/{id}/runs/{run_id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * One of the last 20 runs' answers, by its run id
         * @description See docs/api.md for `GET /api/sessions/{id}/runs/{run_id}`.
         */
        get: operations["getRun"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/sessions/{id}/setup": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The setup's status and log; with events, its output as it comes
         * @description See docs/api.md for `GET /api/sessions/{id}/setup`.
         */
        get: operations["getSetup"];
        put?: never;
        /**
         * Replace the session's setup and run it in the background
         * @description See docs/api.md for `POST /api/sessions/{id}/setup`.
         */
        post: operations["setup"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/sessions/{id}/stream": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * ERA's streamed run: Server-Sent Events of ERA's form
         * @description See docs/api.md for `POST /api/sessions/{id}/stream`.
         */
        post: operations["streamRun"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/health": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Liveness and version
         * @description See docs/api.md for `GET /health`.
         */
        get: operations["health"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/mcp": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Model Context Protocol (Streamable HTTP): edgerun's tools
         * @description See docs/api.md for `POST /mcp`.
         */
        post: operations["mcp"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/mcp/v1": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Model Context Protocol: ERA's tools, for ERA's clients
         * @description See docs/api.md for `POST /mcp/v1`.
         */
        post: operations["mcpEra"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/openapi.json": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * This document
         * @description See docs/api.md for `GET /openapi.json`.
         */
        get: operations["openapi"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/playground.css": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The playground's style
         * @description See docs/api.md for `GET /playground.css`.
         */
        get: operations["playgroundStyle"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/playground.js": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The playground's script
         * @description See docs/api.md for `GET /playground.js`.
         */
        get: operations["playgroundScript"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
}
export type webhooks = Record<string, never>;
export interface components {
    schemas: {
        /** @description `POST /api/sessions/{id}/cancel`: what was ended. */
        Cancelled: {
            /** @description The run id of the run that was ended, or `"setup"`. */
            cancelled: string;
        };
        /** @description `DELETE /api/sessions/{id}/contexts/{ctx}`. */
        ContextDeleted: {
            /** @description The id of the context that was ended. */
            deleted: string;
        };
        /** @description A live interpreter context of a session. */
        ContextInfo: {
            /**
             * @description Whether its latest checkpoint is still only in the sandbox: a run that changes nothing but
             *     the context's state does not wait for R2; the checkpoint follows within
             *     `CHECKPOINT_FLUSH_MS` (1 s by default), or with the next run that changes files.
             * @default false
             */
            checkpoint_pending: boolean;
            /**
             * Format: date-time
             * @description When it was made (RFC 3339).
             */
            created_at: string;
            /** @description Whether it is the session's default context of its language (the plugin endpoint's). */
            default: boolean;
            /** @description `ctx_` and 24 hex digits; runs name it in `context`. */
            id: string;
            /** @description `python` or `node`. */
            language: string;
            /**
             * Format: uint64
             * @description Runs it answered.
             */
            run_count: number;
        };
        /** @description `GET /api/sessions/{id}/contexts`. */
        ContextList: {
            /** @description Oldest first. */
            contexts: components["schemas"]["ContextInfo"][];
        };
        /** @description `POST /api/sessions/{id}/contexts` body. */
        CreateContextRequest: {
            /** @description The interpreter: `python`, `node` or `typescript` (or an alias of one). */
            language: string;
        };
        /** @description `POST /api/sessions` body. */
        CreateSessionRequest: {
            /** @description ERA's name for `allow_internet` (both given must agree). */
            allowInternetAccess?: boolean | null;
            /** @description Whether runs reach beyond the session's loopback; default `true`. */
            allow_internet?: boolean | null;
            /** @description The initial data (at most 128 KiB serialized). */
            data?: {
                [key: string]: unknown;
            } | null;
            /**
             * Format: uint64
             * @description The timeout of runs that give none: whole seconds 1 to 300; default 30.
             */
            default_timeout?: number | null;
            /** @description The new session's id; generated (`sess_<32 hex>`) when absent. */
            id?: string | null;
            /**
             * @description The session's language: a canonical name or an alias.
             * @enum {string}
             */
            language: "bash" | "deno" | "go" | "golang" | "javascript" | "js" | "node" | "py" | "python" | "python3" | "sh" | "shell" | "ts" | "typescript";
            /** @description Stored as given (at most 16 KiB serialized). */
            metadata?: {
                [key: string]: unknown;
            } | null;
            /** @description `false`: each run's changes are discarded; default `true`. */
            persistent?: boolean | null;
            /** @description The ERA alias of `id`, used when `id` is absent. */
            session_id?: string | null;
            /** @description A setup scheduled at once when given and not empty. */
            setup?: components["schemas"]["Setup"] | null;
        };
        /** @description `DELETE` of a session or of a file: what is gone. */
        Deleted: {
            /** @description The deleted session's id, or the deleted file's path. */
            deleted: string;
        };
        /** @description `DELETE /api/sessions`: every session that existed when it was asked is deleted. */
        DeletedAll: {
            /** @description True while `remaining` sessions are being deleted in the background. */
            continuing: boolean;
            /**
             * Format: uint64
             * @description Sessions deleted while the request was answered.
             */
            deleted_count: number;
            /**
             * Format: uint64
             * @description Sessions still to delete: more than one request deletes, so the rest are deleted in the
             *     background (the list shrinks as they go); 0 when none are left.
             */
            remaining: number;
        };
        /** @description `POST /api/sessions/{id}/duplicate` body; an empty body is fine too. */
        DuplicateRequest: {
            /** @description The copy's id; generated when absent. */
            id?: string | null;
            /** @description The ERA alias of `id`. */
            session_id?: string | null;
        };
        /** @description ERA's last event: the run answer's fields, with `"type": "done"`. */
        EraDoneEvent: {
            /** @description A context run only: the id of the context it ran in. */
            context?: string;
            /**
             * Format: double
             * @description CPU time (user + system) the run's processes used, installs included, in milliseconds:
             *     from the run's cgroup in cgroup mode; in the uid and tag modes the kernel's account of
             *     each step's main process and the children it waited for (best effort). A context run
             *     counts its interpreter's use during the run.
             */
            cpu_ms?: number;
            /** @description The session's data after the run. */
            data: {
                [key: string]: unknown;
            };
            /** @description The duration in Go's `time.Duration` form (`15.31525ms`, `1.2s`, `2m3s`). */
            duration: string;
            /**
             * Format: double
             * @description The same in milliseconds.
             */
            duration_ms: number;
            /**
             * Format: int32
             * @description The program's exit status (128 + n after signal n; 137 when a limit ended the run; 127 when
             *     it could not start; 126 when the workspace kept it from being prepared).
             */
            exit_code: number;
            /** @description The limit that ended the run; `null` if none did. */
            killed_by: components["schemas"]["Limit"] | null;
            /**
             * @description A context run: the context's variables its checkpoint cannot hold (a socket, a
             *     generator), or after a restore those that were not restored.
             */
            lost?: string[];
            /** @description A context run only: rich forms of that value and the figures the run drew. */
            outputs?: components["schemas"]["RichOutput"][];
            /**
             * Format: uint64
             * @description The most memory the run held at once, in bytes: the peak charge of its memory cgroup
             *     (page cache included) in cgroup mode; in the uid and tag modes the largest resident set
             *     of a step's main process or a child it waited for (best effort). A context run: the
             *     interpreter's peak during the run, where it can be reset for the run, else absent.
             */
            peak_memory_bytes?: number;
            /** @description With `restored: false`: why the checkpoint could not be loaded (the context started empty). */
            restore_error?: string;
            /**
             * @description A context run that started its interpreter over the context's checkpoint (after the
             *     sandbox was recycled, the interpreter was killed or stopped idle): whether it was loaded.
             */
            restored?: boolean;
            /**
             * @description A context run only: the text form of the value of the code's final expression (Python's
             *     `repr`, Node's `util.inspect`); absent when it had none.
             */
            result?: string;
            /** @description This run's id: `GET /api/sessions/{id}/runs/{run_id}` answers this answer again. */
            run_id: string;
            /** @description The session's id; absent on `/api/execute`. */
            session_id?: string;
            /**
             * @description The signal that ended it, by name (`SIGKILL`, `SIG<n>` for unnamed ones); `null` after a
             *     normal exit.
             */
            signal: string | null;
            /** @description Standard error, up to its cap, followed by runtime notices (`[edgerun] …` lines). */
            stderr: string;
            /** @description Standard output, up to its cap. */
            stdout: string;
            /** @description `killed_by == "timeout"`. */
            timed_out: boolean;
            /** @description stdout or stderr reached its cap. */
            truncated: boolean;
            /** @constant */
            type: "done";
        };
        EraErrorEvent: {
            code: string;
            error: string;
            /** @constant */
            type: "error";
        };
        EraOutputEvent: {
            content: string;
            /** @enum {unknown} */
            type: "stdout" | "stderr" | "log";
        };
        EraStartEvent: {
            run_id: string;
            /** @constant */
            type: "start";
        };
        /**
         * @description The body of every error answer (the same shape as `edgerun_protocol::ErrorBody`, which
         *     serializes it; the document narrows `code` to the codes of each status).
         */
        Error: {
            /**
             * @description A machine-readable code; its status is fixed by the code.
             * @enum {string}
             */
            code: "bad_request" | "invalid_json" | "invalid_field" | "unauthorized" | "forbidden" | "not_found" | "method_not_allowed" | "conflict" | "too_large" | "unsupported_media_type" | "too_many_runs" | "workspace_stale" | "internal" | "sandbox_failed" | "sandbox_unavailable";
            /** @description A sentence for people; it may change between versions. */
            error: string;
        };
        /** @description `POST /api/execute` body: a one-shot run in a throwaway session. */
        ExecuteRequest: {
            /** @description The program (at most 1 MiB, else 413). */
            code: string;
            /** @description Environment variables added last. */
            env?: {
                [key: string]: string;
            } | null;
            /**
             * @description The language: a canonical name or an alias.
             * @enum {string}
             */
            language: "bash" | "deno" | "go" | "golang" | "javascript" | "js" | "node" | "py" | "python" | "python3" | "sh" | "shell" | "ts" | "typescript";
            /** @description Fed to the program's standard input. */
            stdin?: string | null;
            /**
             * Format: uint64
             * @description Whole seconds 1 to 300; default 30.
             */
            timeout?: number | null;
        };
        /** @description One entry of `GET /api/sessions/{id}/files`. */
        FileInfo: {
            /** @description The path, relative to the workspace. */
            path: string;
            /**
             * Format: uint64
             * @description Its size in bytes (0 for a link).
             */
            size: number;
            /**
             * Format: date-time
             * @description When it was last stored: by an upload, a run that changed it or a duplicate.
             */
            uploaded: string | null;
        };
        /** @description `GET /api/sessions/{id}/files`: every file and link, sorted by path. */
        FileList: {
            /**
             * Format: uint64
             * @description Entries listed.
             */
            count: number;
            /** @description The entries. */
            files: components["schemas"]["FileInfo"][];
        };
        /** @description `GET /health`: the Worker is up. */
        Health: {
            /**
             * @description Always `ok`.
             * @constant
             */
            status: "ok";
            /** @description The Worker crate's version. */
            version: string;
        };
        /** @description What ended a run early: the limit it hit. */
        Limit: "timeout" | "memory" | "processes" | "output" | "disk" | "cancelled";
        /** @description npm's part of a setup: specs, or the text of a package.json. */
        NpmSetup: string[] | {
            /** @description The file's text (at most 64 KiB): an object whose dependency maps hold version strings. */
            packageJson: string;
        };
        /**
         * @description The data of a streamed run's `stdout` and `stderr` events: output as it was written, cut on
         *     character boundaries.
         */
        OutputEvent: {
            /** @description The chunk's text. */
            data: string;
        };
        /**
         * @description `PATCH /api/sessions/{id}` body: absent fields stay as they are; other fields of the session
         *     object (`language`, `persistent`, `data`, …) are a 400.
         */
        PatchSessionRequest: {
            /** @description ERA's name for `allow_internet`. */
            allowInternetAccess?: boolean | null;
            /** @description Applies to runs started after the answer. */
            allow_internet?: boolean | null;
            /**
             * @description Whole seconds 1 to 300; `null` unsets it (runs without a timeout get 30).
             * @default null
             */
            default_timeout: number | null;
            /** @description Replaces the metadata whole (at most 16 KiB serialized). */
            metadata?: {
                [key: string]: unknown;
            } | null;
        };
        /** @description pip's part of a setup: specs, or the text of a requirements file. */
        PipSetup: string[] | {
            /** @description The file's text (at most 64 KiB). */
            requirements: string;
        };
        /** @description The answer of the seed-compatible plugin endpoint `POST /?session=`. */
        PluginAnswer: {
            /** @description A context run only: the id of the context it ran in. */
            context?: string;
            /**
             * Format: double
             * @description As in the run answer.
             */
            cpu_ms?: number;
            /**
             * Format: double
             * @description As in the run answer.
             */
            duration_ms: number;
            /** @description Only when `success` is false: why, then `: <last non-empty stderr line>` if there is one. */
            error?: string;
            /**
             * Format: int32
             * @description As in the run answer.
             */
            exit_code: number;
            /** @description As in the run answer. */
            killed_by: components["schemas"]["Limit"] | null;
            /** @description Installer output and runtime notices, then stderr, one line each. */
            logs: string[];
            /**
             * @description A context run: the context's variables its checkpoint cannot hold (a socket, a
             *     generator), or after a restore those that were not restored.
             */
            lost?: string[];
            /** @description stdout. */
            output: string;
            /** @description A context run only: rich forms of that value and the figures the run drew. */
            outputs?: components["schemas"]["RichOutput"][];
            /**
             * Format: uint64
             * @description As in the run answer.
             */
            peak_memory_bytes?: number;
            /** @description With `restored: false`: why the checkpoint could not be loaded (the context started empty). */
            restore_error?: string;
            /**
             * @description A context run that started its interpreter over the context's checkpoint (after the
             *     sandbox was recycled, the interpreter was killed or stopped idle): whether it was loaded.
             */
            restored?: boolean;
            /**
             * @description A context run only: the text form of the value of the code's final expression (Python's
             *     `repr`, Node's `util.inspect`); absent when it had none.
             */
            result?: string;
            /** @description This run's id, as in the run answer. */
            run_id: string;
            /** @description As in the run answer. */
            signal: string | null;
            /** @description `exit_code == 0` and `killed_by == null`. */
            success: boolean;
            /** @description As in the run answer. */
            timed_out: boolean;
            /** @description As in the run answer. */
            truncated: boolean;
        };
        /** @description The `payload` of a plugin call. */
        PluginPayload: {
            /** @description The program (at most 1 MiB, else 413). */
            code: string;
            /** @description Environment variables added last. */
            env?: {
                [key: string]: string;
            } | null;
            /**
             * @description `true`: a fresh process, as before contexts; otherwise `python` and `node` run in the
             *     session's default context of that language (created on first use), so that variables
             *     stay from one call to the next. Other plugins always run fresh.
             */
            fresh?: boolean | null;
            /** @description Packages installed with the plugin's installer first (none for bash: 400). */
            requirements?: string[] | null;
            /** @description Fed to the program's standard input. */
            stdin?: string | null;
            /**
             * Format: uint64
             * @description Whole seconds, installs included; default 30.
             */
            timeout?: number | null;
        };
        /** @description `POST /?session={id}` body. */
        PluginRequest: {
            /** @description What to run. */
            payload: components["schemas"]["PluginPayload"];
            /**
             * @description The language to run in: a canonical name or an alias.
             * @enum {string}
             */
            plugin: "bash" | "deno" | "go" | "golang" | "javascript" | "js" | "node" | "py" | "python" | "python3" | "sh" | "shell" | "ts" | "typescript";
        };
        /** @description A signed, expiring address of a session's port. */
        PortUrl: {
            /**
             * Format: date-time
             * @description When it stops working (RFC 3339).
             */
            expires_at: string;
            /**
             * Format: uint64
             * @description The port it reaches.
             */
            port: number;
            /** @description The address: works without the API token until `expires_at`, for this session and port only. */
            url: string;
        };
        /** @description `POST /api/sessions/{id}/ports/{port}/url` body (may be empty). */
        PortUrlRequest: {
            /**
             * Format: uint64
             * @description Seconds the address works, 1 to 86400 (default 3600).
             * @default null
             */
            expires_in: number | null;
        };
        /** @description A background process of a session. */
        ProcessInfo: {
            /** @description The command line it runs. */
            command: string;
            /** @description When it was seen ended (RFC 3339), or `null` while it runs. */
            ended_at: string | null;
            /**
             * Format: int64
             * @description Its exit code once it ended (`128 + n` after signal `n`), else `null`.
             */
            exit_code: number | null;
            /** @description `proc_` and 24 hex digits. */
            id: string;
            /** @description What ended it, when something did; else `null`. */
            killed_by: components["schemas"]["ProcessKilledBy"] | null;
            /**
             * Format: uint64
             * @description Its lifetime bound.
             */
            max_seconds: number;
            /** @description Whether it is started again when the session's sandbox comes back without it. */
            restart: components["schemas"]["ProcessRestart"];
            /**
             * Format: uint64
             * @description Times it was started again (same id).
             */
            restarts: number;
            /**
             * Format: date-time
             * @description When it started (RFC 3339).
             */
            started_at: string;
            status: components["schemas"]["ProcessStatus"];
        };
        /** @description `POST /api/sessions/{id}/processes/{proc}/stdin` body. */
        ProcessInput: {
            /**
             * @description Text written to its standard input, at most 1 MiB.
             * @default
             */
            data: string;
            /**
             * @description Close its standard input after `data`.
             * @default false
             */
            eof: boolean;
        };
        /** @description What ended a background process that did not exit on its own. */
        ProcessKilledBy: "deleted" | "timeout" | "memory" | "processes";
        /** @description `GET /api/sessions/{id}/processes`. */
        ProcessList: {
            /** @description Oldest first. */
            processes: components["schemas"]["ProcessInfo"][];
        };
        /** @description `GET /api/sessions/{id}/processes/{proc}/logs`: the last of each stream. */
        ProcessLogs: {
            /** @description The process when its logs were read. */
            process: components["schemas"]["ProcessInfo"];
            /** @description The newest bytes of its standard error. */
            stderr: string;
            /**
             * Format: uint64
             * @description Bytes of standard error that came before those kept.
             */
            stderr_dropped: number;
            /**
             * @description The newest bytes of its standard output (at most the ring's size, 1 MiB by default), as
             *     text with invalid UTF-8 replaced.
             */
            stdout: string;
            /**
             * Format: uint64
             * @description Bytes of standard output that came before those kept.
             */
            stdout_dropped: number;
        };
        /** @description When a background process is started again. */
        ProcessRestart: "never" | "on-wake";
        /** @description A background process's state. */
        ProcessStatus: "running" | "exited" | "killed" | "lost";
        /** @description A rich value of a context run (a figure, an HTML table). */
        RichOutput: {
            /** @description Base64 for `image/png`; the text itself for text types. */
            data: string;
            /** @description Its media type: `image/png`, `text/html`, `image/svg+xml`. */
            mime: string;
        };
        /** @description One entry of a session's run history. */
        RunEntry: {
            /**
             * Format: double
             * @description Its duration in milliseconds.
             */
            duration_ms: number;
            /**
             * Format: int64
             * @description Its exit status.
             */
            exit_code: number;
            /** @description The limit that ended it, or `null`. */
            killed_by: ("timeout" | "memory" | "processes" | "output" | "disk" | "cancelled") | null;
            /**
             * @description The language it ran in (for plugin calls, the plugin's).
             * @enum {string}
             */
            language: "python" | "node" | "typescript" | "go" | "deno" | "bash";
            /**
             * @description Its run id (`null` for runs recorded before run ids existed); the answer of one of the
             *     last 20 runs is at `GET /api/sessions/{id}/runs/{run_id}`.
             */
            run_id: string | null;
            /**
             * Format: date-time
             * @description When the run started (RFC 3339).
             */
            started_at: string;
        };
        /** @description `GET /api/sessions/{id}/runs`: the latest counted runs, newest first. */
        RunList: {
            /**
             * Format: uint64
             * @description Entries answered.
             */
            count: number;
            /** @description The runs. */
            runs: components["schemas"]["RunEntry"][];
        };
        /** @description `POST /api/sessions/{id}/run` body (the session's language is used). */
        RunRequest: {
            /**
             * @description The program (at most 1 MiB, else 413); absent: the session's stored code (422 when it
             *     has none).
             */
            code?: string | null;
            /**
             * @description Run in this live context of the session (`POST …/contexts` made it; 404 unknown): the
             *     code runs in the context's interpreter, whose variables stay for its next run.
             */
            context?: string | null;
            /** @description Environment variables added last (names non-empty without `=` or NUL, values strings). */
            env?: {
                [key: string]: string;
            } | null;
            /** @description Fed to the program's standard input. */
            stdin?: string | null;
            /**
             * Format: uint64
             * @description Whole seconds 1 to 300 (400 out of range or fractional, 422 if not a number); default:
             *     the session's `default_timeout`, else 30.
             */
            timeout?: number | null;
        };
        /** @description The run answer of `POST /api/sessions/{id}/run` and `POST /api/execute` (ERA-compatible). */
        RunResponse: {
            /** @description A context run only: the id of the context it ran in. */
            context?: string;
            /**
             * Format: double
             * @description CPU time (user + system) the run's processes used, installs included, in milliseconds:
             *     from the run's cgroup in cgroup mode; in the uid and tag modes the kernel's account of
             *     each step's main process and the children it waited for (best effort). A context run
             *     counts its interpreter's use during the run.
             */
            cpu_ms?: number;
            /** @description The session's data after the run. */
            data: {
                [key: string]: unknown;
            };
            /** @description The duration in Go's `time.Duration` form (`15.31525ms`, `1.2s`, `2m3s`). */
            duration: string;
            /**
             * Format: double
             * @description The same in milliseconds.
             */
            duration_ms: number;
            /**
             * Format: int32
             * @description The program's exit status (128 + n after signal n; 137 when a limit ended the run; 127 when
             *     it could not start; 126 when the workspace kept it from being prepared).
             */
            exit_code: number;
            /** @description The limit that ended the run; `null` if none did. */
            killed_by: components["schemas"]["Limit"] | null;
            /**
             * @description A context run: the context's variables its checkpoint cannot hold (a socket, a
             *     generator), or after a restore those that were not restored.
             */
            lost?: string[];
            /** @description A context run only: rich forms of that value and the figures the run drew. */
            outputs?: components["schemas"]["RichOutput"][];
            /**
             * Format: uint64
             * @description The most memory the run held at once, in bytes: the peak charge of its memory cgroup
             *     (page cache included) in cgroup mode; in the uid and tag modes the largest resident set
             *     of a step's main process or a child it waited for (best effort). A context run: the
             *     interpreter's peak during the run, where it can be reset for the run, else absent.
             */
            peak_memory_bytes?: number;
            /** @description With `restored: false`: why the checkpoint could not be loaded (the context started empty). */
            restore_error?: string;
            /**
             * @description A context run that started its interpreter over the context's checkpoint (after the
             *     sandbox was recycled, the interpreter was killed or stopped idle): whether it was loaded.
             */
            restored?: boolean;
            /**
             * @description A context run only: the text form of the value of the code's final expression (Python's
             *     `repr`, Node's `util.inspect`); absent when it had none.
             */
            result?: string;
            /** @description This run's id: `GET /api/sessions/{id}/runs/{run_id}` answers this answer again. */
            run_id: string;
            /** @description The session's id; absent on `/api/execute`. */
            session_id?: string;
            /**
             * @description The signal that ended it, by name (`SIGKILL`, `SIG<n>` for unnamed ones); `null` after a
             *     normal exit.
             */
            signal: string | null;
            /** @description Standard error, up to its cap, followed by runtime notices (`[edgerun] …` lines). */
            stderr: string;
            /** @description Standard output, up to its cap. */
            stdout: string;
            /** @description `killed_by == "timeout"`. */
            timed_out: boolean;
            /** @description stdout or stderr reached its cap. */
            truncated: boolean;
        };
        /** @description The data of a streamed run's first event, `run`: its id, to fetch its answer if the stream drops. */
        RunStartedEvent: {
            /** @description As in the run answer. */
            run_id: string;
        };
        /** @description The session object: answered by create, get, setup and duplicate. */
        Session: {
            /**
             * @description Whether runs reach beyond the session's own loopback (setup's installers always reach
             *     their registries).
             */
            allow_internet: boolean;
            /**
             * Format: date-time
             * @description When the session was created (RFC 3339, UTC, milliseconds).
             */
            created_at: string;
            /** @description The session's data, carried from run to run through `.session_data.json`. */
            data: {
                [key: string]: unknown;
            };
            /** @description The timeout of runs that give none, in seconds; `null`: 30. */
            default_timeout: number | null;
            /**
             * Format: uint64
             * @description Entries the files API lists.
             */
            file_count: number;
            /** @description The session id: 1 to 64 of `A-Z a-z 0-9 _ -`. */
            id: string;
            /**
             * @description The session's language, by its canonical name.
             * @enum {string}
             */
            language: "python" | "node" | "typescript" | "go" | "deno" | "bash";
            /**
             * Format: date-time
             * @description End of the last counted run; `null` before the first.
             */
            last_run_at: string | null;
            /** @description Stored as given at create (or replaced whole by `PATCH`), never interpreted. */
            metadata: {
                [key: string]: unknown;
            };
            /** @description `false`: each run's changes to the workspace are discarded. */
            persistent: boolean;
            /**
             * Format: uint64
             * @description Counted runs: `/run` and plugin calls (setups and refused or failed requests do not count).
             */
            run_count: number;
            /** @description The tail (16 KiB) of the last setup's output; `""` without setup. */
            setup_log: string;
            /**
             * @description `none`, `pending`, `running`, `completed` or `failed`.
             * @enum {string}
             */
            setup_status: "none" | "pending" | "running" | "completed" | "failed";
            /**
             * Format: uint64
             * @description Sum of their sizes, in bytes.
             */
            total_size_bytes: number;
        };
        /** @description `GET /api/sessions`: a page of sessions, newest first. */
        SessionList: {
            /**
             * Format: uint64
             * @description Entries in this page (not the total).
             */
            count: number;
            /** @description Pass it back as `?cursor=` for the next page; `null` on the last page. */
            cursor: string | null;
            /** @description This page. */
            sessions: components["schemas"]["SessionSummary"][];
        };
        /** @description One entry of `GET /api/sessions`. */
        SessionSummary: {
            /**
             * Format: date-time
             * @description When it was created (RFC 3339).
             */
            created_at: string;
            /** @description The session id. */
            id: string;
            /**
             * @description Its language, by its canonical name.
             * @enum {string}
             */
            language: "python" | "node" | "typescript" | "go" | "deno" | "bash";
            /**
             * Format: date-time
             * @description Its last run, refreshed at the first run and then at most every 30 s; `null` before it.
             */
            last_run_at: string | null;
        };
        /** @description What a setup installs and runs. */
        Setup: {
            /** @description Shell commands run in the workspace one after another (no NUL). */
            commands?: string[] | null;
            /** @description Go modules. */
            go?: string[] | null;
            /** @description Packages for npm. */
            npm?: components["schemas"]["NpmSetup"] | null;
            /** @description Packages for pip. */
            pip?: components["schemas"]["PipSetup"] | null;
        };
        /** @description `POST /api/sessions/{id}/setup` body. */
        SetupRequest: {
            /** @description The new setup (required: 422 without it). */
            setup: components["schemas"]["Setup"];
        };
        /** @description `POST /api/sessions/{id}/processes` body. */
        StartProcessRequest: {
            /** @description A bash command line (run with `bash -c` in the workspace), at most 1 MiB. */
            command: string;
            /**
             * @description Variables added to the process's environment.
             * @default {}
             */
            env: {
                [key: string]: string;
            };
            /**
             * Format: uint64
             * @description Its lifetime bound in seconds (default and maximum per deployment: 3600 and 86400 unless
             *     `PROCESS_DEFAULT_SECONDS` and `PROCESS_MAX_SECONDS` say otherwise).
             * @default null
             */
            max_seconds: number | null;
            /**
             * @description `never` (default) or `on-wake`: started again when the session's sandbox comes back without it.
             * @default null
             */
            restart: components["schemas"]["ProcessRestart"] | null;
        };
        /** @description `PUT /api/sessions/{id}/code` body. */
        StoreCodeRequest: {
            /** @description The code (at most 1 MiB) that runs without `code` will run. */
            code: string;
            /** @description Free text for people (at most 4 KiB). */
            description?: string | null;
        };
        /** @description `GET /api/sessions/{id}/runs/{run_id}`: the answer the run gave, as its route gave it. */
        StoredAnswer: components["schemas"]["RunResponse"] | components["schemas"]["PluginAnswer"];
        /** @description `GET /api/sessions/{id}/code`: the session's stored code. */
        StoredCode: {
            /** @description The code a run without `code` runs. */
            code: string;
            /**
             * Format: uint64
             * @description Length of `code` in bytes.
             */
            code_length: number;
            /** @description As given; `""` when none was. */
            description: string;
            /**
             * Format: date-time
             * @description When it was stored (RFC 3339).
             */
            updated_at: string;
        };
        /** @description `PUT /api/sessions/{id}/files/{path}`: the file was stored. */
        Uploaded: {
            /** @description The stored path. */
            path: string;
            /**
             * Format: uint64
             * @description Its size in bytes.
             */
            size: number;
        };
    };
    responses: {
        /** @description A bad value (`bad_request`) or a body that is not JSON (`invalid_json`). */
        Error400: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"] & {
                    /** @enum {string} */
                    code?: "bad_request" | "invalid_json";
                };
            };
        };
        /** @description `API_TOKEN` is set and the bearer token is missing or wrong. */
        Error401: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"] & {
                    /** @enum {string} */
                    code?: "unauthorized";
                };
            };
        };
        /** @description Open API (no `API_TOKEN`): a cross-site `Origin`. */
        Error403: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"] & {
                    /** @enum {string} */
                    code?: "forbidden";
                };
            };
        };
        /** @description No such route, session or file. */
        Error404: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"] & {
                    /** @enum {string} */
                    code?: "not_found";
                };
            };
        };
        /** @description A known path with another method; the message names the allowed ones. */
        Error405: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"] & {
                    /** @enum {string} */
                    code?: "method_not_allowed";
                };
            };
        };
        /** @description A conflict with the session's state (`conflict`), or the sandbox lost the workspace twice (`workspace_stale`): retry. */
        Error409: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"] & {
                    /** @enum {string} */
                    code?: "conflict" | "workspace_stale";
                };
            };
        };
        /** @description A body, `code`, `data`, `metadata`, file or workspace over its limit. */
        Error413: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"] & {
                    /** @enum {string} */
                    code?: "too_large";
                };
            };
        };
        /** @description A JSON route got a body not declared `application/json`. */
        Error415: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"] & {
                    /** @enum {string} */
                    code?: "unsupported_media_type";
                };
            };
        };
        /** @description Valid JSON, but not an object, or a field missing or of the wrong type. */
        Error422: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"] & {
                    /** @enum {string} */
                    code?: "invalid_field";
                };
            };
        };
        /** @description 16 runs already wait on this session; retry later. */
        Error429: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"] & {
                    /** @enum {string} */
                    code?: "too_many_runs";
                };
            };
        };
        /** @description Storage failed; nothing of the request was kept. */
        Error500: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"] & {
                    /** @enum {string} */
                    code?: "internal";
                };
            };
        };
        /** @description The sandbox's answer was refused; nothing was kept. */
        Error502: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"] & {
                    /** @enum {string} */
                    code?: "sandbox_failed";
                };
            };
        };
        /** @description No sandbox answered; nothing was kept. */
        Error503: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"] & {
                    /** @enum {string} */
                    code?: "sandbox_unavailable";
                };
            };
        };
    };
    parameters: {
        /** @description The rest of the URL's path, passed to the app as it was sent (with the query); `…/ports/{port}/` is the app's `/`. */
        AppPath: string;
        /** @description A context id from `POST …/contexts` (`id`). */
        ContextId: string;
        /** @description The rest of the URL after `/files/`: a relative, `/`-separated path, percent-decoded once (`a%2Fb` is `a/b`). It may span several segments. */
        FilePath: string;
        /** @description A port the session's app listens on, inside the session's network namespace. */
        Port: number;
        /** @description A process id from `POST …/processes` (`id`). */
        ProcessId: string;
        /** @description A run id from a run answer (`run_id`). */
        RunId: string;
        /** @description The session id (percent-decoded once). */
        SessionId: string;
    };
    requestBodies: never;
    headers: never;
    pathItems: never;
}
export type $defs = Record<string, never>;
export interface operations {
    playground: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The file. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "text/html": string;
                };
            };
        };
    };
    plugin: {
        parameters: {
            query: {
                /** @description The session id; the session is created on first use. */
                session: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["PluginRequest"];
            };
        };
        responses: {
            /** @description OK. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["PluginAnswer"];
                    "text/event-stream": string;
                };
            };
            400: components["responses"]["Error400"];
            401: components["responses"]["Error401"];
            403: components["responses"]["Error403"];
            409: components["responses"]["Error409"];
            413: components["responses"]["Error413"];
            415: components["responses"]["Error415"];
            422: components["responses"]["Error422"];
            429: components["responses"]["Error429"];
            500: components["responses"]["Error500"];
            502: components["responses"]["Error502"];
            503: components["responses"]["Error503"];
        };
    };
    execute: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["ExecuteRequest"];
            };
        };
        responses: {
            /** @description OK. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["RunResponse"];
                    "text/event-stream": string;
                };
            };
            400: components["responses"]["Error400"];
            401: components["responses"]["Error401"];
            403: components["responses"]["Error403"];
            409: components["responses"]["Error409"];
            413: components["responses"]["Error413"];
            415: components["responses"]["Error415"];
            422: components["responses"]["Error422"];
            429: components["responses"]["Error429"];
            500: components["responses"]["Error500"];
            502: components["responses"]["Error502"];
            503: components["responses"]["Error503"];
        };
    };
    listSessions: {
        parameters: {
            query?: {
                /** @description Entries per page (a whole number). */
                limit?: number;
                /** @description The `cursor` of the previous page. */
                cursor?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description OK. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["SessionList"];
                };
            };
            400: components["responses"]["Error400"];
            401: components["responses"]["Error401"];
            403: components["responses"]["Error403"];
            500: components["responses"]["Error500"];
        };
    };
    createSession: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["CreateSessionRequest"];
            };
        };
        responses: {
            /** @description Created. */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Session"];
                };
            };
            400: components["responses"]["Error400"];
            401: components["responses"]["Error401"];
            403: components["responses"]["Error403"];
            409: components["responses"]["Error409"];
            413: components["responses"]["Error413"];
            415: components["responses"]["Error415"];
            422: components["responses"]["Error422"];
            500: components["responses"]["Error500"];
        };
    };
    deleteAllSessions: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description OK. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["DeletedAll"];
                };
            };
            400: components["responses"]["Error400"];
            401: components["responses"]["Error401"];
            403: components["responses"]["Error403"];
            500: components["responses"]["Error500"];
        };
    };
    getSession: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The session id (percent-decoded once). */
                id: components["parameters"]["SessionId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description OK. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Session"];
                };
            };
            400: components["responses"]["Error400"];
            401: components["responses"]["Error401"];
            403: components["responses"]["Error403"];
            404: components["responses"]["Error404"];
            500: components["responses"]["Error500"];
        };
    };
    deleteSession: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The session id (percent-decoded once). */
                id: components["parameters"]["SessionId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description OK. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Deleted"];
                };
            };
            400: components["responses"]["Error400"];
            401: components["responses"]["Error401"];
            403: components["responses"]["Error403"];
            404: components["responses"]["Error404"];
            500: components["responses"]["Error500"];
        };
    };
    patchSession: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The session id (percent-decoded once). */
                id: components["parameters"]["SessionId"];
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["PatchSessionRequest"];
            };
        };
        responses: {
            /** @description OK. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Session"];
                };
            };
            400: components["responses"]["Error400"];
            401: components["responses"]["Error401"];
            403: components["responses"]["Error403"];
            404: components["responses"]["Error404"];
            413: components["responses"]["Error413"];
            415: components["responses"]["Error415"];
            422: components["responses"]["Error422"];
            500: components["responses"]["Error500"];
        };
    };
    cancel: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The session id (percent-decoded once). */
                id: components["parameters"]["SessionId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description OK. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Cancelled"];
                };
            };
            400: components["responses"]["Error400"];
            401: components["responses"]["Error401"];
            403: components["responses"]["Error403"];
            404: components["responses"]["Error404"];
            409: components["responses"]["Error409"];
            500: components["responses"]["Error500"];
            502: components["responses"]["Error502"];
            503: components["responses"]["Error503"];
        };
    };
    getCode: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The session id (percent-decoded once). */
                id: components["parameters"]["SessionId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description OK. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["StoredCode"];
                };
            };
            400: components["responses"]["Error400"];
            401: components["responses"]["Error401"];
            403: components["responses"]["Error403"];
            404: components["responses"]["Error404"];
            500: components["responses"]["Error500"];
        };
    };
    putCode: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The session id (percent-decoded once). */
                id: components["parameters"]["SessionId"];
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["StoreCodeRequest"];
            };
        };
        responses: {
            /** @description OK. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["StoredCode"];
                };
            };
            400: components["responses"]["Error400"];
            401: components["responses"]["Error401"];
            403: components["responses"]["Error403"];
            404: components["responses"]["Error404"];
            413: components["responses"]["Error413"];
            415: components["responses"]["Error415"];
            422: components["responses"]["Error422"];
            500: components["responses"]["Error500"];
        };
    };
    listContexts: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The session id (percent-decoded once). */
                id: components["parameters"]["SessionId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description OK. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ContextList"];
                };
            };
            400: components["responses"]["Error400"];
            401: components["responses"]["Error401"];
            403: components["responses"]["Error403"];
            404: components["responses"]["Error404"];
            500: components["responses"]["Error500"];
        };
    };
    createContext: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The session id (percent-decoded once). */
                id: components["parameters"]["SessionId"];
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["CreateContextRequest"];
            };
        };
        responses: {
            /** @description Created. */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ContextInfo"];
                };
            };
            400: components["responses"]["Error400"];
            401: components["responses"]["Error401"];
            403: components["responses"]["Error403"];
            404: components["responses"]["Error404"];
            409: components["responses"]["Error409"];
            413: components["responses"]["Error413"];
            415: components["responses"]["Error415"];
            422: components["responses"]["Error422"];
            500: components["responses"]["Error500"];
        };
    };
    deleteContext: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The session id (percent-decoded once). */
                id: components["parameters"]["SessionId"];
                /** @description A context id from `POST …/contexts` (`id`). */
                ctx: components["parameters"]["ContextId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description OK. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ContextDeleted"];
                };
            };
            400: components["responses"]["Error400"];
            401: components["responses"]["Error401"];
            403: components["responses"]["Error403"];
            404: components["responses"]["Error404"];
            500: components["responses"]["Error500"];
        };
    };
    duplicate: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The session id (percent-decoded once). */
                id: components["parameters"]["SessionId"];
            };
            cookie?: never;
        };
        /** @description May be empty (no `content-type` needed then). */
        requestBody?: {
            content: {
                "application/json": components["schemas"]["DuplicateRequest"];
            };
        };
        responses: {
            /** @description Created. */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Session"];
                };
            };
            400: components["responses"]["Error400"];
            401: components["responses"]["Error401"];
            403: components["responses"]["Error403"];
            404: components["responses"]["Error404"];
            409: components["responses"]["Error409"];
            413: components["responses"]["Error413"];
            415: components["responses"]["Error415"];
            422: components["responses"]["Error422"];
            500: components["responses"]["Error500"];
        };
    };
    listFiles: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The session id (percent-decoded once). */
                id: components["parameters"]["SessionId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description OK. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["FileList"];
                };
            };
            400: components["responses"]["Error400"];
            401: components["responses"]["Error401"];
            403: components["responses"]["Error403"];
            404: components["responses"]["Error404"];
            500: components["responses"]["Error500"];
        };
    };
    getFile: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The session id (percent-decoded once). */
                id: components["parameters"]["SessionId"];
                /** @description The rest of the URL after `/files/`: a relative, `/`-separated path, percent-decoded once (`a%2Fb` is `a/b`). It may span several segments. */
                path: components["parameters"]["FilePath"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The file's exact bytes, streamed. The content type is guessed from the name; the answer carries `x-content-type-options: nosniff` and `content-security-policy: sandbox`, and all but inert types an attachment `content-disposition`. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/octet-stream": string;
                };
            };
            400: components["responses"]["Error400"];
            401: components["responses"]["Error401"];
            403: components["responses"]["Error403"];
            404: components["responses"]["Error404"];
            500: components["responses"]["Error500"];
        };
    };
    putFile: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The session id (percent-decoded once). */
                id: components["parameters"]["SessionId"];
                /** @description The rest of the URL after `/files/`: a relative, `/`-separated path, percent-decoded once (`a%2Fb` is `a/b`). It may span several segments. */
                path: components["parameters"]["FilePath"];
            };
            cookie?: never;
        };
        /** @description The file's exact bytes, at most 100 MiB; any content type (it is ignored). */
        requestBody: {
            content: {
                "application/octet-stream": string;
            };
        };
        responses: {
            /** @description OK. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Uploaded"];
                };
            };
            400: components["responses"]["Error400"];
            401: components["responses"]["Error401"];
            403: components["responses"]["Error403"];
            404: components["responses"]["Error404"];
            409: components["responses"]["Error409"];
            413: components["responses"]["Error413"];
            500: components["responses"]["Error500"];
        };
    };
    deleteFile: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The session id (percent-decoded once). */
                id: components["parameters"]["SessionId"];
                /** @description The rest of the URL after `/files/`: a relative, `/`-separated path, percent-decoded once (`a%2Fb` is `a/b`). It may span several segments. */
                path: components["parameters"]["FilePath"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description OK. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Deleted"];
                };
            };
            400: components["responses"]["Error400"];
            401: components["responses"]["Error401"];
            403: components["responses"]["Error403"];
            404: components["responses"]["Error404"];
            500: components["responses"]["Error500"];
        };
    };
    portUrl: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The session id (percent-decoded once). */
                id: components["parameters"]["SessionId"];
                /** @description A port the session's app listens on, inside the session's network namespace. */
                port: components["parameters"]["Port"];
            };
            cookie?: never;
        };
        /** @description May be empty (no `content-type` needed then). */
        requestBody?: {
            content: {
                "application/json": components["schemas"]["PortUrlRequest"];
            };
        };
        responses: {
            /** @description Created. */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["PortUrl"];
                };
            };
            400: components["responses"]["Error400"];
            401: components["responses"]["Error401"];
            403: components["responses"]["Error403"];
            404: components["responses"]["Error404"];
            409: components["responses"]["Error409"];
            413: components["responses"]["Error413"];
            415: components["responses"]["Error415"];
            422: components["responses"]["Error422"];
            500: components["responses"]["Error500"];
        };
    };
    port: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The session id (percent-decoded once). */
                id: components["parameters"]["SessionId"];
                /** @description The rest of the URL's path, passed to the app as it was sent (with the query); `…/ports/{port}/` is the app's `/`. */
                app_path: components["parameters"]["AppPath"];
                /** @description A port the session's app listens on, inside the session's network namespace. */
                port: components["parameters"]["Port"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description What the app listening on the port answered, as it answered it: any status, headers and body (streamed). Errors of the route itself (no such session, a bad port, nothing listening: 502 within 1 s) are in the API's JSON error shape. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "*/*": string;
                };
            };
            400: components["responses"]["Error400"];
            401: components["responses"]["Error401"];
            403: components["responses"]["Error403"];
            404: components["responses"]["Error404"];
            502: components["responses"]["Error502"];
            503: components["responses"]["Error503"];
        };
    };
    listProcesses: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The session id (percent-decoded once). */
                id: components["parameters"]["SessionId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description OK. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ProcessList"];
                };
            };
            400: components["responses"]["Error400"];
            401: components["responses"]["Error401"];
            403: components["responses"]["Error403"];
            404: components["responses"]["Error404"];
            500: components["responses"]["Error500"];
            502: components["responses"]["Error502"];
            503: components["responses"]["Error503"];
        };
    };
    startProcess: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The session id (percent-decoded once). */
                id: components["parameters"]["SessionId"];
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["StartProcessRequest"];
            };
        };
        responses: {
            /** @description Created. */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ProcessInfo"];
                };
            };
            400: components["responses"]["Error400"];
            401: components["responses"]["Error401"];
            403: components["responses"]["Error403"];
            404: components["responses"]["Error404"];
            409: components["responses"]["Error409"];
            413: components["responses"]["Error413"];
            415: components["responses"]["Error415"];
            422: components["responses"]["Error422"];
            500: components["responses"]["Error500"];
            502: components["responses"]["Error502"];
            503: components["responses"]["Error503"];
        };
    };
    getProcess: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The session id (percent-decoded once). */
                id: components["parameters"]["SessionId"];
                /** @description A process id from `POST …/processes` (`id`). */
                proc: components["parameters"]["ProcessId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description OK. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ProcessInfo"];
                };
            };
            400: components["responses"]["Error400"];
            401: components["responses"]["Error401"];
            403: components["responses"]["Error403"];
            404: components["responses"]["Error404"];
            500: components["responses"]["Error500"];
            502: components["responses"]["Error502"];
            503: components["responses"]["Error503"];
        };
    };
    deleteProcess: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The session id (percent-decoded once). */
                id: components["parameters"]["SessionId"];
                /** @description A process id from `POST …/processes` (`id`). */
                proc: components["parameters"]["ProcessId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description OK. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ProcessInfo"];
                };
            };
            400: components["responses"]["Error400"];
            401: components["responses"]["Error401"];
            403: components["responses"]["Error403"];
            404: components["responses"]["Error404"];
            500: components["responses"]["Error500"];
            502: components["responses"]["Error502"];
            503: components["responses"]["Error503"];
        };
    };
    processLogs: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The session id (percent-decoded once). */
                id: components["parameters"]["SessionId"];
                /** @description A process id from `POST …/processes` (`id`). */
                proc: components["parameters"]["ProcessId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description OK. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ProcessLogs"];
                    "text/event-stream": string;
                };
            };
            400: components["responses"]["Error400"];
            401: components["responses"]["Error401"];
            403: components["responses"]["Error403"];
            404: components["responses"]["Error404"];
            409: components["responses"]["Error409"];
            500: components["responses"]["Error500"];
            502: components["responses"]["Error502"];
            503: components["responses"]["Error503"];
        };
    };
    processInput: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The session id (percent-decoded once). */
                id: components["parameters"]["SessionId"];
                /** @description A process id from `POST …/processes` (`id`). */
                proc: components["parameters"]["ProcessId"];
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["ProcessInput"];
            };
        };
        responses: {
            /** @description OK. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ProcessInfo"];
                };
            };
            400: components["responses"]["Error400"];
            401: components["responses"]["Error401"];
            403: components["responses"]["Error403"];
            404: components["responses"]["Error404"];
            409: components["responses"]["Error409"];
            413: components["responses"]["Error413"];
            415: components["responses"]["Error415"];
            422: components["responses"]["Error422"];
            500: components["responses"]["Error500"];
            502: components["responses"]["Error502"];
            503: components["responses"]["Error503"];
        };
    };
    run: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The session id (percent-decoded once). */
                id: components["parameters"]["SessionId"];
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["RunRequest"];
            };
        };
        responses: {
            /** @description OK. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["RunResponse"];
                    "text/event-stream": string;
                };
            };
            400: components["responses"]["Error400"];
            401: components["responses"]["Error401"];
            403: components["responses"]["Error403"];
            404: components["responses"]["Error404"];
            409: components["responses"]["Error409"];
            413: components["responses"]["Error413"];
            415: components["responses"]["Error415"];
            422: components["responses"]["Error422"];
            429: components["responses"]["Error429"];
            500: components["responses"]["Error500"];
            502: components["responses"]["Error502"];
            503: components["responses"]["Error503"];
        };
    };
    listRuns: {
        parameters: {
            query?: {
                /** @description Runs to answer (a whole number). */
                limit?: number;
            };
            header?: never;
            path: {
                /** @description The session id (percent-decoded once). */
                id: components["parameters"]["SessionId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description OK. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["RunList"];
                };
            };
            400: components["responses"]["Error400"];
            401: components["responses"]["Error401"];
            403: components["responses"]["Error403"];
            404: components["responses"]["Error404"];
            500: components["responses"]["Error500"];
        };
    };
    getRun: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The session id (percent-decoded once). */
                id: components["parameters"]["SessionId"];
                /** @description A run id from a run answer (`run_id`). */
                run_id: components["parameters"]["RunId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description OK. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["StoredAnswer"];
                };
            };
            400: components["responses"]["Error400"];
            401: components["responses"]["Error401"];
            403: components["responses"]["Error403"];
            404: components["responses"]["Error404"];
            500: components["responses"]["Error500"];
        };
    };
    getSetup: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The session id (percent-decoded once). */
                id: components["parameters"]["SessionId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description OK. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Session"];
                    "text/event-stream": string;
                };
            };
            400: components["responses"]["Error400"];
            401: components["responses"]["Error401"];
            403: components["responses"]["Error403"];
            404: components["responses"]["Error404"];
            500: components["responses"]["Error500"];
        };
    };
    setup: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The session id (percent-decoded once). */
                id: components["parameters"]["SessionId"];
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["SetupRequest"];
            };
        };
        responses: {
            /** @description Accepted: the setup is scheduled. */
            202: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Session"];
                };
            };
            400: components["responses"]["Error400"];
            401: components["responses"]["Error401"];
            403: components["responses"]["Error403"];
            404: components["responses"]["Error404"];
            413: components["responses"]["Error413"];
            415: components["responses"]["Error415"];
            422: components["responses"]["Error422"];
            500: components["responses"]["Error500"];
        };
    };
    streamRun: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The session id (percent-decoded once). */
                id: components["parameters"]["SessionId"];
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["RunRequest"];
            };
        };
        responses: {
            /** @description The run's events, as they happen. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "text/event-stream": string;
                };
            };
            400: components["responses"]["Error400"];
            401: components["responses"]["Error401"];
            403: components["responses"]["Error403"];
            404: components["responses"]["Error404"];
            409: components["responses"]["Error409"];
            413: components["responses"]["Error413"];
            415: components["responses"]["Error415"];
            422: components["responses"]["Error422"];
            429: components["responses"]["Error429"];
            500: components["responses"]["Error500"];
            502: components["responses"]["Error502"];
            503: components["responses"]["Error503"];
        };
    };
    health: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description OK. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Health"];
                };
            };
        };
    };
    mcp: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    id?: string | number;
                    /** @constant */
                    jsonrpc: "2.0";
                    method?: string;
                    params?: Record<string, never>;
                };
            };
        };
        responses: {
            /** @description The response to a request. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** @constant */
                        jsonrpc: "2.0";
                    };
                    "text/event-stream": string;
                };
            };
            /** @description A notification or a response was accepted; no body. */
            202: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            401: components["responses"]["Error401"];
            403: components["responses"]["Error403"];
            413: components["responses"]["Error413"];
            415: components["responses"]["Error415"];
        };
    };
    mcpEra: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    id?: string | number;
                    /** @constant */
                    jsonrpc: "2.0";
                    method?: string;
                    params?: Record<string, never>;
                };
            };
        };
        responses: {
            /** @description The response to a request. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** @constant */
                        jsonrpc: "2.0";
                    };
                    "text/event-stream": string;
                };
            };
            /** @description A notification or a response was accepted; no body. */
            202: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            401: components["responses"]["Error401"];
            403: components["responses"]["Error403"];
            413: components["responses"]["Error413"];
            415: components["responses"]["Error415"];
        };
    };
    openapi: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description This OpenAPI 3.1 document (the committed docs/openapi.json). */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        components: Record<string, never>;
                        info: Record<string, never>;
                        /** @constant */
                        openapi: "3.1.0";
                        paths: Record<string, never>;
                        security?: unknown[];
                        servers?: unknown[];
                        "x-unrouted"?: Record<string, never>;
                    };
                };
            };
        };
    };
    playgroundStyle: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The file. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "text/css": string;
                };
            };
        };
    };
    playgroundScript: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The file. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "text/javascript": string;
                };
            };
        };
    };
}

/**
 * The Server-Sent Events of each streamed operation (its `text/event-stream` answer's
 * `x-events`), by operation id and event name (`message` for unnamed events): the schema of
 * each event's `data`.
 */
export interface operationEvents {
    execute: {
        "error": components["schemas"]["Error"];
        "exit": components["schemas"]["RunResponse"];
        "log": components["schemas"]["OutputEvent"];
        "run": components["schemas"]["RunStartedEvent"];
        "stderr": components["schemas"]["OutputEvent"];
        "stdout": components["schemas"]["OutputEvent"];
    };
    getSetup: {
        "error": components["schemas"]["Error"];
        "exit": components["schemas"]["Session"];
        "log": components["schemas"]["OutputEvent"];
        "run": components["schemas"]["RunStartedEvent"];
        "stderr": components["schemas"]["OutputEvent"];
        "stdout": components["schemas"]["OutputEvent"];
    };
    plugin: {
        "error": components["schemas"]["Error"];
        "exit": components["schemas"]["PluginAnswer"];
        "log": components["schemas"]["OutputEvent"];
        "run": components["schemas"]["RunStartedEvent"];
        "stderr": components["schemas"]["OutputEvent"];
        "stdout": components["schemas"]["OutputEvent"];
    };
    processLogs: {
        "error": components["schemas"]["Error"];
        "exit": components["schemas"]["ProcessInfo"];
        "log": components["schemas"]["OutputEvent"];
        "run": components["schemas"]["RunStartedEvent"];
        "stderr": components["schemas"]["OutputEvent"];
        "stdout": components["schemas"]["OutputEvent"];
    };
    run: {
        "error": components["schemas"]["Error"];
        "exit": components["schemas"]["RunResponse"];
        "log": components["schemas"]["OutputEvent"];
        "run": components["schemas"]["RunStartedEvent"];
        "stderr": components["schemas"]["OutputEvent"];
        "stdout": components["schemas"]["OutputEvent"];
    };
    streamRun: {
        "message": components["schemas"]["EraStartEvent"] | components["schemas"]["EraOutputEvent"] | components["schemas"]["EraDoneEvent"] | components["schemas"]["EraErrorEvent"];
    };
}
