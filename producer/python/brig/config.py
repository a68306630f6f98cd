"""What Client and AsyncClient take from their arguments alike: the topics,
how to reach the cluster, the tenant that signs, and the checks a job passes
before it is sent."""
from __future__ import annotations

import getpass
import socket
import time
from dataclasses import dataclass
from typing import Any, Optional

from .discover import discover_brokers, discover_message_max
from .errors import BrigError, InvalidJob
from .kafka_setup import KafkaSettings, kafka_properties
from .schema import Job, check_topic, encode_cancel, encode_job, job_key
from .sign import Signer, signer_of


@dataclass(frozen=True)
class Topics:
    jobs: str
    control: str
    logs: str
    runtimes: str
    reply: str
    # What jobs name as their reply topic: None for the default one.
    job_reply: Optional[str]


def topics_of(prefix: str, reply_topic: Optional[str], tenant: Optional[str] = None) -> Topics:
    """The topics of a client; a tenant's results and logs have topics of
    their own (SCHEMA.md 14), and its reply topic must be under its results
    topic, where the workers answer it."""
    check_topic("topic_prefix", prefix)
    if reply_topic is not None:
        check_topic("reply_topic", reply_topic)
    own = "" if tenant is None else f".{tenant}"
    default_reply = f"{prefix}.results{own}"
    if tenant is not None and reply_topic is not None and reply_topic != default_reply \
            and not reply_topic.startswith(default_reply + "."):
        raise InvalidJob("reply_topic", f"{reply_topic}: tenant {tenant}'s results come on "
                                        f"{default_reply} or a topic under it")
    topics = Topics(jobs=f"{prefix}.jobs", control=f"{prefix}.control",
                    logs=f"{prefix}.logs{own}",
                    runtimes=f"{prefix}.runtimes", reply=reply_topic or default_reply,
                    job_reply=None if reply_topic in (None, default_reply) else reply_topic)
    for topic in (topics.jobs, topics.logs, topics.reply):
        check_topic("topic", topic)
    return topics


@dataclass
class ClientConfig:
    """Everything a client is given, checked: see Client for the arguments."""
    settings: KafkaSettings
    topics: Topics
    # The largest job an embedded broker keeps (None: no such bound known).
    message_max: Optional[int]
    # Signs every job and cancel for a tenant (None: they go unsigned).
    signer: Optional[Signer]

    @classmethod
    def of(cls, brokers: Optional[str] = None, topic_prefix: str = "brig",
           reply_topic: Optional[str] = None, client_id: Optional[str] = None,
           connect_timeout: float = 5.0, delivery_timeout: float = 10.0,
           kafka_config: Optional[str] = None,
           kafka_properties_: Optional[dict[str, Any]] = None, tenant: Optional[str] = None,
           key_file: Optional[str] = None) -> ClientConfig:
        signer = signer_of(tenant, key_file)
        topics = topics_of(topic_prefix, reply_topic, None if signer is None else signer.tenant)
        found = discover_brokers(brokers)
        settings = KafkaSettings(found, client_id or "brig-client", connect_timeout,
                                 delivery_timeout,
                                 kafka_properties(kafka_config, kafka_properties_))
        return cls(settings, topics, discover_message_max(brokers), signer)

    def encode(self, job: Job) -> tuple[str, bytes]:
        """The Kafka key and value of a job from build_job, or BrigError
        when it is too large for the broker."""
        value = encode_job(job)
        if self.message_max is not None and len(value) > self.message_max:
            raise BrigError(f"job {job['id']} is {len(value)} bytes, and the embedded broker at "
                            f"{self.settings.brokers} keeps messages of at most "
                            f"{self.message_max} bytes (it deletes older ones past a few MiB a "
                            f"partition): send larger jobs through a Kafka cluster (brokers=)")
        return job_key(job), value


class ClientBase:
    """What Client and AsyncClient share: their arguments (see Client) and
    what follows from them. _setup() is each one's own start."""

    def __init__(self, brokers: Optional[str] = None, topic_prefix: str = "brig",
                 reply_topic: Optional[str] = None, client_id: Optional[str] = None,
                 connect_timeout: float = 5.0, delivery_timeout: float = 10.0,
                 kafka_config: Optional[str] = None,
                 kafka_properties: Optional[dict[str, Any]] = None,
                 tenant: Optional[str] = None, key_file: Optional[str] = None) -> None:
        self._config = ClientConfig.of(brokers, topic_prefix, reply_topic, client_id,
                                       connect_timeout, delivery_timeout, kafka_config,
                                       kafka_properties, tenant, key_file)
        self._setup()

    def _setup(self) -> None:
        raise NotImplementedError

    @property
    def brokers(self) -> str:
        return self._config.settings.brokers

    @property
    def reply_topic(self) -> str:
        return self._config.topics.reply

    @property
    def tenant(self) -> Optional[str]:
        """The tenant this client signs for; None when it does not sign."""
        signer = self._config.signer
        return None if signer is None else signer.tenant

    @property
    def kafka_properties(self) -> dict[str, str]:
        """The caller's properties, from kafka_config and kafka_properties."""
        return self._config.settings.properties


def cancel_request(job_id: str, by: Optional[str]) -> bytes:
    """The control message asking the workers to cancel job_id; by
    defaults to user@host."""
    if by is None:
        by = f"{getpass.getuser()}@{socket.gethostname()}"
    return encode_cancel(job_id, by, int(time.time() * 1000))
