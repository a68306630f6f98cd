/* The operator's secrets file (secrets.h): reading it, checking every field,
 * and the header values a binding sends. A value never appears in an error
 * message: they name the secret and the field, and for a bad byte its
 * offset. */
#include "worker/secrets.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "schema/bounds.h"
#include "schema/netrule.h"
#include "schema/signature.h"
#include "schema/text.h"

/* Where a problem is, for the message: the file, then the secret. */
struct place {
    const char *origin;
    const char *name; /* NULL before the secret is known */
    char *err;
    size_t errlen;
};

__attribute__((format(printf, 3, 4))) static int fail(const struct place *at, const char *field,
                                                      const char *fmt, ...)
{
    char problem[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(problem, sizeof(problem), fmt, ap);
    va_end(ap);
    if (at->name)
        snprintf(at->err, at->errlen, "%s: secrets.%s%s%s: %s", at->origin, at->name,
                 field[0] ? "." : "", field, problem);
    else
        snprintf(at->err, at->errlen, "%s: %s: %s", at->origin, field, problem);
    return -1;
}

int secret_file_check(int fd, const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "%s: reading its owner and mode: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s is not a regular file", path);
        return -1;
    }
    if (st.st_uid != geteuid()) {
        snprintf(err, errlen,
                 "%s is owned by uid %u, not by the worker's user (uid %u): a file that holds "
                 "secrets must be the worker's own",
                 path, (unsigned)st.st_uid, (unsigned)geteuid());
        return -1;
    }
    if (st.st_mode & 077) {
        snprintf(err, errlen,
                 "%s has mode %04o: others may %s it; a file that holds secrets must be 0600 "
                 "or stricter (chmod 600 %s)",
                 path, (unsigned)(st.st_mode & 07777), st.st_mode & 044 ? "read" : "change", path);
        return -1;
    }
    return 0;
}

/* Reads at most max bytes of a checked file; -1 with err when it holds more. */
static int read_private_file(const char *path, size_t max, char **out, size_t *len, char *err,
                             size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "opening %s: %s", path, strerror(errno));
        return -1;
    }
    char *buf = NULL;
    if (secret_file_check(fd, path, err, errlen) < 0)
        goto fail;
    if (!(buf = malloc(max + 2))) {
        snprintf(err, errlen, "reading %s: %s", path, strerror(errno));
        goto fail;
    }
    size_t got = 0;
    while (got <= max) {
        ssize_t n = read(fd, buf + got, max + 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, errlen, "reading %s: %s", path, strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    if (got > max) {
        snprintf(err, errlen, "%s is larger than %zu bytes", path, max);
        goto fail;
    }
    close(fd);
    buf[got] = '\0';
    *out = buf;
    *len = got;
    return 0;
fail:
    if (buf) {
        explicit_bzero(buf, max + 2);
        free(buf);
    }
    close(fd);
    return -1;
}

static void wipe_free(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

static bool printable(const char *s, size_t len, size_t *bad_at)
{
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e) {
            *bad_at = i;
            return false;
        }
    }
    return true;
}

/* ---- fields ---- */

static int check_fields(const struct place *at, const json_t *object, const char *where,
                        const char *const *known)
{
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)object, key, value)
    {
        size_t i = 0;
        while (known[i] && strcmp(known[i], key) != 0)
            i++;
        if (!known[i]) {
            char field[160];
            snprintf(field, sizeof(field), "%s%s%.64s", where, where[0] ? "." : "", key);
            return fail(at, field, "unknown field");
        }
    }
    return 0;
}

static const char *string_field(const struct place *at, const json_t *object, const char *key,
                                const char *field, bool *bad)
{
    const json_t *value = json_object_get(object, key);
    *bad = false;
    if (!value || json_is_null(value))
        return NULL;
    if (!json_is_string(value)) {
        *bad = true;
        fail(at, field, "must be a string");
        return NULL;
    }
    return json_string_value(value);
}

/* ---- the value ---- */

static int value_from_env(const struct place *at, const char *var, char **out)
{
    char *v = getenv(var);
    if (!v || !v[0])
        return fail(at, "value_env", "the worker's environment has no %.128s (or it is empty)",
                    var);
    if (!(*out = strdup(v)))
        return fail(at, "value_env", "out of memory");
    /* The variable's text stays in the process's environment block, which
     * /proc/<pid>/environ shows and which the jails' clones of this process
     * would carry: wiped in place before it is dropped. */
    explicit_bzero(v, strlen(v));
    unsetenv(var);
    return 0;
}

static int value_from_file(const struct place *at, const char *path, char **out)
{
    char why[512];
    size_t len;
    if (read_private_file(path, SECRET_VALUE_MAX + 2, out, &len, why, sizeof(why)) < 0)
        return fail(at, "value_file", "%s", why);
    if (len > 0 && (*out)[len - 1] == '\n')
        (*out)[--len] = '\0';
    if (len > 0 && (*out)[len - 1] == '\r')
        (*out)[--len] = '\0';
    return 0;
}

static int read_value(const struct place *at, const json_t *spec, char **out)
{
    bool bad[3];
    const char *inline_value = string_field(at, spec, "value", "value", &bad[0]);
    const char *file = string_field(at, spec, "value_file", "value_file", &bad[1]);
    const char *env = string_field(at, spec, "value_env", "value_env", &bad[2]);
    if (bad[0] || bad[1] || bad[2])
        return -1;
    int given = (inline_value != NULL) + (file != NULL) + (env != NULL);
    if (given != 1)
        return fail(at, "value", "give the value once: value, value_file or value_env (%s)",
                    given ? "more than one is set" : "none is set");
    *out = NULL;
    if (inline_value && !(*out = strdup(inline_value)))
        return fail(at, "value", "out of memory");
    if ((file && value_from_file(at, file, out) < 0) || (env && value_from_env(at, env, out) < 0))
        return -1;
    const char *field = inline_value ? "value" : file ? "value_file" : "value_env";
    size_t len = strlen(*out), bad_at;
    if (len == 0)
        return fail(at, field, "the value is empty");
    if (len > SECRET_VALUE_MAX)
        return fail(at, field, "the value is longer than %d bytes", SECRET_VALUE_MAX);
    if (!printable(*out, len, &bad_at))
        return fail(at, field,
                    "byte %zu of the value is not printable ASCII: a value travels in an HTTP "
                    "header",
                    bad_at);
    return 0;
}

/* ---- bindings ---- */

static int read_host(const struct place *at, const char *field, const char *text,
                     struct secret_binding *b)
{
    struct net_rule_parts parts;
    char why[192], host[BRIG_HOST_MAX + 1];
    size_t len = strlen(text);
    if (!net_rule_parse(text, len, &parts, why, sizeof(why)))
        return fail(at, field, "\"%.261s\": %s", text, why);
    memcpy(host, text + parts.host_start, parts.host_len);
    host[parts.host_len] = '\0';
    unsigned char addr[16];
    if (parts.wildcard || strchr(text, '[') || inet_pton(AF_INET, host, addr) == 1)
        return fail(at, field,
                    "\"%.261s\": a secret is bound to a host name, not a suffix or an address "
                    "(the worker's certificate authority names it)",
                    text);
    b->port = parts.port ? parts.port : SECRET_DEFAULT_PORT;
    if (!(b->host = strdup(host)))
        return fail(at, field, "out of memory");
    return 0;
}

/* Headers that frame the message or belong to one hop are the proxy's. */
static bool is_reserved_header(const char *name)
{
    static const char *const reserved[] = {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "proxy-authorization",
        "proxy-authenticate",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
        "expect",
    };
    for (size_t i = 0; i < ARRAY_SIZE(reserved); i++) {
        if (strcasecmp(name, reserved[i]) == 0)
            return true;
    }
    return false;
}

static bool is_token(const char *s)
{
    static const char specials[] = "!#$%&'*+-.^_`|~";
    for (; *s; s++) {
        if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') && !(*s >= '0' && *s <= '9') &&
            !strchr(specials, *s))
            return false;
    }
    return true;
}

static int read_header(const struct place *at, const char *field, const char *text,
                       struct secret_binding *b)
{
    size_t len = strlen(text);
    if (len == 0 || len > SECRET_HEADER_MAX || !is_token(text))
        return fail(at, field, "\"%.64s\" is not a header name (1-%d bytes of a token)", text,
                    SECRET_HEADER_MAX);
    if (is_reserved_header(text))
        return fail(at, field,
                    "\"%s\" frames the request or belongs to the proxy's hop; a secret cannot "
                    "go there",
                    text);
    if (!(b->header = strdup(text)))
        return fail(at, field, "out of memory");
    return 0;
}

/* Every "${" names the secret itself, and it does at least once. */
static int read_template(const struct place *at, const char *field, const char *text,
                         struct secret_binding *b)
{
    size_t len = strlen(text), bad_at, name_len = strlen(at->name), uses = 0;
    if (len > SECRET_TEMPLATE_MAX)
        return fail(at, field, "longer than %d bytes", SECRET_TEMPLATE_MAX);
    if (!printable(text, len, &bad_at))
        return fail(at, field, "byte %zu is not printable ASCII", bad_at);
    for (const char *p = strstr(text, "${"); p; p = strstr(p + 2, "${")) {
        if (strncmp(p + 2, at->name, name_len) != 0 || p[2 + name_len] != '}')
            return fail(at, field, "\"%.64s\": a template names only its own secret, ${%s}", p,
                        at->name);
        uses++;
    }
    if (uses == 0)
        return fail(at, field, "\"%.128s\" does not say where the value goes: put ${%s} in it",
                    text, at->name);
    if (!(b->template = strdup(text)))
        return fail(at, field, "out of memory");
    return 0;
}

static int read_basic_user(const struct place *at, const char *field, const char *text,
                           struct secret_binding *b)
{
    size_t len = strlen(text), bad_at;
    if (len == 0 || len > 256 || !printable(text, len, &bad_at) || strchr(text, ':'))
        return fail(at, field, "a user name is 1-256 bytes of printable ASCII without ':'");
    if (!(b->basic_user = strdup(text)) || !(b->header = strdup("Authorization")))
        return fail(at, field, "out of memory");
    return 0;
}

static int read_binding(const struct place *at, const json_t *spec, size_t index,
                        struct secret_binding *b)
{
    static const char *const known[] = {"host", "header", "template", "basic_auth", NULL};
    char where[64], field[96];
    snprintf(where, sizeof(where), "bindings[%zu]", index);
    if (!json_is_object(spec))
        return fail(at, where, "must be an object");
    if (check_fields(at, spec, where, known) < 0)
        return -1;
    bool bad[4];
    snprintf(field, sizeof(field), "%s.host", where);
    const char *host = string_field(at, spec, "host", field, &bad[0]);
    snprintf(field, sizeof(field), "%s.header", where);
    const char *header = string_field(at, spec, "header", field, &bad[1]);
    snprintf(field, sizeof(field), "%s.template", where);
    const char *template = string_field(at, spec, "template", field, &bad[2]);
    snprintf(field, sizeof(field), "%s.basic_auth", where);
    const char *user = string_field(at, spec, "basic_auth", field, &bad[3]);
    if (bad[0] || bad[1] || bad[2] || bad[3])
        return -1;
    snprintf(field, sizeof(field), "%s.host", where);
    if (!host)
        return fail(at, field, "missing: a binding names the host the secret goes to");
    if (read_host(at, field, host, b) < 0)
        return -1;
    if (user) {
        snprintf(field, sizeof(field), "%s.basic_auth", where);
        if (header || template)
            return fail(at, field, "basic_auth goes alone: its header is Authorization");
        return read_basic_user(at, field, user, b);
    }
    if (!header || !template) {
        snprintf(field, sizeof(field), "%s.%s", where, header ? "template" : "header");
        return fail(at, field,
                    "missing: a binding says where the value goes, with header and template "
                    "(or basic_auth)");
    }
    snprintf(field, sizeof(field), "%s.header", where);
    if (read_header(at, field, header, b) < 0)
        return -1;
    snprintf(field, sizeof(field), "%s.template", where);
    return read_template(at, field, template, b);
}

/* ---- secrets ---- */

static void secret_clear(struct secret *s)
{
    for (size_t i = 0; i < s->n_bindings; i++) {
        struct secret_binding *b = &s->bindings[i];
        free(b->host);
        free(b->header);
        free(b->template);
        free(b->basic_user);
    }
    free(s->bindings);
    for (size_t k = 0; k < s->n_tenants; k++)
        free(s->tenants[k]);
    free(s->tenants);
    free(s->tenant_gone);
    wipe_free(s->value);
    free(s->name);
    memset(s, 0, sizeof(*s));
}

/* index: its place in the list, or -1 for a single name. */
static int read_tenant(const struct place *at, const json_t *name, ssize_t index, struct secret *s)
{
    char field[32], why[128];
    if (index < 0)
        snprintf(field, sizeof(field), "tenant");
    else
        snprintf(field, sizeof(field), "tenant[%zd]", index);
    const char *text = json_string_value(name);
    if (!text)
        return fail(at, field, "must be a tenant's name (a string)");
    if (strcmp(text, "*") == 0)
        return fail(at, field, "\"*\" is every tenant's and goes alone, not in a list");
    if (!brig_tenant_name_ok(text, strlen(text), why, sizeof(why)))
        return fail(at, field, "\"%.64s\": %s", text, why);
    for (size_t k = 0; k < s->n_tenants; k++) {
        if (strcmp(s->tenants[k], text) == 0)
            return fail(at, field, "\"%s\" is named twice", text);
    }
    if (!(s->tenants[s->n_tenants] = strdup(text)))
        return fail(at, field, "out of memory");
    s->n_tenants++;
    return 0;
}

/* "tenant": absent, null or "*" leaves the secret every job's. */
static int read_tenants(const struct place *at, const json_t *spec, struct secret *s)
{
    if (!spec || json_is_null(spec) ||
        (json_is_string(spec) && strcmp(json_string_value(spec), "*") == 0))
        return 0;
    size_t n = json_is_array(spec) ? json_array_size(spec) : 1;
    if (!json_is_array(spec) && !json_is_string(spec))
        return fail(at, "tenant", "must be a tenant's name, a list of names, or \"*\"");
    if (n == 0)
        return fail(at, "tenant",
                    "an empty list would leave the secret nobody's: name a tenant, or \"*\"");
    if (n > SECRET_TENANTS_MAX)
        return fail(at, "tenant", "more than %d tenants", SECRET_TENANTS_MAX);
    if (!(s->tenants = calloc(n + 1, sizeof(*s->tenants))) ||
        !(s->tenant_gone = calloc(n, sizeof(*s->tenant_gone))))
        return fail(at, "tenant", "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (read_tenant(at, json_is_array(spec) ? json_array_get(spec, i) : spec,
                        json_is_array(spec) ? (ssize_t)i : -1, s) < 0)
            return -1;
    }
    return 0;
}

static int read_secret(struct place *at, const char *name, const json_t *spec, struct secret *s)
{
    static const char *const known[] = {"value",  "value_file", "value_env",
                                        "tenant", "bindings",   NULL};
    char why[128];
    if (strlen(name) > BRIG_ENV_NAME_MAX || !check_env_name(name, strlen(name), why, sizeof(why)))
        return fail(at, "secrets",
                    "\"%.64s\" cannot name a secret: %s (a name is an environment "
                    "variable's, [A-Za-z_][A-Za-z0-9_]*, up to %d bytes)",
                    name, why, BRIG_ENV_NAME_MAX);
    if (!(s->name = strdup(name)))
        return fail(at, "secrets", "out of memory");
    at->name = s->name;
    if (!json_is_object(spec))
        return fail(at, "", "must be an object");
    if (check_fields(at, spec, "", known) < 0)
        return -1;
    if (read_tenants(at, json_object_get(spec, "tenant"), s) < 0)
        return -1;
    const json_t *bindings = json_object_get(spec, "bindings");
    size_t n = json_array_size(bindings);
    if (!json_is_array(bindings) || n == 0)
        return fail(at, "bindings", "missing or empty: a secret goes nowhere without a binding");
    if (n > SECRET_BINDINGS_MAX)
        return fail(at, "bindings", "more than %d", SECRET_BINDINGS_MAX);
    if (!(s->bindings = calloc(n, sizeof(*s->bindings))))
        return fail(at, "bindings", "out of memory");
    for (; s->n_bindings < n; s->n_bindings++) {
        if (read_binding(at, json_array_get(bindings, s->n_bindings), s->n_bindings,
                         &s->bindings[s->n_bindings]) < 0) {
            s->n_bindings++; /* what it holds is freed with the rest */
            return -1;
        }
    }
    return read_value(at, spec, &s->value);
}

int secret_store_parse(const char *text, size_t len, const char *origin, struct secret_store **out,
                       char *err, size_t errlen)
{
    struct place at = {.origin = origin, .err = err, .errlen = errlen};
    *out = NULL;
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(err, errlen, "%s: line %d: %s", origin, jerr.line, jerr.text);
        return -1;
    }
    static const char *const known[] = {"secrets", NULL};
    struct secret_store *store = calloc(1, sizeof(*store));
    const json_t *secrets = json_object_get(root, "secrets");
    size_t n = json_object_size(secrets);
    if (!store) {
        fail(&at, "secrets", "out of memory");
        goto fail;
    }
    if (!json_is_object(root)) {
        fail(&at, "(top)", "must be an object with \"secrets\"");
        goto fail;
    }
    if (check_fields(&at, root, "", known) < 0)
        goto fail;
    if (!json_is_object(secrets)) {
        fail(&at, "secrets", "missing, or not an object of secrets by name");
        goto fail;
    }
    if (n > SECRETS_MAX) {
        fail(&at, "secrets", "more than %d", SECRETS_MAX);
        goto fail;
    }
    if (n > 0 && !(store->secrets = calloc(n, sizeof(*store->secrets)))) {
        fail(&at, "secrets", "out of memory");
        goto fail;
    }
    const char *name;
    const json_t *spec;
    json_object_foreach((json_t *)secrets, name, spec)
    {
        at.name = NULL;
        if (read_secret(&at, name, spec, &store->secrets[store->count++]) < 0)
            goto fail;
    }
    json_decref(root);
    *out = store;
    return 0;
fail:
    json_decref(root);
    secret_store_free(store);
    return -1;
}

int secret_store_load(const char *path, struct secret_store **out, char *err, size_t errlen)
{
    char *text;
    size_t len;
    *out = NULL;
    if (read_private_file(path, SECRETS_FILE_MAX, &text, &len, err, errlen) < 0)
        return -1;
    int rc = secret_store_parse(text, len, path, out, err, errlen);
    explicit_bzero(text, len);
    free(text);
    return rc;
}

void secret_store_free(struct secret_store *store)
{
    if (!store)
        return;
    for (size_t i = 0; i < store->count; i++)
        secret_clear(&store->secrets[i]);
    free(store->secrets);
    free(store);
}

const struct secret *secret_find(const struct secret_store *store, const char *name)
{
    for (size_t i = 0; store && i < store->count; i++) {
        if (strcmp(store->secrets[i].name, name) == 0)
            return &store->secrets[i];
    }
    return NULL;
}

int secret_store_check_tenants(const struct secret_store *store,
                               bool (*known)(const void *ctx, const char *name), const void *ctx,
                               char *err, size_t errlen)
{
    for (size_t i = 0; store && i < store->count; i++) {
        const struct secret *s = &store->secrets[i];
        for (size_t k = 0; k < s->n_tenants; k++) {
            if (known && known(ctx, s->tenants[k]))
                continue;
            snprintf(err, errlen,
                     known ? "secret %s is bound to tenant %s, which the tenants file does not "
                             "name"
                           : "secret %s is bound to tenant %s, and this worker has no tenants: "
                             "give it --tenants, or make the secret every job's (\"tenant\": "
                             "\"*\")",
                     s->name, s->tenants[k]);
            return -1;
        }
    }
    return 0;
}

bool secret_serves(const struct secret *s, const char *tenant)
{
    if (!s->tenants)
        return true;
    for (size_t k = 0; tenant && tenant[0] && k < s->n_tenants; k++) {
        if (strcmp(s->tenants[k], tenant) == 0)
            return !__atomic_load_n(&s->tenant_gone[k], __ATOMIC_RELAXED);
    }
    return false;
}

bool secret_mark_tenant(struct secret *s, size_t k, bool gone)
{
    return __atomic_exchange_n(&s->tenant_gone[k], gone, __ATOMIC_RELAXED) != gone;
}

static char *render_basic(const struct secret *s, const struct secret_binding *b)
{
    size_t user_len = strlen(b->basic_user), value_len = strlen(s->value);
    size_t plain_len = user_len + 1 + value_len;
    char *plain = malloc(plain_len + 1);
    char *out = malloc(sizeof("Basic ") + 4 * ((plain_len + 2) / 3) + 1);
    if (plain && out) {
        snprintf(plain, plain_len + 1, "%s:%s", b->basic_user, s->value);
        memcpy(out, "Basic ", 6);
        EVP_EncodeBlock((unsigned char *)out + 6, (const unsigned char *)plain, (int)plain_len);
    } else {
        free(out);
        out = NULL;
    }
    if (plain) {
        explicit_bzero(plain, plain_len);
        free(plain);
    }
    return out;
}

char *secret_render(const struct secret *s, const struct secret_binding *b)
{
    if (b->basic_user)
        return render_basic(s, b);
    size_t name_len = strlen(s->name), value_len = strlen(s->value), len = 0;
    const char *t = b->template;
    size_t uses = 0;
    for (const char *p = strstr(t, "${"); p; p = strstr(p + 2, "${"))
        uses++;
    char *out = malloc(strlen(t) + uses * value_len + 1);
    if (!out)
        return NULL;
    while (*t) {
        if (t[0] == '$' && t[1] == '{') {
            memcpy(out + len, s->value, value_len);
            len += value_len;
            t += name_len + 3;
        } else {
            out[len++] = *t++;
        }
    }
    out[len] = '\0';
    return out;
}
