#include <string.h>

#include "schema/rules.h"
#include "schema/scan.h"

/* Copies a str value that passes rule into out, if it fits. */
static bool take_text(const struct scan_item *value, const struct text_rule *rule, char *out,
                      size_t outlen)
{
    char why[64];
    if (value->kind != SCAN_STR || value->size < rule->min || value->size > rule->max ||
        value->size >= outlen || !rule->check(value->data, value->size, why, sizeof why))
        return false;
    memcpy(out, value->data, value->size);
    out[value->size] = '\0';
    return true;
}

bool brig_job_peek_reply(const void *buf, size_t len, char *id, size_t idlen, char *reply_topic,
                         size_t tlen)
{
    bool have_id = false, have_topic = false;
    if (idlen)
        id[0] = '\0';
    if (tlen)
        reply_topic[0] = '\0';
    struct scan s;
    struct scan_item top, key, value;
    scan_init(&s, buf, len);
    if (scan_item(&s, &top) != SCAN_OK || top.kind != SCAN_MAP)
        return false;
    for (uint32_t i = 0; i < top.size && !(have_id && have_topic); i++) {
        size_t key_pos = s.pos;
        if (scan_item(&s, &key) != SCAN_OK)
            break;
        if (key.kind != SCAN_STR) {
            s.pos = key_pos;
            if (scan_skip(&s, 2) != SCAN_OK || scan_skip(&s, 2) != SCAN_OK)
                break;
            continue;
        }
        size_t value_pos = s.pos;
        if (scan_item(&s, &value) != SCAN_OK)
            break;
        if (value.kind == SCAN_STR) {
            if (!have_id && key.size == 2 && memcmp(key.data, "id", 2) == 0)
                have_id = take_text(&value, &id_rule, id, idlen);
            else if (!have_topic && key.size == 11 && memcmp(key.data, "reply_topic", 11) == 0)
                have_topic = take_text(&value, &topic_rule, reply_topic, tlen);
        } else {
            s.pos = value_pos;
            if (scan_skip(&s, 2) != SCAN_OK)
                break;
        }
    }
    return have_id;
}
