"""Puts one job's log chunks back in order. Kafka keeps a partition in order,
but a worker that retries a delivery, a job retried after a crash, or a reader
that starts mid-way can show a chunk twice, out of seq order, or from an
older attempt. Chunks come out per stream in seq order, each once, and only
for the newest attempt seen (a retried job's output starts over)."""
from __future__ import annotations

from .messages import WireLogChunk

# Chunks held while waiting for a gap to fill; past this, the gap is taken as
# lost and the stream moves on to the held chunks.
MAX_HELD = 256

STREAMS = ("stdout", "stderr")


class LogOrder:
    def __init__(self) -> None:
        self.attempt = 0
        self._reset()

    def _reset(self) -> None:
        self.next_seq = {s: 0 for s in STREAMS}
        self.ended = {s: False for s in STREAMS}
        self.held: dict[str, dict[int, WireLogChunk]] = {s: {} for s in STREAMS}  # past a gap

    def feed(self, chunk: WireLogChunk) -> list[WireLogChunk]:
        """Takes a WireLogChunk; returns the chunks now next in order."""
        if chunk.attempt < self.attempt:
            return []
        if chunk.attempt > self.attempt:
            self.attempt = chunk.attempt
            self._reset()
        s = chunk.stream
        if chunk.seq < self.next_seq[s] or self.ended[s] or chunk.seq in self.held[s]:
            return []
        if chunk.seq > self.next_seq[s]:
            if sum(len(h) for h in self.held.values()) < MAX_HELD:
                self.held[s][chunk.seq] = chunk
                return []
            ready = self.flush()
            return ready + self.feed(chunk)
        ready = [self._deliver(chunk)]
        while self.next_seq[s] in self.held[s] and not self.ended[s]:
            ready.append(self._deliver(self.held[s].pop(self.next_seq[s])))
        return ready

    def _deliver(self, chunk: WireLogChunk) -> WireLogChunk:
        self.next_seq[chunk.stream] = chunk.seq + 1
        if chunk.eos:
            self.ended[chunk.stream] = True
        return chunk

    @property
    def finished(self) -> bool:
        """Both streams of the newest attempt have ended."""
        return self.attempt > 0 and all(self.ended.values())

    def flush(self) -> list[WireLogChunk]:
        """Every held chunk, in order, skipping the gaps: for when no more
        chunks will come."""
        ready = []
        for s in STREAMS:
            for seq in sorted(self.held[s]):
                if not self.ended[s]:
                    ready.append(self._deliver(self.held[s][seq]))
            self.held[s].clear()
        return ready
