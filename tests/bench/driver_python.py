"""The Python client for the agent-pace harness (agent_pace.py describes the
driver protocol): one long-lived brig.Client for the whole run, and for each
job line a Client.run as an agent's tool call makes it, timed from just
before the call until the Result is in hand on the monotonic clock.

Environment: BRIG_BROKERS and BRIG_TOPIC_PREFIX (default brig). The client
comes from this source tree (producer/python), as Debian's python3 runs it;
the same code is what `pip install ./producer/python` installs."""
import json
import os
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "producer" / "python"))

import brig  # noqa: E402

CALL_TIMEOUT_S = 120


def call(client, job):
    submitted_ms = time.time() * 1000
    start = time.monotonic()
    result = client.run(job["code"], job["runtime"], job_id=job["id"], timeout=CALL_TIMEOUT_S)
    client_ms = (time.monotonic() - start) * 1000
    return {"id": job["id"], "client_ms": client_ms,
            "wall_us": result.usage.wall_us if result.usage else None,
            "status": result.status, "submitted_ms": submitted_ms,
            "answered_ms": time.time() * 1000, "received_ms": result.received_ms,
            "started_ms": result.started_ms, "finished_ms": result.finished_ms}


def main():
    prefix = os.environ.get("BRIG_TOPIC_PREFIX") or "brig"
    with brig.Client(topic_prefix=prefix, client_id="bench-driver-python") as client:
        print(json.dumps({"ready": True}), flush=True)
        for line in sys.stdin:
            print(json.dumps(call(client, json.loads(line))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
