#include "worker/tenants_file.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "common/units.h"

/* Where a parse error is, so that messages name it. */
struct place {
    const char *path;
    size_t index;
    const char *name; /* the tenant's, once known */
    char *err;
    size_t errlen;
};

__attribute__((format(printf, 3, 4))) static int fail(const struct place *p, const char *field,
                                                      const char *fmt, ...)
{
    char problem[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(problem, sizeof problem, fmt, ap);
    va_end(ap);
    if (p->name)
        snprintf(p->err, p->errlen, "%s: tenants[%zu] (\"%s\"): %s: %s", p->path, p->index, p->name,
                 field, problem);
    else
        snprintf(p->err, p->errlen, "%s: tenants[%zu]: %s: %s", p->path, p->index, field, problem);
    return -1;
}

static void strv_release(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

static void caps_free(struct tenant_caps *caps)
{
    strv_release(caps->runtimes);
    strv_release(caps->images);
    egress_rules_free(&caps->egress);
}

void tenant_table_free(struct tenant_table *table)
{
    if (!table)
        return;
    for (size_t i = 0; i < table->count; i++)
        caps_free(&table->tenants[i].caps);
    free(table->tenants);
    free(table);
}

static const char *const known_fields[] = {
    "name",   "keys",   "limits", "concurrent_jobs", "cpu_seconds_per_hour", "runtimes",
    "images", "egress", NULL,
};

static int check_fields(const struct place *p, json_t *object)
{
    const char *key;
    json_t *value;
    json_object_foreach(object, key, value)
    {
        size_t i = 0;
        while (known_fields[i] && strcmp(known_fields[i], key) != 0)
            i++;
        if (!known_fields[i])
            return fail(p, key,
                        "unknown field (fields: name, keys, limits, concurrent_jobs, "
                        "cpu_seconds_per_hour, runtimes, images, egress)");
    }
    return 0;
}

static int parse_keys(const struct place *p, json_t *keys, struct tenant *t)
{
    size_t n = json_array_size(keys);
    if (!json_is_array(keys) || n == 0 || n > TENANT_KEYS_MAX)
        return fail(p, "keys",
                    "1 to %d public keys (\"ed25519:...\", as brig keygen prints) "
                    "are needed",
                    TENANT_KEYS_MAX);
    for (size_t i = 0; i < n; i++) {
        const char *text = json_string_value(json_array_get(keys, i));
        char field[32], why[192];
        snprintf(field, sizeof field, "keys[%zu]", i);
        if (!text)
            return fail(p, field, "must be a string");
        if (brig_public_key_parse(text, t->keys[i], why, sizeof why) < 0)
            return fail(p, field, "%s", why);
    }
    t->n_keys = n;
    return 0;
}

/* One limit: a number in its own unit, or a string in the unit its name
 * says. */
static int parse_limit(const struct place *p, const struct brig_limit_info *info, json_t *value,
                       uint64_t *out)
{
    char field[64], why[256];
    snprintf(field, sizeof field, "limits.%s", info->name);
    if (json_is_integer(value) && json_integer_value(value) >= 0) {
        *out = (uint64_t)json_integer_value(value);
    } else if (json_is_string(value)) {
        const char *text = json_string_value(value);
        size_t len = strlen(info->name);
        int rc;
        if (strcmp(info->name, "cpu_millis") == 0) {
            uint32_t millis = 0;
            rc = units_parse_cpus(text, &millis, why, sizeof why);
            *out = millis;
        } else if (len > 3 && strcmp(info->name + len - 3, "_ms") == 0) {
            rc = units_parse_duration_ms(text, out, why, sizeof why);
        } else if (len > 6 && strcmp(info->name + len - 6, "_bytes") == 0) {
            rc = units_parse_size(text, out, why, sizeof why);
        } else {
            rc = units_parse_count(text, out, why, sizeof why);
        }
        if (rc < 0)
            return fail(p, field, "%s", why);
    } else {
        return fail(p, field, "must be a number or a string");
    }
    if (*out < info->min || *out > info->max)
        return fail(p, field, "%llu is out of range (%llu to %llu, SCHEMA.md 5.1)",
                    (unsigned long long)*out, (unsigned long long)info->min,
                    (unsigned long long)info->max);
    return 0;
}

static int parse_limits(const struct place *p, json_t *limits, struct brig_limits *out)
{
    if (!limits)
        return 0;
    if (!json_is_object(limits))
        return fail(p, "limits", "must be an object of SCHEMA.md 5.1's limits");
    const char *key;
    json_t *value;
    json_object_foreach(limits, key, value)
    {
        const struct brig_limit_info *info = NULL;
        for (size_t i = 0; (info = brig_limit_info(i)) && strcmp(info->name, key) != 0; i++)
            ;
        if (!info) {
            char field[80];
            snprintf(field, sizeof field, "limits.%.64s", key);
            return fail(p, field, "unknown limit (SCHEMA.md 5.1)");
        }
        if (parse_limit(p, info, value, brig_limit_field(out, info)) < 0)
            return -1;
    }
    return 0;
}

static int parse_positive(const struct place *p, json_t *object, const char *field, bool duration,
                          uint64_t max, uint64_t *out)
{
    json_t *value = json_object_get(object, field);
    char why[256];
    if (!value)
        return 0;
    if (json_is_integer(value) && json_integer_value(value) > 0) {
        *out = (uint64_t)json_integer_value(value);
    } else if (duration && json_is_string(value)) {
        uint64_t ms;
        if (units_parse_duration_ms(json_string_value(value), &ms, why, sizeof why) < 0)
            return fail(p, field, "%s", why);
        *out = ms / 1000;
    } else {
        return fail(p, field, "must be a whole number greater than 0%s",
                    duration ? ", or a duration (\"600s\")" : "");
    }
    if (*out == 0 || *out > max)
        return fail(p, field, "must be 1 to %llu", (unsigned long long)max);
    return 0;
}

/* A list of strings, each checked by check (NULL: any): copied into *out,
 * NULL-terminated. */
static int parse_names(const struct place *p, json_t *list, const char *field,
                       int (*check)(const struct place *, const char *field, const char *name,
                                    void *ctx, char **canonical),
                       void *ctx, char ***out)
{
    if (!list)
        return 0;
    size_t n = json_array_size(list);
    if (!json_is_array(list))
        return fail(p, field, "must be an array of strings");
    if (!(*out = calloc(n + 1, sizeof **out)))
        return fail(p, field, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *name = json_string_value(json_array_get(list, i));
        char item[64];
        snprintf(item, sizeof item, "%s[%zu]", field, i);
        if (!name || !*name)
            return fail(p, item, "must be a non-empty string");
        if (check(p, item, name, ctx, &(*out)[i]) < 0)
            return -1;
        if (!(*out)[i])
            return fail(p, item, "out of memory");
    }
    return 0;
}

struct runtime_lookup {
    tenant_runtime_fn fn;
    void *ctx;
};

static int check_runtime(const struct place *p, const char *field, const char *name, void *ctx,
                         char **canonical)
{
    const struct runtime_lookup *lookup = ctx;
    const char *found = strcmp(name, TENANT_ARGV) == 0 ? name : lookup->fn(lookup->ctx, name);
    if (!found)
        return fail(p, field, "\"%s\": this worker has no such runtime (\"%s\" allows argv jobs)",
                    name, TENANT_ARGV);
    *canonical = strdup(found);
    return 0;
}

static int check_image(const struct place *p, const char *field, const char *name, void *ctx,
                       char **copy)
{
    (void)ctx;
    if (strcmp(name, TENANT_HOST_IMAGE) != 0 && name[0] != '/' && strncmp(name, "sha256:", 7) != 0)
        return fail(p, field,
                    "\"%s\": \"%s\" (the host's /usr), an image path as in the runtime table, or "
                    "an image digest \"sha256:...\" is expected",
                    name, TENANT_HOST_IMAGE);
    *copy = strdup(name);
    return 0;
}

/* The rules, joined as --egress-allow takes them, so that one parser reads
 * both and errors count entries the same way. */
static int parse_egress(const struct place *p, json_t *list, struct tenant_caps *caps)
{
    if (!list)
        return 0;
    size_t n = json_array_size(list);
    if (!json_is_array(list) || n > EGRESS_BOUND_MAX)
        return fail(p, "egress", "must be an array of at most %d network rules (SCHEMA.md 5.2)",
                    EGRESS_BOUND_MAX);
    size_t cap = n * (BRIG_ALLOW_RULE_MAX + 1) + 1, used = 0;
    char *joined = calloc(1, cap), why[512];
    if (!joined)
        return fail(p, "egress", "out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *rule = json_string_value(json_array_get(list, i));
        if (!rule || strchr(rule, ',') || strlen(rule) > BRIG_ALLOW_RULE_MAX) {
            free(joined);
            return fail(p, "egress", "entry %zu: a network rule (SCHEMA.md 5.2) is expected",
                        i + 1);
        }
        used += (size_t)snprintf(joined + used, cap - used, "%s%s", i ? "," : "", rule);
    }
    int rc = egress_rules_parse(joined, &caps->egress, why, sizeof why);
    free(joined);
    if (rc < 0)
        return fail(p, "egress", "%s", why);
    caps->egress_set = true;
    return 0;
}

static int parse_tenant(struct place *p, json_t *object, const struct runtime_lookup *lookup,
                        struct tenant *t)
{
    if (!json_is_object(object))
        return fail(p, "", "must be an object");
    const char *name = json_string_value(json_object_get(object, "name"));
    char why[192];
    if (!name)
        return fail(p, "name", "missing, or not a string");
    if (!brig_tenant_name_ok(name, strlen(name), why, sizeof why))
        return fail(p, "name", "\"%s\": %s", name, why);
    snprintf(t->name, sizeof t->name, "%s", name);
    p->name = t->name;
    uint64_t jobs = 0, cpu_seconds = 0;
    if (check_fields(p, object) < 0 || parse_keys(p, json_object_get(object, "keys"), t) < 0 ||
        parse_limits(p, json_object_get(object, "limits"), &t->caps.limits) < 0 ||
        parse_positive(p, object, "concurrent_jobs", false, 4096, &jobs) < 0 ||
        parse_positive(p, object, "cpu_seconds_per_hour", true, 1000000, &cpu_seconds) < 0 ||
        parse_names(p, json_object_get(object, "runtimes"), "runtimes", check_runtime,
                    (void *)lookup, &t->caps.runtimes) < 0 ||
        parse_names(p, json_object_get(object, "images"), "images", check_image, NULL,
                    &t->caps.images) < 0 ||
        parse_egress(p, json_object_get(object, "egress"), &t->caps) < 0)
        return -1;
    t->caps.concurrent_jobs = (unsigned)jobs;
    t->caps.cpu_us_per_hour = cpu_seconds * 1000000;
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct tenant *)a)->name, ((const struct tenant *)b)->name);
}

struct key_owner {
    const uint8_t *key;
    const char *tenant;
};

static int by_key(const void *a, const void *b)
{
    return memcmp(((const struct key_owner *)a)->key, ((const struct key_owner *)b)->key,
                  BRIG_ED25519_KEY_BYTES);
}

/* A key that two tenants share would let either sign as the other. */
static int check_keys_apart(const char *path, const struct tenant_table *table, char *err,
                            size_t errlen)
{
    size_t n = 0;
    for (size_t i = 0; i < table->count; i++)
        n += table->tenants[i].n_keys;
    struct key_owner *all = calloc(n ? n : 1, sizeof *all);
    if (!all) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    n = 0;
    for (size_t i = 0; i < table->count; i++)
        for (size_t k = 0; k < table->tenants[i].n_keys; k++)
            all[n++] = (struct key_owner){table->tenants[i].keys[k], table->tenants[i].name};
    qsort(all, n, sizeof *all, by_key);
    int rc = 0;
    for (size_t i = 1; i < n && rc == 0; i++)
        if (by_key(&all[i - 1], &all[i]) == 0 && strcmp(all[i - 1].tenant, all[i].tenant) != 0) {
            snprintf(err, errlen,
                     "%s: tenants \"%s\" and \"%s\" have the same key: either could sign as "
                     "the other",
                     path, all[i - 1].tenant, all[i].tenant);
            rc = -1;
        }
    free(all);
    return rc;
}

int tenant_table_load(const char *path, tenant_runtime_fn runtime_of, void *ctx,
                      struct tenant_table **out, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    *out = NULL;
    if (!root) {
        snprintf(err, errlen, "%s: line %d: %s", path, jerr.line, jerr.text);
        return -1;
    }
    json_t *list = json_object_get(root, "tenants");
    size_t n = json_array_size(list);
    struct tenant_table *table = calloc(1, sizeof *table);
    struct place p = {.path = path, .err = err, .errlen = errlen};
    struct runtime_lookup lookup = {runtime_of, ctx};
    int rc = -1;
    if (!json_is_object(root) || json_object_size(root) != 1 || !json_is_array(list) ||
        n > TENANTS_MAX) {
        snprintf(err, errlen,
                 "%s: an object with one field, \"tenants\": an array of at most %d "
                 "tenants, is expected",
                 path, TENANTS_MAX);
        goto out;
    }
    if (!table || !(table->tenants = calloc(n ? n : 1, sizeof *table->tenants))) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    for (p.index = 0; p.index < n; p.index++) {
        p.name = NULL;
        table->count++;
        if (parse_tenant(&p, json_array_get(list, p.index), &lookup, &table->tenants[p.index]) < 0)
            goto out;
    }
    qsort(table->tenants, table->count, sizeof *table->tenants, by_name);
    for (size_t i = 1; i < table->count; i++)
        if (strcmp(table->tenants[i - 1].name, table->tenants[i].name) == 0) {
            snprintf(err, errlen, "%s: tenant \"%s\" is listed twice", path,
                     table->tenants[i].name);
            goto out;
        }
    if (check_keys_apart(path, table, err, errlen) < 0)
        goto out;
    *out = table;
    table = NULL;
    rc = 0;
out:
    tenant_table_free(table);
    json_decref(root);
    return rc;
}

static int name_order(const void *name, const void *t)
{
    return strcmp(name, ((const struct tenant *)t)->name);
}

const struct tenant *tenant_find(const struct tenant_table *table, const char *name)
{
    return bsearch(name, table->tenants, table->count, sizeof *table->tenants, name_order);
}
