#include "producer/json_put.h"

void json_put(json_t *object, const char *key, json_t *value, bool *ok)
{
    if (!object) {
        json_decref(value);
        *ok = false;
        return;
    }
    /* json_object_set_new() releases value when it fails. */
    if (!value || json_object_set_new(object, key, value) < 0)
        *ok = false;
}

void json_put_string(json_t *object, const char *key, const char *text, bool *ok)
{
    if (text)
        json_put(object, key, json_string(text), ok);
}

json_t *json_done(json_t *object, bool ok)
{
    if (ok)
        return object;
    json_decref(object);
    return NULL;
}

json_t *json_string_array(const char *const *items, size_t count)
{
    json_t *array = json_array();
    for (size_t i = 0; array && i < count; i++) {
        if (json_array_append_new(array, json_string(items[i])) < 0) {
            json_decref(array);
            return NULL;
        }
    }
    return array;
}
