#include "worker/glob_match.h"

#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include "schema/paths.h"

static bool is_any_depth(const char *component)
{
    return strcmp(component, "**") == 0;
}

static bool state_has(const uint64_t *states, size_t i)
{
    return states[i / 64] >> (i % 64) & 1;
}

static void state_add(uint64_t *states, size_t i)
{
    states[i / 64] |= (uint64_t)1 << (i % 64);
}

/* A ** at i may match no directory at all: being at i means being past it
 * too. States only move forward, so one ascending pass closes chains of **. */
static void add_empty_matches(const struct glob_pattern *p, uint64_t *states)
{
    for (size_t i = 0; i < p->component_count; i++) {
        if (state_has(states, i) && is_any_depth(p->components[i]))
            state_add(states, i + 1);
    }
}

int glob_set_compile(struct glob_set *set, const char *const *patterns, size_t count, char *err,
                     size_t errlen)
{
    if (count > BRIG_COLLECT_MAX) {
        snprintf(err, errlen, "collect: too many: %zu patterns (max %d)", count, BRIG_COLLECT_MAX);
        return -1;
    }
    set->count = count;
    for (size_t n = 0; n < count; n++) {
        struct glob_pattern *p = &set->patterns[n];
        size_t len = strlen(patterns[n]);
        char why[192];
        if (len == 0) {
            snprintf(err, errlen, "collect[%zu]: empty", n);
            return -1;
        }
        if (len > BRIG_GLOB_MAX) {
            snprintf(err, errlen, "collect[%zu]: too long: %zu bytes (max %d)", n, len,
                     BRIG_GLOB_MAX);
            return -1;
        }
        if (!check_glob(patterns[n], len, why, sizeof why)) {
            snprintf(err, errlen, "collect[%zu]: %s", n, why);
            return -1;
        }
        memcpy(p->text, patterns[n], len + 1);
        p->component_count = 0;
        for (char *component = p->text; component;) {
            char *slash = strchr(component, '/');
            if (slash)
                *slash = '\0';
            p->components[p->component_count++] = component;
            component = slash ? slash + 1 : NULL;
        }
        if (is_any_depth(p->components[p->component_count - 1]))
            p->components[p->component_count++] = "*";
    }
    return 0;
}

void glob_position_start(const struct glob_set *set, struct glob_position *start)
{
    memset(start, 0, sizeof(*start));
    for (size_t n = 0; n < set->count; n++) {
        state_add(start->states[n], 0);
        add_empty_matches(&set->patterns[n], start->states[n]);
    }
}

uint64_t glob_position_step(const struct glob_set *set, const struct glob_position *parent,
                            const char *name, struct glob_position *child)
{
    uint64_t fnmatch_calls = 0;
    memset(child, 0, sizeof(*child));
    for (size_t n = 0; n < set->count; n++) {
        const struct glob_pattern *p = &set->patterns[n];
        const uint64_t *from = parent->states[n];
        uint64_t *to = child->states[n];
        for (size_t i = 0; i < p->component_count; i++) {
            if (!state_has(from, i))
                continue;
            if (is_any_depth(p->components[i])) {
                if (name[0] != '.')
                    state_add(to, i);
            } else {
                fnmatch_calls++;
                if (fnmatch(p->components[i], name, FNM_PERIOD) == 0)
                    state_add(to, i + 1);
            }
        }
        add_empty_matches(p, to);
    }
    return fnmatch_calls;
}

bool glob_position_matches(const struct glob_set *set, const struct glob_position *at)
{
    for (size_t n = 0; n < set->count; n++) {
        if (state_has(at->states[n], set->patterns[n].component_count))
            return true;
    }
    return false;
}

bool glob_position_can_continue(const struct glob_set *set, const struct glob_position *at)
{
    for (size_t n = 0; n < set->count; n++) {
        for (size_t i = 0; i < set->patterns[n].component_count; i++) {
            if (state_has(at->states[n], i))
                return true;
        }
    }
    return false;
}
