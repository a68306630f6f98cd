#!/usr/bin/env bash
# The ACLs brig's principals need on a cluster whose authorizer denies what no
# ACL allows, added with Kafka's own AclCommand (the jars mk/kafka.sh fetched).
#
#   mk/kafka/acls.sh agent NAME [PREFIX]          User:NAME may
#       write jobs to PREFIX.jobs and cancel requests to PREFIX.control (brig cancel),
#       read (and create) its own reply topic PREFIX.reply.NAME,
#       read PREFIX.runtimes (what the workers run: brig runtimes),
#       use consumer groups named brig-client-* (what brig's clients name theirs);
#       nothing else: not another agent's reply topic, not PREFIX.results, .logs
#       or .audit.
#   mk/kafka/acls.sh tenant NAME [PREFIX]         User:NAME, tenant NAME of workers
#       started with --tenants (README "Tenants"), may
#       write jobs to PREFIX.jobs and cancels to PREFIX.control (signed: a
#       message is its tenant's only with the tenant's key),
#       read PREFIX.results.NAME, the topics under it (PREFIX.results.NAME.*)
#       and PREFIX.logs.NAME, read PREFIX.runtimes, use groups brig-client-*;
#       nothing else: not another tenant's results or logs. (The prefixed
#       grant ends in a dot: tenant acme's is not tenant acmex's.)
#   mk/kafka/acls.sh worker NAME [PREFIX [GROUP]]  User:NAME may
#       read PREFIX.jobs in consumer group GROUP (default brig-workers),
#       read PREFIX.control (each worker from its end, its offsets never
#       committed, so only naming its consumer group GROUP-reader-<worker id>),
#       write PREFIX.results, .logs, .dlq, .audit, .runtimes and replies to PREFIX.reply.*,
#       the tenants' PREFIX.results.* and PREFIX.logs.*,
#       create (and describe) topics named PREFIX.*.
#   mk/kafka/acls.sh auditor NAME [PREFIX]        User:NAME may
#       read PREFIX.audit (brig audit sync), in consumer groups named brig-client-*.
#   mk/kafka/acls.sh list
#
# PREFIX defaults to brig. The cluster is mk/kafka.sh's (KAFKA_DIR, default
# build/kafka, through its PLAINTEXT listener, whose principal is a super
# user), or any other one given by KAFKA_BOOTSTRAP and KAFKA_COMMAND_CONFIG (a
# Java client properties file with an admin's credentials).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
dir=${KAFKA_DIR:-$root/build/kafka}
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$root/mk/kafka/pom.xml")
libs=$root/build/kafka-libs/$version

die() {
    echo "kafka-acls: $*" >&2
    exit 1
}

[ -e "$libs/.complete" ] || die "the Kafka jars are not in $libs: run mk/kafka.sh start first"
bootstrap=${KAFKA_BOOTSTRAP:-$(cat "$dir/bootstrap" 2>/dev/null)} ||
    die "no cluster in $dir: run mk/kafka.sh start, or set KAFKA_BOOTSTRAP"
connection=(--bootstrap-server "$bootstrap")
[ -z "${KAFKA_COMMAND_CONFIG:-}" ] || connection+=(--command-config "$KAFKA_COMMAND_CONFIG")

acl() {
    java -Xmx256m -cp "$libs/*" org.apache.kafka.tools.AclCommand "${connection[@]}" "$@" >/dev/null ||
        die "AclCommand $* failed"
}

name_arg() {
    [[ ${1:-} =~ ^[A-Za-z0-9._-]+$ ]] || die "a principal name of [A-Za-z0-9._-] is needed, not '${1:-}'"
}

# Reading topic as brig's clients do: partitions assigned by hand, in a
# consumer group of their own (brig-client-<id>) that commits nothing.
client_reader() {
    acl --add --allow-principal "$1" --operation Read --topic "$2"
    acl --add --allow-principal "$1" --operation Read --resource-pattern-type prefixed \
        --group brig-client-
}

case ${1:-} in
    agent)
        name_arg "${2:-}"
        principal=User:$2 prefix=${3:-brig}
        acl --add --allow-principal "$principal" --operation Write --topic "$prefix.jobs" \
            --topic "$prefix.control"
        acl --add --allow-principal "$principal" --operation Read --operation Create \
            --topic "$prefix.reply.$2"
        client_reader "$principal" "$prefix.runtimes"
        ;;
    tenant)
        name_arg "${2:-}"
        [[ $2 =~ ^[a-z0-9][a-z0-9_-]{0,31}$ ]] || die "a tenant name is 1-32 of [a-z0-9_-], not '$2'"
        principal=User:$2 prefix=${3:-brig}
        acl --add --allow-principal "$principal" --operation Write --topic "$prefix.jobs" \
            --topic "$prefix.control"
        acl --add --allow-principal "$principal" --operation Read --topic "$prefix.results.$2" \
            --topic "$prefix.logs.$2" --topic "$prefix.runtimes"
        acl --add --allow-principal "$principal" --operation Read --operation Create \
            --resource-pattern-type prefixed --topic "$prefix.results.$2."
        acl --add --allow-principal "$principal" --operation Read \
            --resource-pattern-type prefixed --group brig-client-
        ;;
    worker)
        name_arg "${2:-}"
        principal=User:$2 prefix=${3:-brig} group=${4:-brig-workers}
        acl --add --allow-principal "$principal" --operation Read --topic "$prefix.jobs" --group "$group"
        acl --add --allow-principal "$principal" --operation Read --topic "$prefix.control"
        acl --add --allow-principal "$principal" --operation Describe \
            --resource-pattern-type prefixed --group "$group-reader-"
        acl --add --allow-principal "$principal" --operation Write --topic "$prefix.results" \
            --topic "$prefix.logs" --topic "$prefix.dlq" --topic "$prefix.audit" \
            --topic "$prefix.runtimes"
        acl --add --allow-principal "$principal" --operation Write \
            --resource-pattern-type prefixed --topic "$prefix.reply." --topic "$prefix.results." \
            --topic "$prefix.logs."
        acl --add --allow-principal "$principal" --operation Create --operation Describe \
            --operation DescribeConfigs --resource-pattern-type prefixed --topic "$prefix."
        ;;
    auditor)
        name_arg "${2:-}"
        client_reader "User:$2" "${3:-brig}.audit"
        ;;
    list)
        java -Xmx256m -cp "$libs/*" org.apache.kafka.tools.AclCommand "${connection[@]}" --list
        ;;
    *) die "usage: mk/kafka/acls.sh agent NAME [PREFIX] | tenant NAME [PREFIX] |" \
        "worker NAME [PREFIX [GROUP]] | auditor NAME [PREFIX] | list" ;;
esac
