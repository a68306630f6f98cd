#include "common/common.h"

#include <stdlib.h>
#include <string.h>

size_t strv_len(const char *const *list)
{
    size_t n = 0;
    while (list != NULL && list[n] != NULL)
        n++;
    return n;
}

char **strv_copy(const char *const *list)
{
    size_t n = strv_len(list);
    char **copy = calloc(n + 1, sizeof(*copy));
    for (size_t i = 0; copy != NULL && i < n; i++) {
        if ((copy[i] = strdup(list[i])) == NULL) {
            strv_free(copy);
            return NULL;
        }
    }
    return copy;
}

void strv_free(char **list)
{
    for (size_t i = 0; list != NULL && list[i] != NULL; i++)
        free(list[i]);
    free(list);
}
