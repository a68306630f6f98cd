#!/usr/bin/env bash
# A local Apache Kafka in KRaft mode (no ZooKeeper) for development and the
# real-Kafka tests: each node a combined broker and controller, its jars
# fetched through Maven from Maven Central (pinned in mk/kafka/pom.xml).
#
#   mk/kafka.sh start            start what is not running; return once the cluster
#                                produces and fetches (a no-op check when it does)
#   mk/kafka.sh stop             stop every node (the data stays)
#   mk/kafka.sh stop-node N      stop node N cleanly;  kill-node N: kill -9 it
#   mk/kafka.sh status           which nodes run; exit 0 only if all do
#   mk/kafka.sh destroy          stop and delete the cluster (data, users, certificates)
#
# Environment:
#   KAFKA_DIR     the cluster's directory (default build/kafka)
#   KAFKA_NODES   1 or 3 (default 1), fixed when the cluster is first made
#   KAFKA_HEAP    heap of each node's JVM (default 512m)
#   KAFKA_AUTO_CREATE_TOPICS  true to let a producer or consumer create topics (default false)
#
# The cluster directory holds: bootstrap (PLAINTEXT listener, 127.0.0.1 only)
# and bootstrap-sasl (SASL_SSL, SCRAM-SHA-512), ca.pem (the CA of the brokers'
# certificate), users/<name> (the passwords of admin, brig-worker,
# brig-auditor, agent-a, agent-b), cluster.env (node count, cluster id,
# ports) and per node node<N>/{server.properties,server.log,data}. Ports are
# chosen free when the cluster is made and kept, like the cluster id, so a
# restart serves the same bootstrap with the same data.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
dir=${KAFKA_DIR:-build/kafka}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
python=/usr/bin/python3
users=(admin brig-worker brig-auditor agent-a agent-b)
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' mk/kafka/pom.xml)
libs=$root/build/kafka-libs/$version

die() {
    echo "kafka: $*" >&2
    exit 1
}

# The jars of the pinned version, fetched once (Maven verifies their checksums).
fetch_jars() {
    [ -e "$libs/.complete" ] && return
    echo "kafka: fetching Apache Kafka $version through Maven into $libs" >&2
    rm -rf "$libs.tmp"
    mvn -B -q --strict-checksums -f mk/kafka/pom.xml dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$libs.tmp" >&2 ||
        die "Maven could not fetch Apache Kafka $version (see above)"
    touch "$libs.tmp/.complete"
    rm -rf "$libs" && mv "$libs.tmp" "$libs"
}

# Kafka's command-line tools; log4j's default configuration prints their errors.
java_tool() {
    java -Xmx256m -cp "$libs/*" "$@"
}

# n free TCP ports on 127.0.0.1, below the ephemeral range so that outgoing
# connections do not take them while the cluster is stopped.
free_ports() {
    "$python" - "$1" <<'EOF'
import random, socket, sys
taken, held = set(), []
while len(held) < int(sys.argv[1]):
    port = random.randrange(20000, 32000)
    if port in taken:
        continue
    taken.add(port)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        s.close()
        continue
    held.append(s)
print(" ".join(str(s.getsockname()[1]) for s in held))
EOF
}

# The CA (ca.pem) and the brokers' certificate, valid for localhost and
# 127.0.0.1, in the PKCS12 keystore the brokers read.
make_certificates() {
    local tls=$dir/tls
    mkdir -p "$tls" && chmod 700 "$tls"
    openssl rand -hex 16 >"$tls/keystore.password"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=brig local Kafka CA" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
        -keyout "$tls/ca.key" -out "$dir/ca.pem" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj /CN=localhost \
        -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
    printf '%s\n' 'subjectAltName=DNS:localhost,IP:127.0.0.1' 'basicConstraints=CA:FALSE' \
        'keyUsage=critical,digitalSignature,keyEncipherment' 'extendedKeyUsage=serverAuth' \
        >"$tls/server.ext"
    openssl x509 -req -days 3650 -in "$tls/server.csr" -CA "$dir/ca.pem" -CAkey "$tls/ca.key" \
        -CAserial "$tls/ca.srl" -CAcreateserial -extfile "$tls/server.ext" -out "$tls/server.pem" 2>/dev/null
    openssl pkcs12 -export -name kafka -in "$tls/server.pem" -inkey "$tls/server.key" \
        -certfile "$dir/ca.pem" -passout "file:$tls/keystore.password" -out "$tls/server.p12"
}

# A password for each user that has none, before the nodes' configuration
# and first format. A cluster made before a user was added to the list gets
# one too, for PLAIN (its login module is written at each start); its SCRAM
# users stay those of its first start.
make_passwords() {
    local user
    mkdir -p "$dir/users" && chmod 700 "$dir/users"
    for user in "${users[@]}"; do
        [ -e "$dir/users/$user" ] || openssl rand -hex 16 >"$dir/users/$user"
    done
}

# A new cluster: its shape, id, ports and certificates.
# cluster.env is written last: a cluster directory without it is not a cluster.
create_cluster() {
    local nodes=$1 ports n
    case $nodes in 1 | 3) ;; *) die "KAFKA_NODES must be 1 or 3, not '$nodes'" ;; esac
    make_certificates
    read -ra ports <<<"$(free_ports $((3 * nodes)))"
    {
        echo "NODES=$nodes"
        # Kafka's own generator: it never starts an id with '-' (a random
        # base64 id did, once in 64 clusters, and the format's option parser
        # took it for an option: CI failed every real-Kafka test so).
        echo "CLUSTER_ID=$(java_tool kafka.tools.StorageTool random-uuid)"
        for ((n = 1; n <= nodes; n++)); do
            echo "PLAIN_$n=${ports[3 * n - 3]}"
            echo "SASL_$n=${ports[3 * n - 2]}"
            echo "CONTROLLER_$n=${ports[3 * n - 1]}"
        done
    } >"$dir/cluster.env.tmp"
    mv "$dir/cluster.env.tmp" "$dir/cluster.env"
}

load_cluster() {
    [ -e "$dir/cluster.env" ] || die "there is no cluster in $dir: mk/kafka.sh start makes one"
    # shellcheck source=/dev/null
    . "$dir/cluster.env"
    if [ -n "${KAFKA_NODES:-}" ] && [ "$KAFKA_NODES" != "$NODES" ]; then
        die "$dir holds a $NODES-node cluster, not $KAFKA_NODES: use KAFKA_NODES=$NODES, or" \
            "KAFKA_DIR=<another directory>, or 'mk/kafka.sh destroy' (its data goes)"
    fi
    local plain=() sasl=() voters=() n p s c
    for ((n = 1; n <= NODES; n++)); do
        p=PLAIN_$n s=SASL_$n c=CONTROLLER_$n
        plain+=("127.0.0.1:${!p}")
        sasl+=("localhost:${!s}")
        voters+=("$n@127.0.0.1:${!c}")
    done
    bootstrap=$(IFS=,; echo "${plain[*]}")
    bootstrap_sasl=$(IFS=,; echo "${sasl[*]}")
    quorum_voters=$(IFS=,; echo "${voters[*]}")
    echo "$bootstrap" >"$dir/bootstrap"
    echo "$bootstrap_sasl" >"$dir/bootstrap-sasl"
}

# Written at every start, so that a change here reaches an existing cluster.
write_config() {
    local n=$1 node=$dir/node$1 p=PLAIN_$1 s=SASL_$1 c=CONTROLLER_$1
    local replication=$((NODES < 3 ? NODES : 3)) min_isr=$((NODES < 3 ? 1 : 2))
    mkdir -p "$node"
    # It holds the keystore and PLAIN passwords.
    touch "$node/server.properties" && chmod 600 "$node/server.properties"
    cat >"$node/server.properties" <<EOF
# Written by mk/kafka.sh at each start: edit the script, not this file.
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$quorum_voters
listeners=PLAINTEXT://127.0.0.1:${!p},SASL_SSL://127.0.0.1:${!s},CONTROLLER://127.0.0.1:${!c}
advertised.listeners=PLAINTEXT://127.0.0.1:${!p},SASL_SSL://localhost:${!s}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$node/data

# SCRAM-SHA-512 is what production uses, but Kafka 4 refuses it from librdkafka
# before 2.6.1 (Debian 12 has 2.0.2): those clients use PLAIN, which the TLS
# of this listener protects on the wire. Same users, same passwords.
sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required$(plain_users);
listener.name.sasl_ssl.ssl.keystore.type=PKCS12
listener.name.sasl_ssl.ssl.keystore.location=$dir/tls/server.p12
listener.name.sasl_ssl.ssl.keystore.password=$(cat "$dir/tls/keystore.password")

# The PLAINTEXT and CONTROLLER listeners (loopback only) carry the brokers'
# and controllers' own traffic as User:ANONYMOUS, which must be a super user;
# plain clients share it. SASL users get only what ACLs grant them.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:admin;User:ANONYMOUS
allow.everyone.if.no.acl.found=false

# brig's jobs and results reach 16 MiB (schema/bounds.h); 20 MiB leaves room
# for the batch and the record overhead.
message.max.bytes=20971520
replica.fetch.max.bytes=20971520
auto.create.topics.enable=${KAFKA_AUTO_CREATE_TOPICS:-false}
num.partitions=1
default.replication.factor=$replication
min.insync.replicas=$min_isr
unclean.leader.election.enable=false
offsets.topic.replication.factor=$replication
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=$replication
transaction.state.log.min.isr=$min_isr
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=$replication
share.coordinator.state.topic.min.isr=$min_isr
group.initial.rebalance.delay.ms=0
# A broker killed with -9 is fenced, and its partitions led elsewhere, after
# this long without a heartbeat (Kafka's default: 9 s).
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=6000
# Two cores are shared with builds and tests.
num.network.threads=2
num.io.threads=4
background.threads=4
EOF
}

# The PLAIN login module's user_<name>="<password>" options.
plain_users() {
    for user in "${users[@]}"; do printf ' user_%s="%s"' "$user" "$(cat "$dir/users/$user")"; done
}

pid_of() {
    local node=$dir/node$1 pid
    pid=$(cat "$node/pid" 2>/dev/null) || return 1
    # A pid file that outlived its process may name another one by now.
    { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF "$node/server.properties" || return 1
    echo "$pid"
}

format_node() {
    local n=$1 scram=()
    [ -e "$dir/node$n/data/meta.properties" ] && return
    for user in "${users[@]}"; do
        scram+=(--add-scram "SCRAM-SHA-512=[name=$user,password=$(cat "$dir/users/$user")]")
    done
    java_tool kafka.tools.StorageTool format --cluster-id="$CLUSTER_ID" \
        --config "$dir/node$n/server.properties" "${scram[@]}" >"$dir/node$n/format.log" 2>&1 ||
        die "formatting node $n failed: $(tail -n 5 "$dir/node$n/format.log")"
}

launch_node() {
    local node=$dir/node$1
    rm -f "$node/pid"
    # setsid: the node outlives the make or pytest that started it and is not
    # hit by their Ctrl-C. The shell writes its pid, which exec makes java's.
    setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$node/pid" \
        java -Xms"${KAFKA_HEAP:-512m}" -Xmx"${KAFKA_HEAP:-512m}" -XX:+UseG1GC \
        -XX:MaxGCPauseMillis=20 -XX:ParallelGCThreads=1 -XX:ConcGCThreads=1 \
        -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$root/mk/kafka/log4j2.properties" -Dkafka.logs.dir="$node" \
        -cp "$libs/*" kafka.Kafka "$node/server.properties" \
        >"$node/console.log" 2>&1 </dev/null 9>&- &
}

# Whether process pid runs (a zombie does not). Not pid_of: its cmdline is
# empty while bash execs java, and a start was once failed for that (CI:
# "node 3 exited while starting" over a log of a healthy broker).
running() {
    local state
    state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) && [ -n "$state" ] &&
        [ "$state" != Z ]
}

# Waits until node n listens on its plain port, or fails with its log's end.
await_listening() {
    local n=$1 node=$dir/node$1 p=PLAIN_$1 i pid
    for ((i = 0; i < 1200; i++)); do
        pid=$(cat "$node/pid" 2>/dev/null) || pid=
        if [ -n "$pid" ] && ! running "$pid"; then
            die "node $n exited while starting; the end of $node/server.log:
$(tail -n 20 "$node/server.log" 2>/dev/null; tail -n 5 "$node/console.log")"
        fi
        (exec 3<>"/dev/tcp/127.0.0.1/${!p}") 2>/dev/null && return
        sleep 0.1
    done
    die "node $n does not listen on 127.0.0.1:${!p} after 120 s; see $node/server.log"
}

# Stops the given nodes together with the signal. After SIGTERM a node's
# broker waits for the controllers to grant a controlled shutdown (moving its
# partitions' leadership away), which a quorum must commit: a node left
# without a quorum when its peers are gone would wait 5 minutes. Such a node
# is killed after 15 s, and any node still there after 60 s; its logs are
# recovered at its next start.
stop_nodes() {
    local signal=$1 n pid ticks=0 alone=0 why=
    local -A stopping=()
    shift
    for n in "$@"; do
        pid=$(pid_of "$n") || continue
        kill "-$signal" "$pid"
        stopping[$n]=$pid
    done
    while ((${#stopping[@]})); do
        for n in "${!stopping[@]}"; do
            [ -e "/proc/${stopping[$n]}" ] && continue
            rm -f "$dir/node$n/pid"
            unset "stopping[$n]"
        done
        ((${#stopping[@]})) || break
        (($(running_count) > NODES / 2)) || alone=$((alone + 1))
        if [ -z "$why" ]; then
            ((alone < 150)) || why="no controller quorum is left to grant its controlled shutdown"
            ((ticks < 600)) || why="still shutting down 60 s after SIG$signal"
            for n in "${!stopping[@]}"; do
                [ -z "$why" ] && break
                echo "kafka: node $n killed: $why" >&2
                kill -KILL "${stopping[$n]}" 2>/dev/null || true
            done
        fi
        sleep 0.1
        ticks=$((ticks + 1))
    done
}

running_count() {
    local n count=0
    for n in $(all_nodes); do pid_of "$n" >/dev/null && count=$((count + 1)); done
    echo "$count"
}

all_nodes() { seq 1 "$NODES"; }

node_arg() {
    [[ ${1:-} =~ ^[0-9]+$ ]] && ((${1} >= 1 && ${1} <= NODES)) ||
        die "a node number from 1 to $NODES is needed, not '${1:-}'"
}

cmd_start() {
    mk/deps.sh openjdk-17-jre-headless maven openssl
    fetch_jars
    [ -e "$dir/cluster.env" ] || create_cluster "${KAFKA_NODES:-1}"
    load_cluster
    make_passwords
    local started=() n
    for n in $(all_nodes); do
        pid_of "$n" >/dev/null && continue
        write_config "$n"
        format_node "$n" &
    done
    wait # every format is checked by its own die; a failed one leaves meta.properties absent
    for n in $(all_nodes); do
        pid_of "$n" >/dev/null && continue
        [ -e "$dir/node$n/data/meta.properties" ] || die "node $n was not formatted"
        launch_node "$n"
        started+=("$n")
    done
    for n in "${started[@]}"; do await_listening "$n"; done
    "$python" mk/kafka/probe.py "$dir" || exit 1
    echo "kafka: $NODES node(s) of Apache Kafka $version serve at $bootstrap (SASL_SSL: $bootstrap_sasl)"
}

cmd_status() {
    load_cluster
    local down=0 n pid
    for n in $(all_nodes); do
        if pid=$(pid_of "$n"); then echo "node $n: running (pid $pid)"; else echo "node $n: stopped"; down=1; fi
    done
    return $down
}

main() {
    local cmd=${1:-}
    exec 9>"$dir/.lock"
    # One command at a time on a cluster: a test restarting a node and a
    # `make kafka` in another shell must not both launch it.
    flock -w 600 9 || die "another mk/kafka.sh holds $dir/.lock"
    case $cmd in
        start) cmd_start ;;
        stop | destroy)
            if [ -e "$dir/cluster.env" ]; then
                load_cluster
                mapfile -t nodes < <(all_nodes)
                stop_nodes TERM "${nodes[@]}"
            fi
            [ "$cmd" = stop ] || rm -rf "$dir"
            ;;
        stop-node | kill-node)
            load_cluster
            node_arg "${2:-}"
            if [ "$cmd" = stop-node ]; then stop_nodes TERM "$2"; else stop_nodes KILL "$2"; fi
            ;;
        status) cmd_status ;;
        *) die "usage: mk/kafka.sh start|stop|stop-node N|kill-node N|status|destroy" ;;
    esac
}

main "$@"
