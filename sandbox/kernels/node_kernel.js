/* brig's JavaScript kernel: a session's live interpreter (worker/interp.h).
 *
 * Runs as the program of a live jail (sandbox/live.h), with
 * `node --expose-internals -e`: every cell of the session runs here, in
 * node's main context, with the REPL's semantics: top-level let, const,
 * class, function and var declarations persist from cell to cell, top-level
 * await works (node's own REPL rewriting, internal/repl/await, is why
 * internals are exposed: the jail, not this file, is the boundary), and the
 * value of the last expression is the cell's result, as util.inspect shows
 * it. The frames on descriptors 5 (from the worker) and 6 (to it) are
 * worker/interp_channel.h's, as python_kernel.py speaks them: a 4-byte
 * big-endian length, then one msgpack map (node has no msgpack: the little
 * this file needs is here, and it decodes strictly).
 *
 * console.log writes to the jail's stdout, synchronously (pipes are on
 * Linux), so it is out before "done". A SIGINT (the worker's interrupt)
 * stops the cell's synchronous code (breakOnSigint) or its wait on a
 * promise; code that spins after an await cannot be stopped from here, and
 * the worker kills the interpreter after its grace. A typescript session's
 * cells run here too, once esbuild has stripped their types. */
(function kernel() {
    'use strict';
    // Cells share the global object: what the kernel needs is its own,
    // whatever a cell assigns to these names.
    const { Array, BigInt, Error, Number, Object, Promise, String, SyntaxError } = globalThis;
    const { Buffer } = require('buffer');
    const { setInterval, clearInterval, setTimeout } = require('timers');
    const childProcess = require('child_process');
    const fs = require('fs');
    const util = require('util');
    const vm = require('vm');
    const { processTopLevelAwait } = require('internal/repl/await');

    // schema/bounds.h and worker/interp_channel.h.
    const FRAME_MAX = 4 << 20;
    const RESULT_MAX = 2 << 20;
    const EXCEPTION_NAME_MAX = 256;
    const EXCEPTION_VALUE_MAX = 64 << 10;
    const TRACEBACK_MAX = 256;
    const TRACEBACK_ENTRY_MAX = 16 << 10;

    /* The channel is the kernel's: reopened close-on-exec (node opens so),
     * programs a cell starts do not get it. */
    function reopen(fd, flags) {
        try {
            const copy = fs.openSync(`/proc/self/fd/${fd}`, flags);
            fs.closeSync(fd);
            return copy;
        } catch {
            return fd;
        }
    }
    const IN_FD = reopen(5, 'r');
    const OUT_FD = reopen(6, 'w');

    /* ---- msgpack: what the frames hold ---- */

    function encode(value, parts) {
        const head = (bytes) => parts.push(Buffer.from(bytes));
        // fix: the one-byte form below limit (none when null); codes: 8, 16, 32 bits.
        const sized = (len, fix, limit, codes) => {
            if (fix !== null && len < limit) head([fix | len]);
            else if (len < 0x100 && codes[0] !== null) head([codes[0], len]);
            else if (len < 0x10000) head([codes[1], len >> 8, len & 0xff]);
            else head([codes[2], len >>> 24, (len >> 16) & 0xff, (len >> 8) & 0xff, len & 0xff]);
        };
        if (typeof value === 'string') {
            const data = Buffer.from(value, 'utf8');
            sized(data.length, 0xa0, 32, [0xd9, 0xda, 0xdb]);
            parts.push(data);
        } else if (Buffer.isBuffer(value)) {
            sized(value.length, null, 0, [0xc4, 0xc5, 0xc6]);
            parts.push(value);
        } else if (Array.isArray(value)) {
            sized(value.length, 0x90, 16, [null, 0xdc, 0xdd]);
            for (const item of value) encode(item, parts);
        } else {
            const keys = Object.keys(value);
            sized(keys.length, 0x80, 16, [null, 0xde, 0xdf]);
            for (const key of keys) {
                encode(key, parts);
                encode(value[key], parts);
            }
        }
        return parts;
    }

    /* A map of string keys whose values are strings, uints or such maps;
     * anything else, or a byte left over, throws. */
    function decode(buf) {
        let at = 0;
        const need = (n) => {
            if (at + n > buf.length) throw new Error('frame cut short');
        };
        const uint = (n) => {
            need(n);
            let v = 0n;
            for (let i = 0; i < n; i++) v = (v << 8n) | BigInt(buf[at++]);
            return v;
        };
        const text = (len) => {
            need(len);
            const s = new util.TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(at, at + len));
            at += len;
            return s;
        };
        const value = () => {
            need(1);
            const b = buf[at++];
            if (b < 0x80) return b;
            if ((b & 0xf0) === 0x80) return map(b & 0x0f);
            if ((b & 0xe0) === 0xa0) return text(b & 0x1f);
            switch (b) {
            case 0xcc: case 0xcd: case 0xce: case 0xcf: {
                const v = uint(1 << (b - 0xcc));
                if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error('integer past 2^53');
                return Number(v);
            }
            case 0xd9: return text(Number(uint(1)));
            case 0xda: return text(Number(uint(2)));
            case 0xdb: return text(Number(uint(4)));
            case 0xde: return map(Number(uint(2)));
            case 0xdf: return map(Number(uint(4)));
            default: throw new Error(`msgpack type 0x${b.toString(16)} is not a frame's`);
            }
        };
        const map = (n) => {
            const out = Object.create(null);
            for (let i = 0; i < n; i++) {
                const key = value();
                if (typeof key !== 'string') throw new Error('a key that is not a string');
                out[key] = value();
            }
            return out;
        };
        need(1);
        if ((buf[0] & 0xf0) !== 0x80 && buf[0] !== 0xde && buf[0] !== 0xdf)
            throw new Error('a frame that is not a map');
        const frame = value();
        if (at !== buf.length) throw new Error('bytes after the frame');
        return frame;
    }

    /* ---- the channel ---- */

    const pause = new Int32Array(new SharedArrayBuffer(4));

    function writeAll(fd, data) {
        let off = 0;
        while (off < data.length) {
            try {
                off += fs.writeSync(fd, data, off, data.length - off);
            } catch (e) {
                if (e.code !== 'EAGAIN') throw e;
                Atomics.wait(pause, 0, 0, 1);
            }
        }
    }

    function send(frame) {
        let body = Buffer.concat(encode(frame, []));
        if (body.length > FRAME_MAX) body = Buffer.concat(encode({ t: 'dropped' }, []));
        const head = Buffer.alloc(4);
        head.writeUInt32BE(body.length);
        writeAll(OUT_FD, Buffer.concat([head, body]));
    }

    function readSome(buf, off) {
        return new Promise((resolve, reject) => {
            fs.read(IN_FD, buf, off, buf.length - off, null, (err, n) => {
                if (!err) resolve(n);
                else if (err.code === 'EAGAIN') setTimeout(() => resolve(-1), 5);
                else reject(err);
            });
        });
    }

    /* Read without blocking the event loop: timers a cell set run between
     * cells, as in a REPL. null at the end of the channel. */
    async function readExact(n) {
        const buf = Buffer.alloc(n);
        let off = 0;
        while (off < n) {
            const got = await readSome(buf, off);
            if (got === 0) return null;
            if (got > 0) off += got;
        }
        return buf;
    }

    async function nextRequest() {
        const head = await readExact(4);
        if (head === null) return null;
        const len = head.readUInt32BE(0);
        if (len === 0 || len > FRAME_MAX) throw new Error(`a frame of ${len} bytes`);
        const body = await readExact(len);
        return body === null ? null : decode(body);
    }

    /* ---- cells ---- */

    const cut = (text, limit) => {
        const data = Buffer.from(String(text), 'utf8');
        return data.length <= limit ? String(text) : data.subarray(0, limit).toString('utf8').replace(/\uFFFD$/, '');
    };

    let cell = null; // the running cell: {interrupt} while it waits on a promise

    // An interrupt while the kernel itself runs (esbuild, say) waits for the
    // cell's code: it is not lost.
    process.on('SIGINT', () => {
        if (cell && cell.interrupt) cell.interrupt();
        else if (cell) cell.pending = true;
    });
    // A callback a cell left behind throws later: the session lives on.
    process.on('uncaughtException', (e) => {
        try {
            fs.writeSync(2, `Uncaught ${util.inspect(e)}\n`);
        } catch {
            // Nowhere to say it.
        }
    });

    function sendError(e) {
        let name = 'Error', value, stack = [];
        try {
            if (e instanceof Error || (e && typeof e === 'object' && 'stack' in e)) {
                name = String(e.name);
                value = String(e.message);
                stack = String(e.stack).split('\n');
                // The frames below the cell are this file's.
                const own = stack.findIndex((line) => /^\s+at .*(node:vm:|\[eval\])/.test(line));
                if (own > 0) stack = stack.slice(0, own);
            } else {
                name = 'Uncaught';
                value = util.inspect(e);
                stack = [`Uncaught ${value}`];
            }
        } catch {
            value = '<an exception that cannot be shown>';
        }
        send({
            t: 'error',
            name: cut(name.split(/\s+/).join(' '), EXCEPTION_NAME_MAX) || 'Error',
            value: cut(value, EXCEPTION_VALUE_MAX),
            traceback: stack.slice(-TRACEBACK_MAX).map((line) => cut(line, TRACEBACK_ENTRY_MAX)),
        });
    }

    /* A typescript kernel (the argument after the source) strips each
     * cell's types as the typescript runtime does, with esbuild. */
    const typescript = process.argv[1] === 'typescript';

    function esbuild(source) {
        return childProcess.spawnSync('esbuild', ['--loader=ts', '--log-level=error', '--color=false'], {
            input: source,
            encoding: 'utf8',
            maxBuffer: FRAME_MAX,
        });
    }

    function transpile(code) {
        if (/^\s*{/.test(code) && /}\s*$/.test(code)) {
            const literal = esbuild(`(${code.trim()})`);
            if (literal.status === 0) return literal.stdout;
        }
        const out = esbuild(code);
        if (out.error) throw out.error;
        if (out.status === 0) return out.stdout;
        const lines = String(out.stderr).trim().split('\n');
        const e = new SyntaxError(lines[0].replace(/^\S*\s*\[ERROR\]\s*/, ''));
        e.stack = lines.join('\n');
        throw e;
    }

    /* The REPL's reading of a cell: an object literal is an expression, and
     * a cell with a top-level await is rewritten so that its declarations
     * still land in the global scope. */
    function compile(code, count) {
        const options = {
            filename: `<cell ${count}>`,
            importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
        };
        const tries = [];
        if (/^\s*{/.test(code) && /}\s*$/.test(code)) tries.push([`(${code.trim()})\n`, false]);
        if (code.includes('await')) {
            try {
                const wrapped = processTopLevelAwait(`${code}\n`);
                if (wrapped !== null) tries.push([wrapped, true]);
            } catch {
                // Not valid with await either: the plain compile says why.
            }
        }
        for (const [source, awaits] of tries) {
            try {
                return { script: new vm.Script(source, options), awaits };
            } catch {
                // The next reading.
            }
        }
        return { script: new vm.Script(code, options), awaits: false };
    }

    function interrupted() {
        const e = new Error('Script execution was interrupted by SIGINT');
        e.code = 'ERR_SCRIPT_EXECUTION_INTERRUPTED';
        return e;
    }

    async function run(request) {
        for (const [k, v] of Object.entries(request.env || {})) process.env[k] = String(v);
        let status = 'ok';
        cell = {};
        try {
            const code = typescript ? transpile(request.code) : request.code;
            const { script, awaits } = compile(code, request.count);
            if (cell.pending) throw interrupted();
            let value = script.runInThisContext({ breakOnSigint: true, displayErrors: false });
            if (awaits) {
                const stop = new Promise((_, reject) => {
                    cell.interrupt = () => reject(interrupted());
                    if (cell.pending) cell.interrupt();
                });
                // A promise nothing will settle leaves node's loop empty:
                // node would exit, where the cell is to wait for the limit.
                cell.alive = setInterval(() => {}, 1 << 30);
                const done = await Promise.race([value, stop]);
                value = done ? done.value : undefined;
            }
            if (value !== undefined) {
                const shown = cut(util.inspect(value), RESULT_MAX);
                send({ t: 'output', kind: 'result', data: { 'text/plain': shown } });
            }
        } catch (e) {
            status = e && e.code === 'ERR_SCRIPT_EXECUTION_INTERRUPTED' ? 'interrupted' : 'error';
            sendError(e);
        } finally {
            clearInterval(cell.alive);
            cell = null;
        }
        send({ t: 'done', status });
    }

    async function main() {
        send({ t: 'ready' });
        for (;;) {
            const request = await nextRequest();
            if (request === null) process.exit(0);
            if (request.t !== 'exec' || typeof request.code !== 'string') process.exit(2);
            await run(request);
        }
    }

    main().catch((e) => {
        fs.writeSync(2, `brig's JavaScript kernel: ${e.message}\n`);
        process.exit(2);
    });
})();
