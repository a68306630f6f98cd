/**
 * Puts one job's log chunks back in order. Kafka keeps a partition in order,
 * but a worker that retries a delivery, a job retried after a crash, or a
 * reader that starts mid-way can show a chunk twice, out of seq order, or
 * from an older attempt. Chunks come out per stream in seq order, each once,
 * and only for the newest attempt seen (a retried job's output starts over).
 * The same rules as the Python client's log_order.py.
 */
import type { LogChunk, Stream } from "./wire/messages.js";

/** Chunks held while waiting for a gap to fill; past this, the gap is taken
 * as lost and the stream moves on to the held chunks. */
export const MAX_HELD = 256;

const STREAMS: Stream[] = ["stdout", "stderr"];

interface StreamState {
    next: number;
    ended: boolean;
    held: Map<number, LogChunk>;
}

export class LogOrder {
    attempt = 0;
    private streams = this.fresh();

    private fresh(): Record<Stream, StreamState> {
        const state = () => ({ next: 0, ended: false, held: new Map<number, LogChunk>() });
        return { stdout: state(), stderr: state() };
    }

    /** The chunks now next in order, chunk included when it is. */
    feed(chunk: LogChunk): LogChunk[] {
        if (chunk.attempt < this.attempt) return [];
        if (chunk.attempt > this.attempt) {
            this.attempt = chunk.attempt;
            this.streams = this.fresh();
        }
        const s = this.streams[chunk.stream];
        if (chunk.seq < s.next || s.ended || s.held.has(chunk.seq)) return [];
        if (chunk.seq > s.next) {
            const held = STREAMS.reduce((n, name) => n + this.streams[name].held.size, 0);
            if (held < MAX_HELD) {
                s.held.set(chunk.seq, chunk);
                return [];
            }
            return [...this.flush(), ...this.feed(chunk)];
        }
        const ready = [this.deliver(chunk)];
        for (let next = s.held.get(s.next); next && !s.ended; next = s.held.get(s.next)) {
            s.held.delete(s.next);
            ready.push(this.deliver(next));
        }
        return ready;
    }

    private deliver(chunk: LogChunk): LogChunk {
        const s = this.streams[chunk.stream];
        s.next = chunk.seq + 1;
        if (chunk.eos) s.ended = true;
        return chunk;
    }

    /** Both streams of the newest attempt have ended. */
    get finished(): boolean {
        return this.attempt > 0 && STREAMS.every((name) => this.streams[name].ended);
    }

    /** Every held chunk, in order, skipping the gaps: for when no more chunks
     * will come. */
    flush(): LogChunk[] {
        const ready: LogChunk[] = [];
        for (const name of STREAMS) {
            const s = this.streams[name];
            for (const seq of [...s.held.keys()].sort((a, b) => a - b))
                if (!s.ended) ready.push(this.deliver(s.held.get(seq) as LogChunk));
            s.held.clear();
        }
        return ready;
    }
}
