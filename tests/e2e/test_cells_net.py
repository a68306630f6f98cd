"""Cells with network end to end: a session's interpreter is started with the
network rules of the cell that starts it and reaches the host only through the
worker's egress proxy; a later cell with the same rules runs in it, its
variables there, and one with other rules (none included) ends it and starts a
fresh one. Each request is audited under the id of the cell that made it."""
from test_cells import cell, env  # noqa: F401 (env is a fixture)
from test_egress import servers  # noqa: F401 (a fixture)
from test_secrets import setup  # noqa: F401 (a fixture)

# Through the proxy: the kernel's environment has HTTP_PROXY, and NO_PROXY
# names localhost (the jail's own loopback), which this drops.
FETCH = """
import os, urllib.request, urllib.error
for name in ('NO_PROXY', 'no_proxy'):
    os.environ.pop(name, None)
def fetch(url):
    try:
        reply = urllib.request.urlopen(url, timeout=60)
        return f"{reply.status} {reply.read().decode()}"
    except urllib.error.HTTPError as e:
        return f"{e.code} {e.read().decode()}"
"""


def test_a_network_interpreter_keeps_its_state_while_the_rules_stay(env, servers):  # noqa: F811
    client, worker = env
    port_a, port_b = servers
    w = worker("net", "--egress-allow", "localhost")
    allow_a = {"allow": [f"localhost:{port_a}"]}

    first = cell(client, FETCH + f"first = fetch('http://localhost:{port_a}/one')\nprint(first)",
                 "n1", network=allow_a)
    assert first["status"] == "ok", first
    assert first["interpreter"]["started"] is True
    assert first["stdout"] == b"200 hello from server-a: /one\n\n"

    again = cell(client, f"print(first); print(fetch('http://localhost:{port_a}/two'))", "n1",
                 network=allow_a)
    assert again["status"] == "ok", again
    assert again["interpreter"] == {"started": False, "execution_count": 2}, again
    assert again["stdout"] == \
        b"200 hello from server-a: /one\n\n200 hello from server-a: /two\n\n"

    denied = cell(client, f"print(fetch('http://localhost:{port_b}/'))", "n1", network=allow_a)
    assert denied["status"] == "ok", denied
    assert denied["interpreter"]["started"] is False
    assert denied["stdout"].startswith(b"403 brig egress proxy: GET localhost:"), denied
    assert f'rule "localhost:{port_a}" allows port {port_a} only'.encode() in denied["stdout"]

    assert w.stop() == 0, w.log()
    db = w.audit()
    rows = {name: [tuple(r) for r in db.execute(
        "SELECT host, port, allowed FROM connections WHERE job_id = ? ORDER BY id",
        (r["id"],))] for name, r in (("first", first), ("again", again), ("denied", denied))}
    db.close()
    assert rows == {"first": [("localhost", port_a, 1)], "again": [("localhost", port_a, 1)],
                    "denied": [("localhost", port_b, 0)]}


def test_other_rules_or_none_start_a_fresh_interpreter(env, servers):  # noqa: F811
    client, worker = env
    port_a, port_b = servers
    worker("net", "--egress-allow", "localhost")
    first = cell(client, FETCH + "x = 1", "n2", network={"allow": [f"localhost:{port_a}"]})
    assert first["status"] == "ok" and first["interpreter"]["started"] is True, first

    other = cell(client, FETCH + f"print('x' in dir()); print(fetch('http://localhost:{port_b}/'))",
                 "n2", network={"allow": [f"localhost:{port_b}"]})
    assert other["status"] == "ok", other
    assert other["interpreter"]["started"] is True
    assert other["stdout"] == b"False\n200 hello from server-b: /\n\n"

    y = cell(client, "y = 2", "n2", network={"allow": [f"localhost:{port_b}"]})
    assert y["interpreter"]["started"] is False, y
    # No network is other rules too: the interpreter with the proxy ends.
    offline = cell(client, FETCH + f"print('y' in dir()); print(fetch('http://localhost:{port_b}/'))",
                   "n2")
    assert offline["interpreter"]["started"] is True, offline
    assert offline["status"] == "failed", offline
    assert offline["stdout"] == b"False\n", offline
    assert offline["exception"]["name"] == "URLError", offline
    # And back: the offline interpreter ends for a cell with network.
    back = cell(client, "z = 3", "n2", network={"allow": [f"localhost:{port_b}"]})
    assert back["status"] == "ok" and back["interpreter"]["started"] is True, back


def test_a_secret_placeholder_serves_every_cell_of_its_interpreter(env, setup,  # noqa: F811
                                                                   monkeypatch):
    client, worker = env
    monkeypatch.setenv("BRIG_TEST_ENV_KEY", setup["env_value"])
    worker("secrets", "--egress-allow", "localhost", "--secrets", setup["secrets"],
           "--egress-ca-file", setup["ca"])
    url = f"https://localhost:{setup['ports']['bound']}"
    rules = {"network": {"allow": [f"localhost:{setup['ports']['bound']}"]},
             "secrets": ["API_KEY"]}
    get = FETCH + """
def get(url):
    request = urllib.request.Request(url, headers={'Authorization': os.environ['API_KEY']})
    return urllib.request.urlopen(request, timeout=60).read().decode()
"""
    first = cell(client, get + f"print(get('{url}/one'))", "n3", **rules)
    assert first["status"] == "ok" and first["interpreter"]["started"] is True, first
    assert first["stdout"] == b"bound /one value\n"
    again = cell(client, f"print(get('{url}/two'))", "n3", **rules)
    assert again["status"] == "ok" and again["interpreter"]["started"] is False, again
    assert again["stdout"] == b"bound /two value\n"
    # The same allow-list without the secret is other rules.
    plain = cell(client, "'get' in dir()", "n3", network=rules["network"])
    assert plain["interpreter"]["started"] is True, plain
