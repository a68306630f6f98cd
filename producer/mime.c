#include "producer/mime.h"

#include <string.h>

#include "common/common.h"

static bool has_suffix(const char *text, const char *suffix)
{
    size_t n = strlen(text), m = strlen(suffix);
    return n >= m && strcmp(text + n - m, suffix) == 0;
}

bool mime_is_text(const char *mime)
{
    static const char *const text_types[] = {"application/json", "application/javascript",
                                             "application/xml", "application/x-tex"};
    if (strncmp(mime, "text/", 5) == 0 || has_suffix(mime, "+xml") || has_suffix(mime, "+json"))
        return true;
    for (size_t i = 0; i < ARRAY_SIZE(text_types); i++) {
        if (strcmp(mime, text_types[i]) == 0)
            return true;
    }
    return false;
}

const char *mime_extension(const char *mime, bool *always)
{
    static const struct {
        const char *mime, *extension;
        bool always;
    } saved[] = {
        {"image/png", "png", true},     {"image/jpeg", "jpg", true},
        {"image/gif", "gif", true},     {"image/webp", "webp", true},
        {"image/svg+xml", "svg", true}, {"application/pdf", "pdf", true},
        {"text/html", "html", false},   {"application/json", "json", false},
        {"text/markdown", "md", false}, {"text/latex", "tex", false},
    };
    for (size_t i = 0; i < ARRAY_SIZE(saved); i++) {
        if (strcmp(mime, saved[i].mime) == 0) {
            *always = saved[i].always;
            return saved[i].extension;
        }
    }
    *always = false;
    return NULL;
}
