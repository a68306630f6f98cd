#include "sandbox/warm_wire.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- packing ---- */

static void pack_text(msgpack_packer *pk, const char *text)
{
    if (text == NULL) {
        msgpack_pack_nil(pk);
        return;
    }
    size_t len = strlen(text);
    msgpack_pack_str(pk, len);
    msgpack_pack_str_body(pk, text, len);
}

static void pack_strings(msgpack_packer *pk, char *const *list)
{
    size_t n = 0;
    while (list != NULL && list[n] != NULL)
        n++;
    msgpack_pack_array(pk, n);
    for (size_t i = 0; i < n; i++)
        pack_text(pk, list[i]);
}

/* Each operation as [kind, source, dest, label, flags, optional]; the
 * target is dest under the receiver's root. */
static void pack_plan(msgpack_packer *pk, const struct mnt_plan *plan)
{
    msgpack_pack_array(pk, plan->count);
    for (size_t i = 0; i < plan->count; i++) {
        const struct mnt_op *op = &plan->ops[i];
        msgpack_pack_array(pk, 6);
        msgpack_pack_int(pk, op->kind);
        pack_text(pk, op->source);
        pack_text(pk, op->dest);
        pack_text(pk, op->label);
        msgpack_pack_uint64(pk, op->flags);
        if (op->optional)
            msgpack_pack_true(pk);
        else
            msgpack_pack_false(pk);
    }
}

void warm_pack_hello(msgpack_packer *pk, const char *root, int cap_last_cap,
                     const struct mnt_plan *base, const struct seccomp_policy *seccomp)
{
    const struct sock_fprog *filters;
    size_t n = seccomp_policy_filters(seccomp, &filters);
    msgpack_pack_array(pk, 5);
    pack_text(pk, "hello");
    pack_text(pk, root);
    msgpack_pack_int(pk, cap_last_cap);
    pack_plan(pk, base);
    msgpack_pack_array(pk, n);
    for (size_t i = 0; i < n; i++) {
        size_t bytes = filters[i].len * sizeof(struct sock_filter);
        msgpack_pack_bin(pk, bytes);
        msgpack_pack_bin_body(pk, filters[i].filter, bytes);
    }
}

void warm_pack_spawn(msgpack_packer *pk, const struct jail_child *child)
{
    msgpack_pack_array(pk, 8);
    pack_text(pk, "spawn");
    pack_plan(pk, child->job);
    pack_strings(pk, child->argv);
    pack_strings(pk, child->envp);
    pack_strings(pk, child->exec_candidates);
    msgpack_pack_array(pk, JAIL_RLIMITS);
    for (int i = 0; i < JAIL_RLIMITS; i++) {
        const struct jail_rlimit *r = &child->rlimits[i];
        msgpack_pack_array(pk, 4);
        msgpack_pack_int(pk, r->resource);
        msgpack_pack_uint64(pk, r->value.rlim_cur);
        msgpack_pack_uint64(pk, r->value.rlim_max);
        pack_text(pk, r->label);
    }
    if (child->own_base)
        pack_plan(pk, child->base);
    else
        msgpack_pack_nil(pk);
    if (child->live)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
}

void warm_pack_word_int(msgpack_packer *pk, const char *word, long long value)
{
    msgpack_pack_array(pk, 2);
    pack_text(pk, word);
    msgpack_pack_int64(pk, value);
}

void warm_pack_word_text(msgpack_packer *pk, const char *word, const char *text)
{
    msgpack_pack_array(pk, 2);
    pack_text(pk, word);
    pack_text(pk, text);
}

/* ---- unpacking ---- */

static const msgpack_object *element(const msgpack_object *msg, uint32_t i,
                                     msgpack_object_type type)
{
    if (msg->type != MSGPACK_OBJECT_ARRAY || i >= msg->via.array.size)
        return NULL;
    const msgpack_object *o = &msg->via.array.ptr[i];
    if (o->type == type)
        return o;
    /* msgpack-c tells non-negative integers apart from negative ones. */
    if (type == MSGPACK_OBJECT_NEGATIVE_INTEGER && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        return o;
    return NULL;
}

static long long as_int(const msgpack_object *o)
{
    return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (long long)o->via.u64 : o->via.i64;
}

/* A string or nil (NULL) as a new C string; -1 for anything else or no memory. */
static int copy_text(const msgpack_object *o, char **out)
{
    *out = NULL;
    if (o->type == MSGPACK_OBJECT_NIL)
        return 0;
    if (o->type != MSGPACK_OBJECT_STR || memchr(o->via.str.ptr, '\0', o->via.str.size) != NULL)
        return -1;
    *out = strndup(o->via.str.ptr, o->via.str.size);
    return *out ? 0 : -1;
}

static void free_strings(char **list)
{
    for (size_t i = 0; list != NULL && list[i] != NULL; i++)
        free(list[i]);
    free(list);
}

static int copy_strings(const msgpack_object *o, char ***out)
{
    *out = NULL;
    if (o == NULL || o->type != MSGPACK_OBJECT_ARRAY)
        return -1;
    uint32_t n = o->via.array.size;
    char **list = calloc((size_t)n + 1, sizeof(*list));
    if (list == NULL)
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        if (copy_text(&o->via.array.ptr[i], &list[i]) != 0 || list[i] == NULL) {
            free_strings(list);
            return -1;
        }
    }
    *out = list;
    return 0;
}

static int unpack_plan(const msgpack_object *o, const char *root, struct mnt_plan *plan)
{
    memset(plan, 0, sizeof(*plan));
    if (o == NULL || o->type != MSGPACK_OBJECT_ARRAY)
        return -1;
    for (uint32_t i = 0; i < o->via.array.size; i++) {
        const msgpack_object *op = &o->via.array.ptr[i];
        const msgpack_object *kind = element(op, 0, MSGPACK_OBJECT_POSITIVE_INTEGER);
        const msgpack_object *flags = element(op, 4, MSGPACK_OBJECT_POSITIVE_INTEGER);
        const msgpack_object *optional = element(op, 5, MSGPACK_OBJECT_BOOLEAN);
        char *source = NULL, *dest = NULL, *label = NULL;
        int rc = -1;
        if (kind != NULL && kind->via.u64 <= MNT_MASK && flags != NULL && optional != NULL &&
            op->via.array.size == 6 && copy_text(&op->via.array.ptr[1], &source) == 0 &&
            copy_text(&op->via.array.ptr[2], &dest) == 0 && dest != NULL &&
            copy_text(&op->via.array.ptr[3], &label) == 0 && label != NULL)
            rc = mnt_plan_add(plan, root, (enum mnt_kind)kind->via.u64, source, dest,
                              (unsigned long)flags->via.u64, optional->via.boolean, label);
        free(source);
        free(dest);
        free(label);
        if (rc != 0) {
            mnt_plan_free(plan);
            return -1;
        }
    }
    return 0;
}

const char *warm_message_word(const msgpack_object *msg, char *buf, size_t len)
{
    const msgpack_object *word = element(msg, 0, MSGPACK_OBJECT_STR);
    if (word == NULL || word->via.str.size >= len)
        return NULL;
    memcpy(buf, word->via.str.ptr, word->via.str.size);
    buf[word->via.str.size] = '\0';
    return buf;
}

int warm_message_int(const msgpack_object *msg, long long *out)
{
    const msgpack_object *o = element(msg, 1, MSGPACK_OBJECT_NEGATIVE_INTEGER);
    if (o == NULL)
        return -1;
    *out = as_int(o);
    return 0;
}

int warm_message_text(const msgpack_object *msg, char *buf, size_t len)
{
    const msgpack_object *o = element(msg, 1, MSGPACK_OBJECT_STR);
    if (o == NULL || len == 0)
        return -1;
    snprintf(buf, len, "%.*s", (int)o->via.str.size, o->via.str.ptr);
    return 0;
}

int warm_unpack_hello(const msgpack_object *msg, struct warm_setup *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    const msgpack_object *cap = element(msg, 2, MSGPACK_OBJECT_POSITIVE_INTEGER);
    const msgpack_object *filters = element(msg, 4, MSGPACK_OBJECT_ARRAY);
    if (msg->via.array.size != 5 || element(msg, 1, MSGPACK_OBJECT_STR) == NULL || cap == NULL ||
        filters == NULL || copy_text(&msg->via.array.ptr[1], &out->root) != 0 ||
        unpack_plan(element(msg, 3, MSGPACK_OBJECT_ARRAY), out->root, &out->base) != 0) {
        snprintf(err, errlen, "the hello is not [\"hello\", root, cap_last_cap, plan, filters]");
        goto fail;
    }
    out->cap_last_cap = (int)cap->via.u64;
    struct sock_fprog programs[8];
    uint32_t n = filters->via.array.size;
    if (n > 8) {
        snprintf(err, errlen, "the hello has %u seccomp filters", n);
        goto fail;
    }
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *bin = &filters->via.array.ptr[i];
        if (bin->type != MSGPACK_OBJECT_BIN ||
            bin->via.bin.size % sizeof(struct sock_filter) != 0) {
            snprintf(err, errlen, "seccomp filter %u of the hello is not a BPF program", i);
            goto fail;
        }
        /* msgpack-c's zone keeps bin bodies unaligned; the policy copies them. */
        programs[i].filter = (struct sock_filter *)(uintptr_t)bin->via.bin.ptr;
        programs[i].len = (unsigned short)(bin->via.bin.size / sizeof(struct sock_filter));
    }
    if (seccomp_policy_from_filters(programs, n, &out->seccomp, err, errlen) != 0)
        goto fail;
    return 0;

fail:
    warm_setup_free(out);
    return -1;
}

void warm_setup_free(struct warm_setup *setup)
{
    free(setup->root);
    mnt_plan_free(&setup->base);
    seccomp_policy_free(setup->seccomp);
    memset(setup, 0, sizeof(*setup));
}

int warm_unpack_spawn(const msgpack_object *msg, const char *root, struct warm_job *out, char *err,
                      size_t errlen)
{
    memset(out, 0, sizeof(*out));
    const msgpack_object *rlimits = element(msg, 5, MSGPACK_OBJECT_ARRAY);
    const msgpack_object *live = element(msg, 7, MSGPACK_OBJECT_BOOLEAN);
    out->has_base = element(msg, 6, MSGPACK_OBJECT_ARRAY) != NULL;
    if (msg->via.array.size != 8 || live == NULL ||
        (!out->has_base && element(msg, 6, MSGPACK_OBJECT_NIL) == NULL) ||
        unpack_plan(element(msg, 1, MSGPACK_OBJECT_ARRAY), root, &out->plan) != 0 ||
        (out->has_base &&
         unpack_plan(element(msg, 6, MSGPACK_OBJECT_ARRAY), root, &out->base) != 0) ||
        copy_strings(element(msg, 2, MSGPACK_OBJECT_ARRAY), &out->argv) != 0 ||
        out->argv[0] == NULL ||
        copy_strings(element(msg, 3, MSGPACK_OBJECT_ARRAY), &out->envp) != 0 ||
        copy_strings(element(msg, 4, MSGPACK_OBJECT_ARRAY), &out->candidates) != 0 ||
        rlimits == NULL || rlimits->via.array.size != JAIL_RLIMITS) {
        snprintf(err, errlen,
                 "the spawn is not [\"spawn\", plan, argv, envp, candidates, rlimits, base or "
                 "nil, live]");
        goto fail;
    }
    out->live = live->via.boolean;
    for (int i = 0; i < JAIL_RLIMITS; i++) {
        const msgpack_object *r = &rlimits->via.array.ptr[i];
        const msgpack_object *resource = element(r, 0, MSGPACK_OBJECT_POSITIVE_INTEGER);
        const msgpack_object *cur = element(r, 1, MSGPACK_OBJECT_POSITIVE_INTEGER);
        const msgpack_object *max = element(r, 2, MSGPACK_OBJECT_POSITIVE_INTEGER);
        if (resource == NULL || cur == NULL || max == NULL || r->via.array.size != 4 ||
            copy_text(&r->via.array.ptr[3], &out->labels[i]) != 0 || out->labels[i] == NULL) {
            snprintf(err, errlen, "rlimit %d of the spawn is not [resource, cur, max, label]", i);
            goto fail;
        }
        out->rlimits[i] = (struct jail_rlimit){
            .resource = (int)resource->via.u64,
            .value = {.rlim_cur = cur->via.u64, .rlim_max = max->via.u64},
            .label = out->labels[i],
        };
    }
    return 0;

fail:
    warm_job_free(out);
    return -1;
}

void warm_job_free(struct warm_job *job)
{
    mnt_plan_free(&job->plan);
    mnt_plan_free(&job->base);
    free_strings(job->argv);
    free_strings(job->envp);
    free_strings(job->candidates);
    for (int i = 0; i < JAIL_RLIMITS; i++)
        free(job->labels[i]);
    memset(job, 0, sizeof(*job));
}

/* ---- the socket ---- */

int warm_send(int sock, const void *data, size_t len, const int *fds, size_t nfds)
{
    struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
    union {
        char buf[CMSG_SPACE(sizeof(int) * WARM_SPAWN_FDS_MAX)];
        struct cmsghdr align;
    } control;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds > WARM_SPAWN_FDS_MAX) {
        errno = EINVAL;
        return -1;
    }
    if (nfds > 0) {
        memset(&control, 0, sizeof(control));
        mh.msg_control = control.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
    }
    ssize_t n;
    while ((n = sendmsg(sock, &mh, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    if (n < 0)
        return -1;
    if ((size_t)n != len) {
        errno = EMSGSIZE;
        return -1;
    }
    return 0;
}

ssize_t warm_recv(int sock, char *buf, size_t cap, int *fds, size_t maxfds, size_t *nfds)
{
    struct iovec iov = {.iov_base = buf, .iov_len = cap};
    union {
        char buf[CMSG_SPACE(sizeof(int) * WARM_SPAWN_FDS_MAX)];
        struct cmsghdr align;
    } control;
    struct msghdr mh = {
        .msg_iov = &iov,
        .msg_iovlen = 1,
        .msg_control = control.buf,
        .msg_controllen = sizeof(control.buf),
    };
    *nfds = 0;
    ssize_t n;
    while ((n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
        ;
    if (n < 0)
        return -1;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        size_t count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        int *received = (int *)CMSG_DATA(cm);
        for (size_t i = 0; i < count; i++) {
            if (*nfds < maxfds)
                fds[(*nfds)++] = received[i];
            else
                close(received[i]);
        }
    }
    if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
        for (size_t i = 0; i < *nfds; i++)
            close(fds[i]);
        *nfds = 0;
        errno = EMSGSIZE;
        return -1;
    }
    return n;
}
