#include "schema/paths.h"

#include <stdio.h>
#include <string.h>

#include "schema/text.h"

static bool check_path_like(const char *s, size_t len, const char *noun, char *why, size_t whylen)
{
    if (!check_single_line(s, len, why, whylen))
        return false;
    if (len > 0 && s[0] == '/') {
        snprintf(why, whylen, "invalid %s: absolute", noun);
        return false;
    }
    size_t start = 0;
    while (start <= len) {
        const char *slash = memchr(s + start, '/', len - start);
        size_t end = slash ? (size_t)(slash - s) : len;
        size_t n = end - start;
        if (n == 0) {
            snprintf(why, whylen, "invalid %s: empty component", noun);
            return false;
        }
        if ((n == 1 && s[start] == '.') || (n == 2 && memcmp(s + start, "..", 2) == 0)) {
            snprintf(why, whylen, "invalid %s: \".\" or \"..\" component", noun);
            return false;
        }
        if (n > BRIG_PATH_COMPONENT_MAX) {
            snprintf(why, whylen, "invalid %s: component of %zu bytes (max %d)", noun, n,
                     BRIG_PATH_COMPONENT_MAX);
            return false;
        }
        start = end + 1;
    }
    return true;
}

bool check_relative_path(const char *s, size_t len, char *why, size_t whylen)
{
    return check_path_like(s, len, "path", why, whylen);
}

bool check_glob(const char *s, size_t len, char *why, size_t whylen)
{
    return check_path_like(s, len, "pattern", why, whylen);
}

bool find_path_conflict(const struct brig_file *files, size_t count, size_t *file, size_t *parent)
{
    for (size_t i = 0; i < count; i++) {
        for (size_t j = 0; j < count; j++) {
            const char *path = files[i].path, *other = files[j].path;
            size_t k = 0;
            while (other[k] && other[k] == path[k])
                k++;
            if (!other[k] && path[k] == '/') {
                *file = i;
                *parent = j;
                return true;
            }
        }
    }
    return false;
}
