"""The command line of `brig mcp`: the transport (stdio, or Streamable HTTP
on an address with its bearer token) and the Kafka settings handed to the
brig client. Usage errors exit with status 2 and a sentence naming the
option, before anything is started."""
import argparse
import ipaddress
import os
import socket
import stat
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import brig
from brig.config import topics_of
from brig.sign import signer_of

# A token shorter than this is guessable; the error says how to make one.
TOKEN_MIN_CHARS = 16


@dataclass
class HttpOptions:
    host: str
    port: int
    token: Optional[str]
    loopback: bool


@dataclass
class Options:
    http: Optional[HttpOptions]
    client: Dict[str, object] = field(default_factory=dict)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="brig mcp",
        description="An MCP server that runs code in brig's sandbox: tools run_code, "
                    "run_command, read_file, write_file, list_files, list_runtimes and cancel. "
                    "By default it speaks MCP over stdin/stdout, as desktop agents and IDEs "
                    "start it; --http serves Streamable HTTP for remote agents.")
    parser.add_argument("--http", metavar="ADDR",
                        help="serve Streamable HTTP at http://ADDR/mcp; ADDR is HOST:PORT "
                             "(127.0.0.1:8765, [::1]:8765, 0.0.0.0:8765). Beyond loopback a "
                             "--token-file is required")
    parser.add_argument("--token-file", metavar="FILE",
                        help="a file holding the bearer token HTTP clients must send "
                             "(Authorization: Bearer TOKEN); at least "
                             f"{TOKEN_MIN_CHARS} characters, e.g. openssl rand -hex 32")
    kafka = parser.add_argument_group("Kafka")
    kafka.add_argument("--brokers", metavar="LIST",
                       help="bootstrap servers (default $BRIG_BROKERS, else the embedded broker "
                            "of a local brig-worker)")
    kafka.add_argument("--topic-prefix", metavar="P",
                       default=os.environ.get("BRIG_TOPIC_PREFIX") or "brig",
                       help="topics P.jobs, P.results, P.logs (default $BRIG_TOPIC_PREFIX, "
                            "else brig)")
    kafka.add_argument("--reply-topic", metavar="T",
                       default=os.environ.get("BRIG_REPLY_TOPIC") or None,
                       help="where results come back (default $BRIG_REPLY_TOPIC, else "
                            "P.results); an agent's own under Kafka ACLs")
    kafka.add_argument("--kafka-config", metavar="FILE",
                       help="librdkafka properties, KEY=VALUE a line: TLS, SASL, tuning "
                            "(default $BRIG_KAFKA_CONFIG)")
    kafka.add_argument("-X", dest="properties", metavar="KEY=VALUE", action="append",
                       default=[], help="one more property, after the file's; repeatable")
    tenant = parser.add_argument_group("tenant (workers started with --tenants)")
    tenant.add_argument("--tenant", metavar="T", default=os.environ.get("BRIG_TENANT") or None,
                        help="sign every job and cancel as tenant T, whose results come on "
                             "P.results.T (default $BRIG_TENANT)")
    tenant.add_argument("--key", metavar="FILE", default=os.environ.get("BRIG_KEY") or None,
                        help="the tenant's private key, from brig keygen --out FILE; only its "
                             "owner may read it (default $BRIG_KEY)")
    return parser


def parse(argv: Optional[List[str]] = None) -> Options:
    parser = _parser()
    args = parser.parse_args(argv)
    properties = {}
    for item in args.properties:
        key, eq, value = item.partition("=")
        if not eq or not key:
            parser.error(f"-X {item}: expected KEY=VALUE")
        properties[key] = value
    if args.kafka_config is not None and not os.access(args.kafka_config, os.R_OK):
        parser.error(f"--kafka-config {args.kafka_config}: cannot be read")
    check_signing(parser, args)
    client = {"brokers": args.brokers, "topic_prefix": args.topic_prefix,
              "reply_topic": args.reply_topic, "client_id": "brig-mcp",
              "kafka_config": args.kafka_config, "kafka_properties": properties,
              "tenant": args.tenant or "", "key_file": args.key or ""}
    if args.http is None:
        if args.token_file is not None:
            parser.error("--token-file goes with --http (stdio has no bearer token)")
        return Options(http=None, client=client)
    try:
        host, port = split_address(args.http)
        loopback = is_loopback(host)
    except ValueError as e:
        parser.error(f"--http {args.http}: {e}")
    token = None
    if args.token_file is not None:
        try:
            token = read_token(args.token_file)
        except ValueError as e:
            parser.error(f"--token-file {args.token_file}: {e}")
    elif not loopback:
        parser.error(f"--http {args.http} listens beyond loopback, where anyone who reaches "
                     f"the port could run code: give --token-file FILE with a bearer token "
                     f"(openssl rand -hex 32 >FILE), or listen on 127.0.0.1")
    return Options(http=HttpOptions(host, port, token, loopback), client=client)


def check_signing(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuses, before the server starts, a tenant or key the client would
    refuse at its first connection (which only a tool call would report)."""
    flags = {"tenant": "--tenant", "key_file": "--key", "reply_topic": "--reply-topic",
             "topic_prefix": "--topic-prefix"}
    try:
        signer = signer_of(args.tenant or "", args.key or "")
        topics_of(args.topic_prefix, args.reply_topic, signer and signer.tenant)
    except brig.InvalidJob as e:
        parser.error(f"{flags.get(e.field, e.field)}: {e.reason}")
    except brig.BrigError as e:
        parser.error(str(e))


def split_address(address: str):
    """HOST and PORT of "HOST:PORT" or "[IPV6]:PORT"."""
    host, colon, port = address.rpartition(":")
    if not colon or not host:
        raise ValueError("expected HOST:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError("an IPv6 address goes in brackets: [::1]:8765")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"port {port!r} is not a number from 1 to 65535")
    return host, int(port)


def is_loopback(host: str) -> bool:
    """Whether every address host stands for is a loopback address: only
    then may the server listen without a token."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise ValueError(f"cannot resolve {host}: {e.strerror}") from None
    return all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


def read_token(path: str) -> str:
    """The token of a token file: its text without surrounding white space.
    A file every user may read or write is refused."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as e:
        raise ValueError(e.strerror) from None
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(f.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise ValueError("not a regular file")
        if mode & 0o007:
            raise ValueError(f"every user may read or write it (mode {mode & 0o777:o}): "
                             f"chmod 600 it")
        data = f.read(4096)
    try:
        token = data.decode("ascii").strip()
    except UnicodeDecodeError:
        raise ValueError("the token must be ASCII text") from None
    if len(token) < TOKEN_MIN_CHARS:
        raise ValueError(f"the token has {len(token)} characters, fewer than "
                         f"{TOKEN_MIN_CHARS}: make one with openssl rand -hex 32")
    if any(c.isspace() or not c.isprintable() for c in token):
        raise ValueError("the token holds white space or control characters")
    return token
