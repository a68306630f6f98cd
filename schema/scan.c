#include "schema/scan.h"

#include "schema/error.h"

void scan_init(struct scan *s, const void *buf, size_t len)
{
    s->buf = buf;
    s->len = len;
    s->pos = 0;
    s->objects = 0;
}

static bool take(struct scan *s, size_t n, const unsigned char **out)
{
    if (s->len - s->pos < n)
        return false;
    *out = s->buf + s->pos;
    s->pos += n;
    return true;
}

static bool take_size(struct scan *s, size_t width, uint32_t *size)
{
    const unsigned char *p;
    if (!take(s, width, &p))
        return false;
    uint32_t v = 0;
    for (size_t i = 0; i < width; i++)
        v = v << 8 | p[i];
    *size = v;
    return true;
}

/* For a type byte that is followed by a length or count of width bytes. */
static enum scan_status sized(struct scan *s, struct scan_item *item, enum scan_kind kind,
                              size_t width)
{
    item->kind = kind;
    return take_size(s, width, &item->size) ? SCAN_OK : SCAN_TRUNCATED;
}

static enum scan_status header(struct scan *s, struct scan_item *item)
{
    const unsigned char *p;
    if (!take(s, 1, &p))
        return SCAN_TRUNCATED;
    unsigned char type = *p;
    item->kind = SCAN_SCALAR;
    item->size = 0;
    if (type <= 0x7f || type >= 0xe0 || type == 0xc0 || type == 0xc2 || type == 0xc3)
        return SCAN_OK;
    if (type <= 0x8f) {
        item->kind = SCAN_MAP, item->size = type & 0x0f;
        return SCAN_OK;
    }
    if (type <= 0x9f) {
        item->kind = SCAN_ARRAY, item->size = type & 0x0f;
        return SCAN_OK;
    }
    if (type <= 0xbf) {
        item->kind = SCAN_STR, item->size = type & 0x1f;
        return SCAN_OK;
    }
    switch (type) {
    case 0xc4:
    case 0xc5:
    case 0xc6:
        return sized(s, item, SCAN_BIN, (size_t)1 << (type - 0xc4));
    case 0xc7:
    case 0xc8:
    case 0xc9:
        if (sized(s, item, SCAN_EXT, (size_t)1 << (type - 0xc7)) != SCAN_OK)
            return SCAN_TRUNCATED;
        return take(s, 1, &p) ? SCAN_OK : SCAN_TRUNCATED; /* the ext type */
    case 0xca:
    case 0xcb:
        item->size = type == 0xca ? 4 : 8;
        return SCAN_OK;
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf:
        item->size = 1u << (type - 0xcc);
        return SCAN_OK;
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3:
        item->size = 1u << (type - 0xd0);
        return SCAN_OK;
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8:
        item->kind = SCAN_EXT, item->size = 1u << (type - 0xd4);
        return take(s, 1, &p) ? SCAN_OK : SCAN_TRUNCATED; /* the ext type */
    case 0xd9:
    case 0xda:
    case 0xdb:
        return sized(s, item, SCAN_STR, (size_t)1 << (type - 0xd9));
    case 0xdc:
    case 0xdd:
        return sized(s, item, SCAN_ARRAY, type == 0xdc ? 2 : 4);
    case 0xde:
    case 0xdf:
        return sized(s, item, SCAN_MAP, type == 0xde ? 2 : 4);
    default: /* 0xc1, the one byte msgpack never uses */
        return SCAN_RESERVED_BYTE;
    }
}

enum scan_status scan_item(struct scan *s, struct scan_item *item)
{
    enum scan_status status = header(s, item);
    if (status != SCAN_OK)
        return status;
    if (++s->objects > BRIG_MAX_OBJECTS)
        return SCAN_TOO_MANY_OBJECTS;
    item->data = NULL;
    if (item->kind != SCAN_ARRAY && item->kind != SCAN_MAP) {
        const unsigned char *payload;
        if (!take(s, item->size, &payload))
            return SCAN_TRUNCATED;
        item->data = (const char *)payload;
        if (item->kind == SCAN_SCALAR)
            item->size = 0;
    }
    return SCAN_OK;
}

static uint64_t children(const struct scan_item *item)
{
    return item->kind == SCAN_MAP     ? 2 * (uint64_t)item->size
           : item->kind == SCAN_ARRAY ? item->size
                                      : 0;
}

/* Every object takes at least one byte, so a count the bytes left cannot hold
 * is truncated however the elements are encoded. It is judged at the header,
 * before the count bounds: a map claiming 2^32-1 keys over 3 bytes is cut
 * short, not a map with too many keys. */
static bool holds(const struct scan *s, const struct scan_item *item)
{
    return children(item) <= s->len - s->pos;
}

static enum scan_status skip_children(struct scan *s, const struct scan_item *item, unsigned level)
{
    if (!holds(s, item))
        return SCAN_TRUNCATED;
    if (item->kind == SCAN_MAP && item->size > BRIG_MAX_MAP_ENTRIES)
        return SCAN_TOO_MANY_ENTRIES;
    uint64_t n = children(item);
    for (uint64_t i = 0; i < n; i++) {
        enum scan_status status = scan_skip(s, level + 1);
        if (status != SCAN_OK)
            return status;
    }
    return SCAN_OK;
}

enum scan_status scan_skip(struct scan *s, unsigned level)
{
    if (level > BRIG_MAX_DEPTH)
        return SCAN_TOO_DEEP;
    struct scan_item item;
    enum scan_status status = scan_item(s, &item);
    if (status != SCAN_OK)
        return status;
    return skip_children(s, &item, level);
}

static int scan_error(struct brig_error *err, const char *field, enum scan_status status)
{
    switch (status) {
    case SCAN_TRUNCATED:
        return error_set(err, "", "truncated: the message ends inside an object");
    case SCAN_RESERVED_BYTE:
        return error_set(err, "", "invalid msgpack: reserved byte 0xc1");
    case SCAN_TOO_DEEP:
        return error_set(err, field, "too deep: more than %d levels of nesting", BRIG_MAX_DEPTH);
    case SCAN_TOO_MANY_OBJECTS:
        return error_set(err, field, "too many objects: more than %d", BRIG_MAX_OBJECTS);
    case SCAN_TOO_MANY_ENTRIES:
        return error_set(err, field, "too many entries in a map (max %d)", BRIG_MAX_MAP_ENTRIES);
    case SCAN_OK:
        break;
    }
    return 0;
}

int scan_message(const void *buf, size_t len, struct brig_error *err)
{
    struct scan s;
    scan_init(&s, buf, len);
    struct scan_item top;
    enum scan_status status = scan_item(&s, &top);
    if (status == SCAN_OK && top.kind != SCAN_MAP)
        status = skip_children(&s, &top, 1);
    else if (status == SCAN_OK && !holds(&s, &top))
        status = SCAN_TRUNCATED;
    if (status != SCAN_OK)
        return scan_error(err, "", status);
    if (top.kind == SCAN_MAP && top.size > BRIG_MAX_TOP_KEYS)
        return error_set(err, "", "too many keys: %u (max %d)", top.size, BRIG_MAX_TOP_KEYS);
    for (uint32_t i = 0; top.kind == SCAN_MAP && i < top.size; i++) {
        struct scan_item key;
        status = scan_item(&s, &key);
        if (status == SCAN_OK)
            status = skip_children(&s, &key, 2);
        if (status != SCAN_OK)
            return scan_error(err, "", status);
        char field[sizeof err->field] = "";
        if (key.kind == SCAN_STR)
            error_member_path(field, "", key.data, key.size);
        status = scan_skip(&s, 2);
        if (status != SCAN_OK)
            return scan_error(err, field, status);
    }
    if (s.pos != len)
        return error_set(err, "", "trailing bytes: %zu after the message", len - s.pos);
    return 0;
}
