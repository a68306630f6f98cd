/* Two jails at once must not reach each other, nor the host's abstract unix
 * sockets, which live in the network namespace.
 *
 *   attack_neighbour hold NAME SYNC_DIR
 *       puts a file NAME in its /work and listens on the abstract socket
 *       "\0NAME", creates SYNC_DIR/ready, and waits until SYNC_DIR/done
 *       appears: any connection that arrives meanwhile escaped.
 *   attack_neighbour seek NAME ABSTRACT_NAME...
 *       run in a second jail while the first holds: looks for a file NAME
 *       everywhere it can see (its whole tree, /proc/<pid>/root/work of
 *       every visible process) and connects to each abstract socket.
 *
 * Both note the host uid they run as (from /proc/self/uid_map): the test
 * checks that two jails at once never share one. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/attacks/attack.h"

enum { HOLD_MS = 60 * 1000 };

static socklen_t abstract_address(const char *name, struct sockaddr_un *addr)
{
    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    size_t len = strnlen(name, sizeof(addr->sun_path) - 1);
    memcpy(addr->sun_path + 1, name, len);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len);
}

static int hold(const char *name, const char *sync_dir)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "/work/%s", name);
    attack_touch(path);

    struct sockaddr_un addr;
    socklen_t addr_len = abstract_address(name, &addr);
    int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener < 0 || bind(listener, (struct sockaddr *)&addr, addr_len) != 0 ||
        listen(listener, 4) != 0) {
        perror("listening on the abstract socket");
        return 2;
    }
    snprintf(path, sizeof(path), "%s/ready", sync_dir);
    attack_touch(path);

    snprintf(path, sizeof(path), "%s/done", sync_dir);
    struct pollfd pfd = {.fd = listener, .events = POLLIN};
    bool connected = false;
    int waited = 0;
    while (!connected && access(path, F_OK) != 0 && waited < HOLD_MS) {
        connected = poll(&pfd, 1, 50) > 0;
        waited += 50;
    }
    if (connected)
        attack_escaped("a connection arrived on abstract socket @%s", name);
    else if (waited >= HOLD_MS)
        fprintf(stderr, "gave up waiting for %s\n", path);
    else
        attack_contained("no connection arrived on abstract socket @%s", name);
    close(listener);
    return attack_finish();
}

static const char *sought;
static int sightings;

static int look_at(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    if (strcmp(path, "/proc") == 0 || strcmp(path, "/sys") == 0)
        return FTW_SKIP_SUBTREE;
    if (strcmp(path + ftw->base, sought) == 0) {
        attack_escaped("found the other jail's file at %s", path);
        sightings++;
    }
    return FTW_CONTINUE;
}

static void seek_file(const char *name)
{
    sought = name;
    nftw("/", look_at, 64, FTW_PHYS | FTW_ACTIONRETVAL);
    int pids[64];
    int count = attack_list_pids(pids, 64);
    for (int i = 0; i < count; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "/proc/%d/root/work/%s", pids[i], name);
        if (access(path, F_OK) == 0) {
            attack_escaped("found the other jail's file at %s", path);
            sightings++;
        }
    }
    if (sightings == 0)
        attack_contained("no file named %s anywhere in view", name);
}

static void seek_socket(const char *name)
{
    struct sockaddr_un addr;
    socklen_t addr_len = abstract_address(name, &addr);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        attack_must_fail(fd, "unix socket");
        return;
    }
    attack_must_fail(connect(fd, (struct sockaddr *)&addr, addr_len),
                     "connect to abstract socket @%s", name);
    close(fd);
}

static void note_host_uid(void)
{
    char map[256];
    unsigned long inside, outside, count;
    if (attack_read_file("/proc/self/uid_map", map, sizeof(map)) >= 0 &&
        sscanf(map, "%lu %lu %lu", &inside, &outside, &count) == 3)
        attack_note("host uid %lu", outside);
}

int main(int argc, char **argv)
{
    note_host_uid();
    if (argc == 4 && strcmp(argv[1], "hold") == 0)
        return hold(argv[2], argv[3]);
    if (argc >= 3 && strcmp(argv[1], "seek") == 0) {
        seek_file(argv[2]);
        for (int i = 3; i < argc; i++)
            seek_socket(argv[i]);
        return attack_finish();
    }
    attack_usage("attack_neighbour hold NAME SYNC_DIR | seek NAME ABSTRACT_NAME...");
}
