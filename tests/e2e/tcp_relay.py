"""A TCP relay: `python3 tcp_relay.py LISTEN_HOST:PORT=TARGET_HOST:PORT ...`
accepts on each listen address and copies bytes both ways to its target, one
thread pair per connection. nethost.py runs one inside a network namespace
(on its loopback, at the ports the Kafka brokers advertise) and one on the
host (on the veth address), so that a worker in the namespace reaches the
brokers through a link the test can take down. Prints "ready" once every
address listens."""
import socket
import sys
import threading


def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(listener, target):
    while True:
        client, _ = listener.accept()
        try:
            upstream = socket.create_connection(target, timeout=5)
            upstream.settimeout(None)
        except OSError:
            client.close()
            continue
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=pipe, args=(a, b), daemon=True).start()


def address(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


def main():
    threads = []
    for spec in sys.argv[1:]:
        listen, target = spec.split("=")
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address(listen))
        listener.listen(64)
        threads.append(threading.Thread(target=serve, args=(listener, address(target)),
                                        daemon=True))
    for t in threads:
        t.start()
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
