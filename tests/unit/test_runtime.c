/* The runtime table: the shipped file, lookups, and every kind of malformed
 * entry, each of which must be refused with a message naming the field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/common.h"
#include "sandbox/runtime.h"

#define SHIPPED_TABLE BRIG_SOURCE_DIR "/sandbox/runtimes.json"

static char err[512];

/* Test JSON is written with ' for " to stay readable. */
static char *dequote(const char *text)
{
    char *copy = strdup(text);
    assert_non_null(copy);
    for (char *c = copy; *c != '\0'; c++) {
        if (*c == '\'')
            *c = '"';
    }
    return copy;
}

static struct runtime_table *parse_ok(const char *text)
{
    struct runtime_table *table = NULL;
    char *json = dequote(text);
    err[0] = '\0';
    if (runtime_table_parse(json, strlen(json), "test.json", &table, err, sizeof(err)) != 0)
        fail_msg("parse failed: %s", err);
    free(json);
    return table;
}

/* Parses text, which must fail, and checks that the message holds each of the
 * NULL-terminated fragments (also written with '). */
static void assert_refused(const char *text, const char *const *fragments)
{
    struct runtime_table *table = NULL;
    char *json = dequote(text);

    err[0] = '\0';
    assert_int_equal(runtime_table_parse(json, strlen(json), "test.json", &table, err, sizeof(err)),
                     -1);
    assert_null(table);
    free(json);
    assert_non_null(strstr(err, "test.json"));
    for (; *fragments != NULL; fragments++) {
        char *wanted = dequote(*fragments);
        if (strstr(err, wanted) == NULL)
            fail_msg("message \"%s\" lacks \"%s\"", err, wanted);
        free(wanted);
    }
}

#define REFUSED(text, ...) assert_refused(text, (const char *const[]){__VA_ARGS__, NULL})

#define PY                                                                                         \
    "{'name':'python','source':'main.py','run':['python3','main.py'],'version':['python3','-V']}"

static void test_shipped_table(void **state)
{
    static const char *const names[] = {"python", "javascript", "typescript", "typescript-checked",
                                        "bash",   "sh",         "r",          "java",
                                        "go",     "ruby",       "c"};
    struct runtime_table *table = NULL;
    struct runtime *c, *ts;
    (void)state;

    if (runtime_table_load(SHIPPED_TABLE, &table, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_int_equal(table->count, ARRAY_SIZE(names));
    for (size_t i = 0; i < ARRAY_SIZE(names); i++)
        assert_ptr_equal(runtime_find(table, names[i]), &table->runtimes[i]);
    assert_ptr_equal(runtime_find(table, "py"), runtime_find(table, "python"));
    assert_ptr_equal(runtime_find(table, "js"), runtime_find(table, "javascript"));
    assert_ptr_equal(runtime_find(table, "ts"), runtime_find(table, "typescript"));
    assert_null(runtime_find(table, "cobol"));

    c = runtime_find(table, "c");
    assert_string_equal(c->source, "main.c");
    assert_non_null(c->compile);
    assert_string_equal(c->compile[0], "gcc");
    assert_true(c->compile_limits.memory_bytes >= 256ull << 20);
    assert_non_null(c->run[0]);
    ts = runtime_find(table, "typescript");
    assert_string_equal(ts->compile[0], "esbuild");
    assert_string_equal(ts->run[0], "node");
    ts = runtime_find(table, "tsc");
    assert_string_equal(ts->name, "typescript-checked");
    assert_string_equal(ts->compile[0], "tsc");
    assert_null(runtime_find(table, "python")->compile);
    runtime_table_free(table);
}

static void test_minimal_and_full_entries(void **state)
{
    struct runtime_table *table;
    struct runtime *runtime;
    (void)state;

    table = parse_ok("{'runtimes':[" PY "]}");
    runtime = &table->runtimes[0];
    assert_string_equal(runtime->name, "python");
    assert_null(runtime->aliases[0]);
    assert_null(runtime->compile);
    assert_string_equal(runtime->run[1], "main.py");
    assert_null(runtime->run[2]);
    assert_string_equal(runtime->version[1], "-V");
    runtime_table_free(table);

    table = parse_ok("{'runtimes':[{'name':'c++','aliases':['cpp','cxx'],'source':'main.cc',"
                     "'compile':{'argv':['g++','main.cc'],'limits':{'wall_time':'1.5s',"
                     "'cpu_time':'250ms','memory':'1G','pids':32}},"
                     "'run':['./a.out'],'version':['g++','--version']}]}");
    runtime = &table->runtimes[0];
    assert_string_equal(runtime->aliases[1], "cxx");
    assert_string_equal(runtime->compile[0], "g++");
    assert_int_equal(runtime->compile_limits.wall_ms, 1500);
    assert_int_equal(runtime->compile_limits.cpu_ms, 250);
    assert_int_equal(runtime->compile_limits.memory_bytes, 1ull << 30);
    assert_int_equal(runtime->compile_limits.pids, 32);
    assert_ptr_equal(runtime_find(table, "cxx"), runtime);
    assert_ptr_equal(runtime_find(table, "c++"), runtime);
    assert_null(runtime_find(table, "C++"));
    runtime_table_free(table);

    table = parse_ok("{'runtimes':[{'name':'go','source':'main.go','compile':{'argv':['go',"
                     "'build']},'run':['./main'],'version':['go','version'],'aliases':[]}]}");
    assert_int_equal(table->runtimes[0].compile_limits.memory_bytes, 0);
    runtime_table_free(table);
}

static void test_document_errors(void **state)
{
    (void)state;
    REFUSED("{'runtimes': [", "test.json:1:");
    REFUSED("[" PY "]", "must be an object with one field, 'runtimes'");
    REFUSED("{'runtimes':[]}", "non-empty array");
    REFUSED("{'runtimes':{}}", "non-empty array");
    REFUSED("{'runtimes':[" PY "],'extra':1}", "one field");

    /* What a worker announces must fit the runtimes record. */
    char many[257 * 80 + 32] = "{'runtimes':[";
    for (int i = 0; i < 257; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many),
                 "%s{'name':'r%d','source':'a','run':['a'],'version':['a']}", i ? "," : "", i);
    strcat(many, "]}");
    REFUSED(many, "a non-empty array of at most 256");
    REFUSED("{'runtimes':[" PY "],'runtimes':[" PY "]}", "duplicate");
    REFUSED("{'runtimes':[" PY ", 7]}", "runtimes[1]: must be an object");
}

static void test_name_errors(void **state)
{
    (void)state;
    REFUSED("{'runtimes':[{'source':'a','run':['a'],'version':['a']}]}",
            "runtimes[0]: name: missing");
    REFUSED("{'runtimes':[{'name':3,'source':'a','run':['a'],'version':['a']}]}",
            "runtimes[0]: name: must be a string");
    REFUSED("{'runtimes':[{'name':'','source':'a','run':['a'],'version':['a']}]}",
            "name: must not be empty");
    REFUSED("{'runtimes':[{'name':'my lang','source':'a','run':['a'],'version':['a']}]}",
            "name: 'my lang': invalid character 0x20 at byte 2");
    REFUSED("{'runtimes':[{'name':'a\\u0000b','source':'a','run':['a'],'version':['a']}]}",
            "test.json:1:", "not allowed");
    REFUSED("{'runtimes':[{'name':'Python','source':'a','run':['a'],'version':['a']}]}",
            "runtimes[0]: name: 'Python': invalid character", "at byte 0");
    REFUSED("{'runtimes':[{'name':'-x','source':'a','run':['a'],'version':['a']}]}",
            "name: '-x': invalid character");
    REFUSED("{'runtimes':[{'name':'abcdefghijklmnopqrstuvwxyz0123456','source':'a',"
            "'run':['a'],'version':['a']}]}",
            "name: 'abcdefghijklmnopqrstuvwxyz0123456' is longer than 32 characters");
}

static void test_field_errors(void **state)
{
    (void)state;
    REFUSED("{'runtimes':[" PY ",{'name':'x','sourc':'a','run':['a'],'version':['a']}]}",
            "runtimes[1] ('x'): sourc: unknown field");
    REFUSED("{'runtimes':[{'name':'x','aliases':'y','source':'a','run':['a'],"
            "'version':['a']}]}",
            "runtimes[0] ('x'): aliases: must be an array of strings");
    REFUSED("{'runtimes':[{'name':'x','aliases':['y',2],'source':'a','run':['a'],"
            "'version':['a']}]}",
            "aliases[1]: must be a string");
    REFUSED("{'runtimes':[{'name':'x','aliases':['y/z'],'source':'a','run':['a'],"
            "'version':['a']}]}",
            "aliases[0]: 'y/z': invalid character", "at byte 1");
    /* What a worker announces must fit the runtimes record. */
    REFUSED("{'runtimes':[{'name':'x','aliases':['a','b','c','d','e','f','g','h','i','j','k',"
            "'l','m','n','o','p','q'],'source':'a','run':['a'],'version':['a']}]}",
            "runtimes[0] ('x'): aliases: more than 16");
    REFUSED("{'runtimes':[{'name':'x','run':['a'],'version':['a']}]}", "('x'): source: missing");
    REFUSED("{'runtimes':[{'name':'x','source':'src/main.x','run':['a'],'version':['a']}]}",
            "source: 'src/main.x' must be a plain file name");
    REFUSED("{'runtimes':[{'name':'x','source':'..','run':['a'],'version':['a']}]}",
            "source: '..' must be a plain file name");
    REFUSED("{'runtimes':[{'name':'x','source':['a'],'run':['a'],'version':['a']}]}",
            "source: must be a string");
    REFUSED("{'runtimes':[{'name':'x','source':'a','version':['a']}]}", "run: missing");
    REFUSED("{'runtimes':[{'name':'x','source':'a','run':[],'version':['a']}]}",
            "run: must be a non-empty array of strings");
    REFUSED("{'runtimes':[{'name':'x','source':'a','run':'a b','version':['a']}]}",
            "run: must be a non-empty array of strings");
    REFUSED("{'runtimes':[{'name':'x','source':'a','run':['a',null],'version':['a']}]}",
            "run[1]: must be a string");
    REFUSED("{'runtimes':[{'name':'x','source':'a','run':['a',''],'version':['a']}]}",
            "run[1]: must not be empty");
    REFUSED("{'runtimes':[{'name':'x','source':'a','run':['a']}]}", "version: missing");
    REFUSED("{'runtimes':[{'name':'x','source':'a','run':['a'],'version':{}}]}",
            "version: must be a non-empty array");
}

#define WITH_COMPILE(compile)                                                                      \
    "{'runtimes':[{'name':'c','source':'main.c','compile':" compile                                \
    ",'run':['./main'],'version':['gcc','--version']}]}"

static void test_compile_errors(void **state)
{
    (void)state;
    REFUSED(WITH_COMPILE("['gcc']"), "('c'): compile: must be an object");
    REFUSED(WITH_COMPILE("{}"), "compile.argv: missing");
    REFUSED(WITH_COMPILE("{'argv':['gcc'],'argc':1}"), "compile.argc: unknown field");
    REFUSED(WITH_COMPILE("{'argv':[1]}"), "compile.argv[0]: must be a string");
    REFUSED(WITH_COMPILE("{'argv':['gcc'],'limits':[]}"), "compile.limits: must be an object");
    REFUSED(WITH_COMPILE("{'argv':['gcc'],'limits':{'disk':'1G'}}"),
            "compile.limits.disk: unknown field");
    REFUSED(WITH_COMPILE("{'argv':['gcc'],'limits':{'memory':'512X'}}"),
            "compile.limits.memory: ", "'512X' is not a size");
    REFUSED(WITH_COMPILE("{'argv':['gcc'],'limits':{'memory':512}}"),
            "compile.limits.memory: must be a string like '512M'");
    REFUSED(WITH_COMPILE("{'argv':['gcc'],'limits':{'wall_time':'ten'}}"),
            "compile.limits.wall_time: ", "'ten' is not a duration");
    REFUSED(WITH_COMPILE("{'argv':['gcc'],'limits':{'cpu_time':'0s'}}"),
            "compile.limits.cpu_time: must be greater than 0");
    REFUSED(WITH_COMPILE("{'argv':['gcc'],'limits':{'pids':'64'}}"),
            "compile.limits.pids: must be a whole number");
    REFUSED(WITH_COMPILE("{'argv':['gcc'],'limits':{'pids':0}}"),
            "compile.limits.pids: must be a whole number greater than 0");
    REFUSED(WITH_COMPILE("{'argv':['gcc'],'limits':{'pids':1.5}}"),
            "compile.limits.pids: must be a whole number");
}

static void test_duplicate_names(void **state)
{
    (void)state;
    REFUSED("{'runtimes':[" PY "," PY "]}",
            "runtimes[1] ('python'): name: 'python' is already taken by runtime 'python'");
    REFUSED("{'runtimes':[" PY ",{'name':'snake','aliases':['x','python'],'source':'a',"
            "'run':['a'],'version':['a']}]}",
            "runtimes[1] ('snake'): aliases[1]: 'python' is already taken by runtime "
            "'python'");
    REFUSED("{'runtimes':[{'name':'a','aliases':['b','b'],'source':'a','run':['a'],"
            "'version':['a']}]}",
            "runtimes[0] ('a'): aliases[1]: 'b' is already taken by runtime 'a'");
    REFUSED("{'runtimes':[{'name':'a','aliases':['a'],'source':'a','run':['a'],"
            "'version':['a']}]}",
            "aliases[0]: 'a' is already taken by runtime 'a'");
}

static void test_load_errors(void **state)
{
    char path[] = "/tmp/brig-test-runtime-XXXXXX";
    struct runtime_table *table = NULL;
    int fd;
    (void)state;

    assert_int_equal(runtime_table_load("/nonexistent/runtimes.json", &table, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "/nonexistent/runtimes.json: No such file or directory"));

    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "{\"runtimes\": 1}", 15), 15);
    close(fd);
    assert_int_equal(runtime_table_load(path, &table, err, sizeof(err)), -1);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "\"runtimes\""));
    assert_null(table);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_table),   cmocka_unit_test(test_minimal_and_full_entries),
        cmocka_unit_test(test_document_errors), cmocka_unit_test(test_name_errors),
        cmocka_unit_test(test_field_errors),    cmocka_unit_test(test_compile_errors),
        cmocka_unit_test(test_duplicate_names), cmocka_unit_test(test_load_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
