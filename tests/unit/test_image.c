/* Root images from brig-image to the jails' plan: the sandboxed build and
 * its cache, a refused image leaving nothing behind, the tree root's and
 * read-only to everyone else; a worker's view (jail_image_open): the jail's
 * generated /etc files written in, the plan with the image in place of the
 * host's system tree, the policy hash following the digest, programs found
 * only inside the image; and "image" in the runtime table. Needs root, and
 * build/bin/brig-image. */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "sandbox/image_internal.h"
#include "sandbox/jail_host.h"
#include "sandbox/runtime.h"
#include "sandbox/self_path.h"
#include "tests/unit/image_tar.h"
#include "tests/unit/tree.h"

static struct jail_context *ctx;
static char builder[PATH_MAX];
static char dir[64], images[96], state[96];
static char err[2048];

static int setup_group(void **state_)
{
    (void)state_;
    if (self_relative_path("../bin/brig-image", builder, sizeof(builder), err, sizeof(err)) != 0)
        fail_msg("%s", err);
    snprintf(dir, sizeof(dir), "/tmp/brig-image-XXXXXX");
    assert_non_null(mkdtemp(dir));
    /* Jails reach images through it, as an unprivileged uid. */
    assert_int_equal(chmod(dir, 0711), 0);
    snprintf(images, sizeof(images), "%s/images", dir);
    snprintf(state, sizeof(state), "%s/state", dir);
    struct jail_context_config config = {.max_jails = 2, .state_dir = state};
    if (jail_context_new(&config, &ctx, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    return 0;
}

static int teardown_group(void **state_)
{
    (void)state_;
    jail_context_free(ctx);
    remove_tree(dir);
    return 0;
}

/* An image at dir/name: a usr with a shell (not a real one: nothing runs
 * here), bin linking to it, an /etc of its own with a passwd the jail
 * replaces, and marker's content in /etc/marker. */
static const char *make_image(const char *name, const char *marker)
{
    static char path[PATH_MAX];
    struct tar *t = tar_new(true);
    tar_file(t, "usr/bin/sh", 0755, "#!fake\n");
    tar_file(t, "usr/bin/tool", 0644, "not executable\n");
    tar_symlink(t, "usr/bin/escape", "/usr/bin/env");
    tar_symlink(t, "bin", "usr/bin");
    tar_file(t, "etc/passwd", 0644, "root:x:0:0:root:/root:/bin/sh\n");
    tar_file(t, "etc/marker", 0644, marker);
    tar_dir(t, "dev", 0755);
    tar_dir(t, "opt", 0755);
    tar_file(t, "opt/suid", 04755, "x");
    struct layer layer = {.gzip = true};
    layer.data = tar_bytes(t, &layer.len);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    oci_write(path, &layer, 1, -1);
    tar_free(t);
    return path;
}

static void no_note(void *note_ctx, const char *text)
{
    (void)note_ctx;
    fail_msg("unexpected note: %s", text);
}

static int check_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)type, (void)ftw;
    if (st->st_uid != 0 || st->st_gid != 0 || (!S_ISLNK(st->st_mode) && (st->st_mode & 07022)))
        fail_msg("%s: uid %u gid %u mode %o", path, (unsigned)st->st_uid, (unsigned)st->st_gid,
                 (unsigned)st->st_mode);
    return 0;
}

static void test_build_once_then_from_the_cache(void **state_)
{
    (void)state_;
    struct image_limits limits;
    struct image_built first, second;
    image_limits_default(&limits);
    const char *source = make_image("cached", "one\n");
    if (image_build(source, images, &limits, no_note, NULL, &first, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_false(first.cached);
    assert_int_equal(strncmp(first.digest, "sha256:", 7), 0);
    assert_int_equal(image_build(source, images, &limits, no_note, NULL, &second, err, sizeof(err)),
                     0);
    assert_true(second.cached);
    assert_string_equal(first.digest, second.digest);
    assert_string_equal(first.rootfs, second.rootfs);
    /* Everything root's, nothing writable but by root, no setuid. */
    assert_int_equal(nftw(first.rootfs, check_entry, 16, FTW_PHYS), 0);
    struct stat st;
    assert_int_equal(stat(images, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0711);
}

/* A refused image leaves no tree and no build directory, and the reason
 * names the entry. */
static void test_refused_image_leaves_nothing(void **state_)
{
    (void)state_;
    struct image_limits limits;
    struct image_built built;
    image_limits_default(&limits);
    struct tar *t = tar_new(false);
    tar_file(t, "fine", 0644, "x");
    tar_file(t, "../../escape", 0644, "x");
    struct layer layer = {.gzip = false};
    layer.data = tar_bytes(t, &layer.len);
    char source[PATH_MAX], built_images[PATH_MAX];
    snprintf(source, sizeof(source), "%s/hostile.tar", dir);
    snprintf(built_images, sizeof(built_images), "%s/hostile-images", dir);
    docker_write(source, &layer, 1);
    tar_free(t);
    assert_int_equal(
        image_build(source, built_images, &limits, NULL, NULL, &built, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "layer 1 of 1"));
    assert_non_null(strstr(err, "entry \"../../escape\": has a \"..\" component"));
    DIR *listing = opendir(built_images);
    assert_non_null(listing);
    for (struct dirent *d; (d = readdir(listing)) != NULL;) {
        size_t len = strlen(d->d_name);
        if (strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0 &&
            (len < 5 || strcmp(d->d_name + len - 5, ".lock") != 0))
            fail_msg("left behind: %s", d->d_name);
    }
    closedir(listing);
    assert_int_equal(access("/tmp/escape", F_OK), -1);
}

static bool plan_has(const struct mnt_plan *plan, enum mnt_kind kind, const char *dest,
                     const char *source_prefix)
{
    for (size_t i = 0; i < plan->count; i++) {
        const struct mnt_op *op = &plan->ops[i];
        if (op->kind == kind && strcmp(op->dest, dest) == 0 &&
            (source_prefix == NULL ||
             (op->source && strncmp(op->source, source_prefix, strlen(source_prefix)) == 0)))
            return true;
    }
    return false;
}

static struct jail_image *open_image(const char *source)
{
    struct image_limits limits;
    struct jail_image *image;
    image_limits_default(&limits);
    if (jail_image_open(ctx, builder, source, images, &limits, NULL, NULL, &image, err,
                        sizeof(err)) != 0)
        fail_msg("%s", err);
    return image;
}

static void test_plan_puts_the_image_in_place_of_the_host(void **state_)
{
    (void)state_;
    struct jail_image *image = open_image(make_image("planned", "planned\n"));
    const struct mnt_plan *plan = jail_image_plan(image);
    char rootfs_usr[PATH_MAX];
    snprintf(rootfs_usr, sizeof(rootfs_usr), "%s/usr", jail_image_rootfs(image));
    assert_true(plan_has(plan, MNT_BIND, "/usr", rootfs_usr));
    assert_false(plan_has(plan, MNT_BIND, "/usr", "/usr"));
    assert_true(plan_has(plan, MNT_SYMLINK, "/bin", "usr/bin"));
    assert_true(plan_has(plan, MNT_BIND, "/etc", jail_image_rootfs(image)));
    assert_true(plan_has(plan, MNT_BIND, "/opt", jail_image_rootfs(image)));
    /* The jail's own /dev and /proc, not the image's; no host /etc file. */
    assert_true(plan_has(plan, MNT_TMPFS, "/dev", NULL));
    assert_false(plan_has(plan, MNT_BIND, "/dev", jail_image_rootfs(image)));
    assert_true(plan_has(plan, MNT_PROC, "/proc", NULL));
    for (size_t i = 0; i < plan->count; i++) {
        if (strncmp(plan->ops[i].dest, "/etc/", 5) == 0)
            fail_msg("a host /etc entry in an image's plan: %s", plan->ops[i].dest);
    }
    /* The jail's passwd in place of the image's. */
    char path[PATH_MAX], text[512] = "";
    snprintf(path, sizeof(path), "%s/etc/passwd", jail_image_rootfs(image));
    FILE *file = fopen(path, "r");
    assert_non_null(file);
    assert_true(fread(text, 1, sizeof(text) - 1, file) > 0);
    fclose(file);
    assert_non_null(strstr(text, "jail:x:1000:1000"));
    jail_image_free(image);
}

/* The digest is in the policy hash; where the image lives is not. */
static void test_policy_hash_follows_the_digest(void **state_)
{
    (void)state_;
    struct jail_image *a = open_image(make_image("a", "same\n"));
    struct jail_image *b = open_image(make_image("b", "same\n"));
    struct jail_image *c = open_image(make_image("c", "different\n"));
    assert_string_equal(jail_image_digest(a), jail_image_digest(b));
    assert_string_not_equal(jail_image_rootfs(a), jail_image_rootfs(b));
    assert_string_equal(jail_image_policy_hash(a), jail_image_policy_hash(b));
    assert_string_not_equal(jail_image_digest(a), jail_image_digest(c));
    assert_string_not_equal(jail_image_policy_hash(a), jail_image_policy_hash(c));
    assert_string_not_equal(jail_image_policy_hash(a), jail_policy_hash(ctx));
    assert_int_equal(strlen(jail_image_policy_hash(a)), 64);
    jail_image_free(a);
    jail_image_free(b);
    jail_image_free(c);
}

/* Programs are looked up in the image, links resolved inside it. */
static void test_programs_found_only_in_the_image(void **state_)
{
    (void)state_;
    struct jail_image *image = open_image(make_image("programs", "p\n"));
    assert_int_equal(jail_image_find_program(image, "sh", err, sizeof(err)), 0);
    assert_int_equal(jail_image_find_program(image, "/bin/sh", err, sizeof(err)), 0);
    assert_int_equal(jail_image_find_program(image, "/usr/bin/sh", err, sizeof(err)), 0);
    assert_int_equal(jail_image_find_program(image, "python3", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "python3 is not an executable file of the image's PATH"));
    assert_int_equal(jail_image_find_program(image, "tool", err, sizeof(err)), -1);
    /* A link to a host path names the image's path, which is not there. */
    assert_int_equal(access("/usr/bin/env", X_OK), 0);
    assert_int_equal(jail_image_find_program(image, "escape", err, sizeof(err)), -1);
    jail_image_free(image);
}

static int parse(const char *text, struct runtime_table **table)
{
    char json[2048];
    snprintf(json, sizeof(json), "%s", text);
    for (char *c = json; *c != '\0'; c++) {
        if (*c == '\'')
            *c = '"';
    }
    return runtime_table_parse(json, strlen(json), "test.json", table, err, sizeof(err));
}

static void test_runtime_table_image(void **state_)
{
    (void)state_;
    struct runtime_table *table;
    assert_int_equal(parse("{'runtimes':[{'name':'deb','source':'m.sh','run':['sh','m.sh'],"
                           "'version':['sh','-c','echo 1'],'image':'/srv/deb.tar'},"
                           "{'name':'big','source':'m.sh','run':['sh','m.sh'],"
                           "'version':['sh','-c','echo 1'],'image':{'path':'/srv/big',"
                           "'max_file':'1G','max_total':'8G','max_entries':500}}]}",
                           &table),
                     0);
    assert_string_equal(table->runtimes[0].image_path, "/srv/deb.tar");
    assert_int_equal(table->runtimes[1].image_limits.file_bytes, 1ull << 30);
    assert_int_equal(table->runtimes[1].image_limits.total_bytes, 8ull << 30);
    assert_int_equal(table->runtimes[1].image_limits.entries, 500);
    runtime_table_free(table);
    static const struct {
        const char *image, *why;
    } bad[] = {
        {"'deb.tar'", "runtimes[0] (\"x\"): image: \"deb.tar\" must be an absolute path"},
        {"{'path':'rel'}", "image.path: \"rel\" must be an absolute path"},
        {"{'max_file':'1G'}", "image.path: missing"},
        {"{'path':'/a','max_total':'lots'}", "image.max_total:"},
        {"{'path':'/a','colour':'red'}", "image.colour: unknown field"},
        {"7", "image: must be a path, or an object"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text),
                 "{'runtimes':[{'name':'x','source':'m.sh','run':['sh','m.sh'],"
                 "'version':['sh'],'image':%s}]}",
                 bad[i].image);
        assert_int_equal(parse(text, &table), -1);
        if (strstr(err, bad[i].why) == NULL)
            fail_msg("expected \"%s\" in: %s", bad[i].why, err);
    }
    assert_int_equal(parse("{'runtimes':[{'name':'w','source':'m.py','run':['python3','m.py'],"
                           "'version':['python3','--version'],'warm':{},'image':'/srv/py'}]}",
                           &table),
                     -1);
    assert_non_null(strstr(err, "cannot start warm"));
}

/* A runtime whose image lacks a program it starts is refused, naming both. */
static void test_runtime_without_its_interpreter_refused(void **state_)
{
    (void)state_;
    struct runtime_table *table;
    char text[1024];
    const char *source = make_image("nopython", "n\n");
    snprintf(text, sizeof(text),
             "{'runtimes':[{'name':'py','source':'m.py','run':['python3','m.py'],"
             "'version':['sh','-c','echo 1'],'image':'%s'}]}",
             source);
    assert_int_equal(parse(text, &table), 0);
    assert_int_equal(
        runtime_open_image(&table->runtimes[0], ctx, builder, images, NULL, NULL, err, sizeof(err)),
        -1);
    assert_non_null(strstr(err, "runtime py: its run command cannot start on the image"));
    assert_non_null(strstr(err, source));
    assert_non_null(strstr(err, "python3 is not an executable file"));
    assert_null(table->runtimes[0].image);
    runtime_table_free(table);
    snprintf(text, sizeof(text),
             "{'runtimes':[{'name':'gone','source':'m.sh','run':['sh','m.sh'],"
             "'version':['sh'],'image':'%s/no-such-image'}]}",
             dir);
    assert_int_equal(parse(text, &table), 0);
    assert_int_equal(
        runtime_open_image(&table->runtimes[0], ctx, builder, images, NULL, NULL, err, sizeof(err)),
        -1);
    assert_non_null(strstr(err, "runtime gone: image "));
    assert_non_null(strstr(err, "/no-such-image: No such file or directory"));
    runtime_table_free(table);
}

int main(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "test_image: skipped, images and jails need root\n");
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_once_then_from_the_cache),
        cmocka_unit_test(test_refused_image_leaves_nothing),
        cmocka_unit_test(test_plan_puts_the_image_in_place_of_the_host),
        cmocka_unit_test(test_policy_hash_follows_the_digest),
        cmocka_unit_test(test_programs_found_only_in_the_image),
        cmocka_unit_test(test_runtime_table_image),
        cmocka_unit_test(test_runtime_without_its_interpreter_refused),
    };
    return cmocka_run_group_tests(tests, setup_group, teardown_group);
}
