"""brig: run untrusted code in brig's sandbox workers through Kafka.

    from brig import Client
    with Client() as client:
        result = client.run("print(6 * 7)", timeout=60)
        print(result.status, result.stdout_text)

Needs only confluent-kafka and msgpack. See README.md next to this package.
"""
from .client import Client
from .discover import discover_brokers, state_dir
from .errors import (BrigError, BrokerNotFound, BrokerUnreachable, ClientClosed, InvalidJob,
                     JobTimeout, SchemaError)
from .messages import LogChunk, OmittedFile, Result, Usage, decode_log_chunk, decode_result
from .runtimes import RuntimeInfo, WorkerRuntimes, decode_runtimes
from .schema import LIMITS, SCHEMA_VERSION, STATUSES, build_job, check_limits, encode_job

__all__ = [
    "Client", "discover_brokers", "state_dir",
    "BrigError", "BrokerNotFound", "BrokerUnreachable", "ClientClosed", "InvalidJob",
    "JobTimeout", "SchemaError",
    "LogChunk", "OmittedFile", "Result", "Usage", "decode_log_chunk", "decode_result",
    "RuntimeInfo", "WorkerRuntimes", "decode_runtimes",
    "LIMITS", "SCHEMA_VERSION", "STATUSES", "build_job", "check_limits", "encode_job",
]
