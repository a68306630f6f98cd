"""Finding the Kafka broker: given, else $BRIG_BROKERS, else the address an
embedded broker of a brig-worker on this host wrote to its state directory
(the same search as the worker's worker/state_file.c)."""
from __future__ import annotations

import os
from typing import Optional

from .errors import BrokerNotFound


def state_dir() -> str:
    """$BRIG_STATE_DIR, else $XDG_RUNTIME_DIR/brig for a user other than
    root, else /run/brig."""
    given = os.environ.get("BRIG_STATE_DIR")
    if given:
        return given
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if os.geteuid() != 0 and xdg:
        return os.path.join(xdg, "brig")
    return "/run/brig"


def discover_brokers(given: Optional[str] = None) -> str:
    """Bootstrap servers ("host:port,...") for a client."""
    if given:
        return given
    env = os.environ.get("BRIG_BROKERS")
    if env:
        return env
    path = os.path.join(state_dir(), "broker")
    try:
        with open(path, encoding="utf-8") as f:
            first_line = f.readline().strip()
    except OSError as e:
        raise BrokerNotFound(
            f"no broker given (brokers= or BRIG_BROKERS) and no embedded broker running "
            f"({path}: {e.strerror})") from None
    if not first_line:
        raise BrokerNotFound(f"reading {path}: empty file")
    return first_line


def discover_message_max(given: Optional[str] = None) -> Optional[int]:
    """The largest message the broker discover_brokers(given) finds keeps
    safely: what the state file of a brig-worker's embedded broker says (it
    deletes older messages past a few MiB a partition); None for a broker
    given or in $BRIG_BROKERS."""
    if given or os.environ.get("BRIG_BROKERS"):
        return None
    try:
        with open(os.path.join(state_dir(), "broker"), encoding="utf-8") as f:
            for line in f.read().splitlines()[1:]:
                name, _, value = line.partition(" ")
                if name == "message_max_bytes" and value.isdigit():
                    return int(value)
    except OSError:
        pass
    return None
