"""brig: run untrusted code in brig's sandbox workers through Kafka.

    import brig
    with brig.Client() as client:
        result = client.run("print(6 * 7)", timeout=60)
        print(result.status, result.stdout_text)

    async with brig.AsyncClient() as client:
        result = await client.run("print(6 * 7)", timeout=60)

Needs confluent-kafka, msgpack and cryptography (which signs for a tenant).
See README.md next to this package.
"""
from .aio import AsyncClient, AsyncSession
from .client import Client, Session
from .discover import discover_brokers, state_dir
from .display import CellException, Interpreter, Output
from .errors import (BrigError, BrokerNotFound, BrokerUnreachable, ClientClosed, InvalidJob,
                     JobTimeout, SchemaError)
from .messages import LogChunk, OmittedFile, Result, Usage, decode_log_chunk, decode_result
from .runtimes import RuntimeInfo, WorkerRuntimes, decode_runtimes
from .schema import LIMITS, SCHEMA_VERSION, STATUSES, build_job, check_limits, encode_job
from .session_files import SessionFile

__version__ = "0.1.0"

__all__ = [
    "AsyncClient", "AsyncSession", "Client", "Session", "SessionFile",
    "discover_brokers", "state_dir",
    "BrigError", "BrokerNotFound", "BrokerUnreachable", "ClientClosed", "InvalidJob",
    "JobTimeout", "SchemaError",
    "CellException", "Interpreter", "Output",
    "LogChunk", "OmittedFile", "Result", "Usage", "decode_log_chunk", "decode_result",
    "RuntimeInfo", "WorkerRuntimes", "decode_runtimes",
    "LIMITS", "SCHEMA_VERSION", "STATUSES", "build_job", "check_limits", "encode_job",
]
