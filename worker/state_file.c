#include "worker/state_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"

const char *brig_state_dir(char *buf, size_t len)
{
    const char *dir = getenv("BRIG_STATE_DIR");
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    if (dir && *dir)
        snprintf(buf, len, "%s", dir);
    else if (geteuid() != 0 && xdg && *xdg)
        snprintf(buf, len, "%s/brig", xdg);
    else
        snprintf(buf, len, "/run/brig");
    return buf;
}

const char *brig_sessions_dir(const char *state_dir, char *buf, size_t len)
{
    const char *dir = getenv("BRIG_SESSIONS_DIR");
    if (dir && *dir)
        snprintf(buf, len, "%s", dir);
    else
        snprintf(buf, len, "%s/sessions", state_dir);
    return buf;
}

int broker_state_write(const char *state_dir, const char *bootstraps, uint64_t message_max,
                       char *err, size_t errlen)
{
    char path[4096], tmp[4096];
    snprintf(path, sizeof(path), "%s/broker", state_dir);
    snprintf(tmp, sizeof(tmp), "%s/.broker.%d", state_dir, (int)getpid());

    if (mkdir(state_dir, 0755) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "creating state directory %s: %s", state_dir, strerror(errno));
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "creating %s: %s", tmp, strerror(errno));
        return -1;
    }
    char text[1200];
    int len = snprintf(text, sizeof(text), "%s\nmessage_max_bytes %llu\n", bootstraps,
                       (unsigned long long)message_max);
    int rc = write_all(fd, text, len < (int)sizeof(text) ? (size_t)len : sizeof(text) - 1);
    int saved = errno;
    close(fd);
    if (rc < 0 || rename(tmp, path) < 0) {
        snprintf(err, errlen, "writing %s: %s", path, rc < 0 ? strerror(saved) : strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

uint64_t broker_state_message_max(const char *state_dir)
{
    char path[4096], text[1200];
    snprintf(path, sizeof(path), "%s/broker", state_dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    text[n] = '\0';
    const char *line = strstr(text, "\nmessage_max_bytes ");
    return line ? strtoull(line + strlen("\nmessage_max_bytes "), NULL, 10) : 0;
}

int broker_state_read(const char *state_dir, char *buf, size_t len, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/broker", state_dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen,
                 "no broker given (--brokers or BRIG_BROKERS) and no embedded broker running "
                 "(%s: %s)",
                 path, strerror(errno));
        return -1;
    }
    ssize_t n = read(fd, buf, len - 1);
    int saved = errno;
    close(fd);
    if (n <= 0) {
        snprintf(err, errlen, "reading %s: %s", path, n < 0 ? strerror(saved) : "empty file");
        return -1;
    }
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    return 0;
}

void broker_state_remove(const char *state_dir, const char *bootstraps)
{
    char current[1024], err[256];
    char path[4096];
    snprintf(path, sizeof(path), "%s/broker", state_dir);
    if (broker_state_read(state_dir, current, sizeof(current), err, sizeof(err)) == 0 &&
        strcmp(current, bootstraps) == 0)
        unlink(path);
}

void broker_state_remove_stale(const char *state_dir)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/broker", state_dir);
    unlink(path);
}
