#include "schema/network.h"

#include <stdio.h>
#include <string.h>

#include "schema/error.h"
#include "schema/netrule.h"

static const struct text_rule allow_entry_rule = {1, BRIG_ALLOW_RULE_MAX, NULL};

static int decode_rule(struct decoder *d, const msgpack_object *o, size_t index,
                       struct brig_net_rule *rule)
{
    char field[sizeof d->err->field];
    snprintf(field, sizeof field, "network.allow[%zu]", index);
    const char *entry;
    if (read_text(d, o, field, &allow_entry_rule, &entry) < 0)
        return -1;
    struct net_rule_parts parts;
    char why[sizeof d->err->reason];
    if (!net_rule_parse(entry, strlen(entry), &parts, why, sizeof why))
        return error_set(d->err, field, "%s", why);
    rule->host = decoder_copy(d, field, entry + parts.host_start, parts.host_len);
    rule->wildcard = parts.wildcard;
    rule->port = parts.port;
    return rule->host ? 0 : -1;
}

/* An unknown key inside network is an error for the same reason as in
 * limits: dropping a rule would change what the job may reach. */
int decode_network(struct decoder *d, const msgpack_object *o, struct brig_network *network)
{
    static const char *const names[] = {"allow"};
    const msgpack_object *allow;
    if (o->type == MSGPACK_OBJECT_STR) {
        if (o->via.str.size == 4 && memcmp(o->via.str.ptr, "none", 4) == 0)
            return 0;
        return error_set(d->err, "network",
                         "unknown network mode: the only string allowed is \"none\"");
    }
    if (o->type != MSGPACK_OBJECT_MAP)
        return wrong_type(d, o, "network", "\"none\" or a map");
    if (read_fields(d, o, "network", names, 1, &allow, false) < 0 ||
        read_required(d, allow, "network.allow") < 0 ||
        read_array(d, allow, "network.allow", BRIG_ALLOW_MAX) < 0)
        return -1;
    network->mode = BRIG_NETWORK_ALLOW;
    uint32_t n = allow->via.array.size;
    if (n == 0)
        return 0;
    network->rules = decoder_alloc(d, "network.allow", n * sizeof *network->rules);
    if (!network->rules)
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        if (decode_rule(d, &allow->via.array.ptr[i], i, &network->rules[i]) < 0)
            return -1;
    }
    network->rule_count = n;
    return 0;
}

void encode_network(struct writer *w, struct map_mark *m, const struct brig_network *network)
{
    if (network->mode != BRIG_NETWORK_ALLOW)
        return;
    struct map_mark inner;
    write_key(w, m, "network");
    write_map_begin(w, &inner);
    write_key(w, &inner, "allow");
    if (msgpack_pack_array(&w->pk, network->rule_count) != 0)
        w->failed = true;
    for (size_t i = 0; i < network->rule_count; i++) {
        /* a rule without a host or too long to print goes out as nil, for
         * the check to refuse */
        char entry[BRIG_ALLOW_RULE_MAX + 2];
        const struct brig_net_rule *rule = &network->rules[i];
        write_text_value(w, rule->host && net_rule_format(rule, entry, sizeof entry) >= 0 ? entry
                                                                                          : NULL);
    }
    write_map_end(w, &inner);
}
