/* What a job's egress proxy lets through.
 *
 * Rules are the job's "network.allow" entries (schema/SCHEMA.md §5.2): a name
 * ("pypi.org"), a suffix ("*.example.com": every name ending in
 * ".example.com", not "example.com" itself), an IPv4 or IPv6 address, each
 * with an optional port (none = every port). The operator bounds them with a
 * list of the same rules (brig-worker --egress-allow): a job gets the
 * intersection of its list with the bound, and a job whose rule shares nothing
 * with the bound, or that asks for network from a worker with no bound at
 * all, is refused before it runs.
 *
 * A request names a host and a port. Names compare after lowercasing and
 * dropping one trailing dot; a name rule never matches an address and an
 * address rule never matches a name, so "127.0.0.1" is reached only when a
 * rule names it, whatever names resolve to it. Spellings of addresses that the
 * resolver would accept but that are not plain dotted quads or IPv6
 * ("127.1", "2130706433", "0x7f.0.0.1") are refused as invalid names.
 *
 * Addresses reached through a name: the proxy resolves the name only once a
 * rule has allowed the request. A name allowed by a suffix rule may then only
 * lead to public addresses (never loopback, private, link-local or other
 * special-purpose ranges), so whoever controls a suffix's DNS cannot point the
 * proxy, which connects from the host, at the host's own services or its
 * neighbours. A name the allow-list spells out in full ("localhost",
 * "db.internal") is taken to mean whatever it resolves to on the host. */
#ifndef BRIG_WORKER_EGRESS_POLICY_H
#define BRIG_WORKER_EGRESS_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "schema/schema.h"

/* A list of rules that owns its host strings. */
struct egress_rules {
    struct brig_net_rule *rules;
    size_t count;
};

/* The most entries an operator's list may have. */
#define EGRESS_BOUND_MAX 256

/* Parses a comma-separated list ("pypi.org, *.example.com:443") with the
 * schema's syntax; NULL or "" is the empty list. Errors name the entry. */
int egress_rules_parse(const char *text, struct egress_rules *out, char *err, size_t errlen);
void egress_rules_free(struct egress_rules *rules);

/* The rule that allows exactly what both a and b allow; false when they share
 * no destination. out->host points into a's or b's host. */
bool egress_rule_intersect(const struct brig_net_rule *a, const struct brig_net_rule *b,
                           struct brig_net_rule *out);

/* The rules a job gets: each of its rules intersected with each rule of the
 * bound. A job without network gets none and 0 is returned. -1 with why
 * filled ("network" or "network.allow[i]" and a sentence) when the job asks
 * for network the bound does not allow at all. */
int egress_rules_bound(const struct brig_network *job, const struct egress_rules *bound,
                       struct egress_rules *out, struct brig_error *why);

struct egress_verdict {
    bool allowed;
    bool public_only;                   /* allowed by a suffix rule: public addresses only */
    char host[256];                     /* as checked: lowercase, no trailing dot */
    char rule[BRIG_ALLOW_RULE_MAX + 1]; /* allowed: the rule that allowed it */
    char reason[640];                   /* denied: why, naming the rule that came closest */
};

/* Decides host:port (an IPv6 address without brackets) against rules. */
void egress_decide(const struct egress_rules *rules, const char *host, uint16_t port,
                   struct egress_verdict *verdict);

/* False for loopback, private, link-local, shared, documentation, multicast
 * and other special-purpose addresses (IPv4, and IPv6 including the IPv4
 * addresses it embeds). */
bool egress_address_is_public(const struct sockaddr *addr);

#endif
