/* brig-test-broker: the embedded mock Kafka cluster as a standalone process
 * that tests drive through stdin, so they can take brokers down and back up.
 *
 *   brig-test-broker [-n BROKERS] [-p PARTITIONS] [-t PREFIX] [-T TOPIC]...
 *                    [-g GROUP | -u]
 *
 * -T adds a topic of that name (a tenant's, say): the mock cluster cannot
 * make topics later. Clients reach the brokers through the gate the worker
 * puts in front of its embedded broker (worker/broker_gate.h), freed by the
 * commits of GROUP (default brig-test, the harness's workers); -u leaves it
 * out, for tests of how workers see a cluster delete jobs nobody read.
 *
 * Prints "bootstrap HOST:PORT,..." once the topics exist, then obeys one
 * command per line: "down ID", "up ID" (ID -1 = every broker), "quit".
 * Answers each command with "ok" or "error ...". EOF means quit. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "worker/broker.h"

static int run_commands(struct embedded_broker *broker)
{
    char line[256];
    while (fgets(line, sizeof(line), stdin)) {
        int id = -1;
        char verb[16];
        if (sscanf(line, "%15s %d", verb, &id) < 1)
            continue;
        if (strcmp(verb, "quit") == 0)
            break;
        if (strcmp(verb, "down") == 0 || strcmp(verb, "up") == 0) {
            bool down = verb[0] == 'd';
            if (embedded_broker_set_down(broker, id, down) == 0)
                printf("ok\n");
            else
                printf("error: no broker %d\n", id);
        } else {
            printf("error: unknown command %s\n", verb);
        }
        fflush(stdout);
    }
    return 0;
}

int main(int argc, char **argv)
{
    int n_brokers = 1, partitions = 4, opt;
    const char *prefix = "brig", *group = "brig-test";
    bool gated = true;
    static const char *const suffixes[] = {"jobs",    "results",  "logs", "dlq",
                                           "control", "runtimes", "audit"};
    enum { EXTRA_MAX = 32 };
    char names[ARRAY_SIZE(suffixes) + EXTRA_MAX][256];
    const char *topics[ARRAY_SIZE(suffixes) + EXTRA_MAX];
    size_t n_topics = ARRAY_SIZE(suffixes);
    while ((opt = getopt(argc, argv, "n:p:t:T:g:u")) != -1) {
        switch (opt) {
        case 'n':
            n_brokers = atoi(optarg);
            break;
        case 'p':
            partitions = atoi(optarg);
            break;
        case 't':
            prefix = optarg;
            break;
        case 'g':
            group = optarg;
            break;
        case 'u':
            gated = false;
            break;
        case 'T':
            if (n_topics == ARRAY_SIZE(topics)) {
                fprintf(stderr, "brig-test-broker: at most %d -T topics\n", EXTRA_MAX);
                return 2;
            }
            topics[n_topics++] = optarg;
            break;
        default:
            fprintf(stderr, "usage: brig-test-broker [-n BROKERS] [-p PARTITIONS] [-t PREFIX] "
                            "[-T TOPIC]... [-g GROUP | -u]\n");
            return 2;
        }
    }
    if (n_brokers < 1 || partitions < 1) {
        fprintf(stderr, "brig-test-broker: -n and -p must be at least 1\n");
        return 2;
    }

    for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++) {
        snprintf(names[i], sizeof(names[i]), "%s.%s", prefix, suffixes[i]);
        topics[i] = names[i];
    }

    char err[512];
    struct embedded_broker *broker;
    const struct broker_gate_config gate = {.topic = topics[0], .group = group};
    if (embedded_broker_start(n_brokers, topics, n_topics, partitions, gated ? &gate : NULL,
                              &broker, err, sizeof(err)) < 0) {
        fprintf(stderr, "brig-test-broker: %s\n", err);
        return 1;
    }
    printf("bootstrap %s\n", embedded_broker_bootstraps(broker));
    fflush(stdout);
    int rc = run_commands(broker);
    embedded_broker_stop(broker);
    return rc;
}
