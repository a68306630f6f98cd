#include "common/properties.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *trimmed(const char *start, const char *end)
{
    while (start < end && isspace((unsigned char)*start))
        start++;
    while (end > start && isspace((unsigned char)end[-1]))
        end--;
    return strndup(start, (size_t)(end - start));
}

static int add(struct property_list *list, const char *text, const char *where, char *err,
               size_t errlen)
{
    const char *eq = strchr(text, '=');
    const char *end = text + strlen(text);
    char *key = eq ? trimmed(text, eq) : NULL;
    if (!eq || (key && !*key)) {
        snprintf(err, errlen, "%s%s: expected KEY=VALUE", where, text);
        free(key);
        return -1;
    }
    char *value = trimmed(eq + 1, end);
    struct property *grown = realloc(list->items, (list->count + 1) * sizeof(*grown));
    if (!key || !value || !grown) {
        snprintf(err, errlen, "%s%s: out of memory", where, text);
        free(key);
        free(value);
        if (grown)
            list->items = grown;
        return -1;
    }
    list->items = grown;
    list->items[list->count++] = (struct property){.key = key, .value = value};
    return 0;
}

int properties_add(struct property_list *list, const char *text, char *err, size_t errlen)
{
    return add(list, text, "", err, errlen);
}

int properties_read_file(struct property_list *list, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errlen, "reading Kafka properties from %s: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0, number = 0;
    while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
        number++;
        line[strcspn(line, "\r\n")] = '\0';
        const char *text = line + strspn(line, " \t");
        if (*text == '\0' || *text == '#' || *text == '!')
            continue;
        char where[4200];
        snprintf(where, sizeof(where), "%s line %d: ", path, number);
        rc = add(list, text, where, err, errlen);
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, errlen, "reading Kafka properties from %s: %s", path, strerror(errno));
        rc = -1;
    }
    free(line);
    fclose(f);
    return rc;
}

int properties_load(struct property_list *list, const char *path, struct property_list *overrides,
                    char *err, size_t errlen)
{
    if (!path || !*path)
        path = getenv("BRIG_KAFKA_CONFIG");
    if (path && *path && properties_read_file(list, path, err, errlen) < 0)
        return -1;
    struct property *grown =
        realloc(list->items, (list->count + overrides->count + 1) * sizeof(*grown));
    if (!grown) {
        snprintf(err, errlen, "Kafka properties: out of memory");
        return -1;
    }
    list->items = grown;
    memcpy(list->items + list->count, overrides->items, overrides->count * sizeof(*grown));
    list->count += overrides->count;
    free(overrides->items);
    overrides->items = NULL;
    overrides->count = 0;
    return 0;
}

void properties_free(struct property_list *list)
{
    for (size_t i = 0; i < list->count; i++) {
        free(list->items[i].key);
        free(list->items[i].value);
    }
    free(list->items);
    list->items = NULL;
    list->count = 0;
}
