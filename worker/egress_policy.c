#include "worker/egress_policy.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/netrule.h"
#include "common/common.h"

/* ---- rule lists ---- */

static int rules_add(struct egress_rules *list, const char *host, size_t host_len, bool wildcard,
                     uint16_t port)
{
    char *copy = strndup(host, host_len);
    struct brig_net_rule *grown =
        copy ? realloc(list->rules, (list->count + 1) * sizeof(*grown)) : NULL;
    if (!grown) {
        free(copy);
        return -1;
    }
    list->rules = grown;
    list->rules[list->count++] = (struct brig_net_rule){copy, wildcard, port};
    return 0;
}

void egress_rules_free(struct egress_rules *list)
{
    for (size_t i = 0; i < list->count; i++)
        free((char *)list->rules[i].host);
    free(list->rules);
    list->rules = NULL;
    list->count = 0;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

int egress_rules_parse(const char *text, struct egress_rules *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (text == NULL || text[0] == '\0')
        return 0;
    const char *entry = text;
    for (size_t n = 1;; n++) {
        const char *comma = strchr(entry, ',');
        const char *end = comma ? comma : entry + strlen(entry);
        const char *start = entry;
        while (start < end && is_blank(*start))
            start++;
        while (end > start && is_blank(end[-1]))
            end--;
        size_t len = (size_t)(end - start);
        struct net_rule_parts parts;
        char why[192];
        if (len == 0) {
            snprintf(err, errlen, "entry %zu is empty", n);
            goto fail;
        }
        if (n > EGRESS_BOUND_MAX) {
            snprintf(err, errlen, "more than %d entries", EGRESS_BOUND_MAX);
            goto fail;
        }
        if (!net_rule_parse(start, len, &parts, why, sizeof(why))) {
            snprintf(err, errlen, "entry %zu \"%.*s\": %s", n, (int)(len > 64 ? 64 : len), start,
                     why);
            goto fail;
        }
        if (rules_add(out, start + parts.host_start, parts.host_len, parts.wildcard, parts.port) <
            0) {
            snprintf(err, errlen, "entry %zu: out of memory", n);
            goto fail;
        }
        if (!comma)
            return 0;
        entry = comma + 1;
    }
fail:
    egress_rules_free(out);
    return -1;
}

/* ---- hosts ---- */

struct address {
    int family; /* AF_INET, AF_INET6, or 0 for a name */
    unsigned char bytes[16];
};

static struct address address_of(const char *host)
{
    struct address a = {0};
    if (inet_pton(AF_INET, host, a.bytes) == 1)
        a.family = AF_INET;
    else if (inet_pton(AF_INET6, host, a.bytes) == 1)
        a.family = AF_INET6;
    return a;
}

static bool same_address(const struct address *a, const struct address *b)
{
    size_t len = a->family == AF_INET ? 4 : 16;
    return a->family == b->family && memcmp(a->bytes, b->bytes, len) == 0;
}

/* name is "<something>.suffix". */
static bool under_suffix(const char *name, const char *suffix)
{
    size_t n = strlen(name), s = strlen(suffix);
    return n > s + 1 && name[n - s - 1] == '.' && memcmp(name + n - s, suffix, s) == 0;
}

/* Whether rule's host covers host (already lowercase; addr its address form). */
static bool host_matches(const struct brig_net_rule *rule, const char *host,
                         const struct address *addr)
{
    struct address rule_addr = address_of(rule->host);
    if (rule_addr.family != 0 || addr->family != 0)
        return !rule->wildcard && same_address(&rule_addr, addr);
    return rule->wildcard ? under_suffix(host, rule->host) : strcmp(host, rule->host) == 0;
}

bool egress_rule_intersect(const struct brig_net_rule *a, const struct brig_net_rule *b,
                           struct brig_net_rule *out)
{
    if (a->port != 0 && b->port != 0 && a->port != b->port)
        return false;
    *out = *a;
    out->port = a->port ? a->port : b->port;
    struct address a_addr = address_of(a->host), b_addr = address_of(b->host);
    if (a_addr.family != 0 || b_addr.family != 0)
        return same_address(&a_addr, &b_addr);
    if (!a->wildcard && !b->wildcard)
        return strcmp(a->host, b->host) == 0;
    if (!a->wildcard)
        return under_suffix(a->host, b->host);
    if (!b->wildcard) {
        out->host = b->host;
        out->wildcard = false;
        return under_suffix(b->host, a->host);
    }
    /* Two suffixes: the narrower, when one lies under the other. */
    if (strcmp(a->host, b->host) == 0 || under_suffix(a->host, b->host))
        return true;
    out->host = b->host;
    return under_suffix(b->host, a->host);
}

int egress_rules_bound(const struct brig_network *job, const struct egress_rules *bound,
                       struct egress_rules *out, struct brig_error *why)
{
    memset(out, 0, sizeof(*out));
    if (job->mode != BRIG_NETWORK_ALLOW || job->rule_count == 0)
        return 0;
    if (bound->count == 0) {
        snprintf(why->field, sizeof(why->field), "network");
        snprintf(why->reason, sizeof(why->reason),
                 "this worker gives jobs no network (its operator allowed no egress with "
                 "--egress-allow)");
        return -1;
    }
    for (size_t i = 0; i < job->rule_count; i++) {
        bool shared = false;
        for (size_t j = 0; j < bound->count; j++) {
            struct brig_net_rule both;
            if (!egress_rule_intersect(&job->rules[i], &bound->rules[j], &both))
                continue;
            shared = true;
            if (rules_add(out, both.host, strlen(both.host), both.wildcard, both.port) < 0) {
                snprintf(why->field, sizeof(why->field), "network");
                snprintf(why->reason, sizeof(why->reason), "out of memory");
                egress_rules_free(out);
                return -1;
            }
        }
        if (!shared) {
            char text[BRIG_ALLOW_RULE_MAX + 1];
            net_rule_format(&job->rules[i], text, sizeof(text));
            snprintf(why->field, sizeof(why->field), "network.allow[%zu]", i);
            snprintf(why->reason, sizeof(why->reason),
                     "\"%.100s\" is outside what this worker allows (--egress-allow)", text);
            egress_rules_free(out);
            return -1;
        }
    }
    return 0;
}

/* ---- decisions ---- */

/* Lowercase, without one trailing dot; false when nothing is left or it is too long. */
static bool normalize_host(const char *host, char *out, size_t outlen)
{
    size_t len = strlen(host);
    if (len > 0 && host[len - 1] == '.')
        len--;
    if (len == 0 || len >= outlen)
        return false;
    for (size_t i = 0; i < len; i++)
        out[i] = (char)tolower((unsigned char)host[i]);
    out[len] = '\0';
    return true;
}

/* A DNS name as the schema writes one (an address is not a name). */
static bool is_valid_name(const char *host)
{
    struct net_rule_parts parts;
    char why[192];
    size_t len = strlen(host);
    return strchr(host, ':') == NULL && net_rule_parse(host, len, &parts, why, sizeof(why)) &&
           !parts.wildcard && parts.host_len == len;
}

static void format_destination(const char *host, uint16_t port, char *out, size_t outlen)
{
    bool ipv6 = strchr(host, ':') != NULL;
    snprintf(out, outlen, "%s%s%s:%u", ipv6 ? "[" : "", host, ipv6 ? "]" : "", (unsigned)port);
}

void egress_decide(const struct egress_rules *rules, const char *host, uint16_t port,
                   struct egress_verdict *v)
{
    memset(v, 0, sizeof(*v));
    char shown[300];
    if (!normalize_host(host, v->host, sizeof(v->host))) {
        snprintf(v->reason, sizeof(v->reason), "the host \"%.64s\" is empty or too long", host);
        return;
    }
    struct address addr = address_of(v->host);
    format_destination(v->host, port, shown, sizeof(shown));
    if (addr.family == 0 && !is_valid_name(v->host)) {
        snprintf(v->reason, sizeof(v->reason),
                 "\"%.253s\" is neither a valid host name nor an IPv4 or IPv6 address", v->host);
        return;
    }
    /* Rules that spell the host out come first: they say more than a suffix. */
    const struct brig_net_rule *closest = NULL;
    for (size_t k = 0; k < 2 * rules->count; k++) {
        const struct brig_net_rule *rule = &rules->rules[k % rules->count];
        if (rule->wildcard != (k >= rules->count) || !host_matches(rule, v->host, &addr))
            continue;
        if (rule->port != 0 && rule->port != port) {
            closest = closest ? closest : rule;
            continue;
        }
        v->allowed = true;
        v->public_only = rule->wildcard;
        net_rule_format(rule, v->rule, sizeof(v->rule));
        return;
    }
    if (closest) {
        char text[BRIG_ALLOW_RULE_MAX + 1];
        net_rule_format(closest, text, sizeof(text));
        snprintf(v->reason, sizeof(v->reason), "rule \"%s\" allows port %u only, not %s", text,
                 (unsigned)closest->port, shown);
    } else if (addr.family != 0) {
        snprintf(v->reason, sizeof(v->reason),
                 "%s is an IP address and no rule names it (name rules never match addresses)",
                 shown);
    } else {
        snprintf(v->reason, sizeof(v->reason), "no rule of the allow-list matches %s", shown);
    }
}

/* ---- addresses ---- */

struct prefix {
    unsigned char bytes[16];
    unsigned bits;
};

static bool in_prefix(const unsigned char *addr, const struct prefix *p)
{
    unsigned whole = p->bits / 8, rest = p->bits % 8;
    if (memcmp(addr, p->bytes, whole) != 0)
        return false;
    return rest == 0 || ((addr[whole] ^ p->bytes[whole]) & (0xff << (8 - rest))) == 0;
}

/* IANA's special-purpose ranges, taken whole (the few globally reachable
 * addresses inside some of them are refused too), multicast and 240/4. */
static const struct prefix special_v4[] = {
    {{0}, 8},
    {{10}, 8},
    {{100, 64}, 10},
    {{127}, 8},
    {{169, 254}, 16},
    {{172, 16}, 12},
    {{192, 0, 0}, 24},
    {{192, 0, 2}, 24},
    {{192, 88, 99}, 24},
    {{192, 168}, 16},
    {{198, 18}, 15},
    {{198, 51, 100}, 24},
    {{203, 0, 113}, 24},
    {{224}, 4},
    {{240}, 4},
};

static const struct prefix special_v6[] = {
    {{0}, 96},                            /* unspecified, loopback, IPv4-compatible */
    {{0x01, 0x00}, 64},                   /* discard */
    {{0x00, 0x64, 0xff, 0x9b, 0, 1}, 48}, /* local NAT64 */
    {{0x20, 0x01}, 23},                   /* IETF protocol assignments, Teredo */
    {{0x20, 0x01, 0x0d, 0xb8}, 32},       /* documentation */
    {{0x3f, 0xff}, 20},                   /* documentation */
    {{0x5f, 0x00}, 16},                   /* segment routing */
    {{0xfc}, 7},                          /* unique local */
    {{0xfe, 0x80}, 10},                   /* link-local */
    {{0xfe, 0xc0}, 10},                   /* site-local */
    {{0xff}, 8},                          /* multicast */
};

/* IPv6 ranges that carry an IPv4 address, and where. */
static const struct {
    struct prefix prefix;
    unsigned offset;
} embedding_v6[] = {
    {{{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 96}, 12}, /* IPv4-mapped */
    {{{0x00, 0x64, 0xff, 0x9b}, 96}, 12},                   /* NAT64 */
    {{{0x20, 0x02}, 16}, 2},                                /* 6to4 */
};

static bool ipv4_is_public(const unsigned char *addr)
{
    for (size_t i = 0; i < ARRAY_SIZE(special_v4); i++) {
        if (in_prefix(addr, &special_v4[i]))
            return false;
    }
    return true;
}

bool egress_address_is_public(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return ipv4_is_public((const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr);
    if (sa->sa_family != AF_INET6)
        return false;
    const unsigned char *addr = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    for (size_t i = 0; i < ARRAY_SIZE(embedding_v6); i++) {
        if (in_prefix(addr, &embedding_v6[i].prefix))
            return ipv4_is_public(addr + embedding_v6[i].offset);
    }
    for (size_t i = 0; i < ARRAY_SIZE(special_v6); i++) {
        if (in_prefix(addr, &special_v6[i]))
            return false;
    }
    return true;
}
