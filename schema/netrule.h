/* Network allow-list entries: "host", "*.suffix", either with ":port",
 * "1.2.3.4[:port]" and "[v6]:port". Lowercase only, so that one spelling
 * means one rule and a rule can be printed back as it was given. */
#ifndef BRIG_SCHEMA_NETRULE_H
#define BRIG_SCHEMA_NETRULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "schema/schema.h"

struct net_rule_parts {
    size_t host_start; /* the host inside the entry, without "*." or brackets */
    size_t host_len;
    bool wildcard;
    uint16_t port;
};

bool net_rule_parse(const char *s, size_t len, struct net_rule_parts *parts, char *why,
                    size_t whylen);

/* The entry text of a rule; returns its length, or -1 when len is too small. */
int net_rule_format(const struct brig_net_rule *rule, char *buf, size_t len);

#endif
