/* The network: the jail has a network namespace of its own with only a
 * loopback device. Each ADDRESS:PORT given (the test listens there on the
 * host, over TCP and UDP: 127.0.0.1 and the host's other addresses) must be
 * unreachable: TCP connects fail (ECONNREFUSED on the jail's own loopback,
 * ENETUNREACH elsewhere), and the test checks that its servers received
 * nothing, UDP included. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/attacks/attack.h"

static int parse_address(const char *text, struct sockaddr_in *addr)
{
    char host[64];
    const char *colon = strrchr(text, ':');
    if (!colon || (size_t)(colon - text) >= sizeof(host))
        return -1;
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    memset(addr, 0, sizeof(*addr));
    addr->sin_family = AF_INET;
    addr->sin_port = htons((uint16_t)atoi(colon + 1));
    return inet_pton(AF_INET, host, &addr->sin_addr) == 1 ? 0 : -1;
}

static void try_tcp(const char *text, const struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        attack_must_fail(fd, "TCP socket for %s", text);
        return;
    }
    attack_must_fail(connect(fd, (const struct sockaddr *)addr, sizeof(*addr)), "TCP connect to %s",
                     text);
    close(fd);
}

/* A datagram that leaves is not an error here: only the test's server can say
 * whether it arrived. The send is reported as tried. */
static void try_udp(const char *text, const struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        attack_must_fail(fd, "UDP socket for %s", text);
        return;
    }
    ssize_t sent = sendto(fd, "brig-attack", 11, 0, (const struct sockaddr *)addr, sizeof(*addr));
    attack_contained("UDP send to %s returned %zd %s; the test checks its server", text, sent,
                     sent < 0 ? attack_errno_name(errno) : "");
    close(fd);
}

static void check_interfaces(void)
{
    char devices[8192];
    if (attack_read_file("/proc/net/dev", devices, sizeof(devices)) < 0) {
        attack_must_fail(-1, "read /proc/net/dev");
        return;
    }
    /* Two header lines, then "  name: counters..." per interface. */
    char *line = strchr(devices, '\n');
    line = line ? strchr(line + 1, '\n') : NULL;
    while (line && *++line) {
        char *colon = strchr(line, ':');
        if (!colon)
            break;
        *colon = '\0';
        line += strspn(line, " ");
        if (strcmp(line, "lo") == 0)
            attack_contained("interface lo");
        else
            attack_escaped("interface %s besides lo", line);
        line = strchr(colon + 1, '\n');
    }
}

int main(int argc, char **argv)
{
    if (argc < 2)
        attack_usage("attack_network ADDRESS:PORT...");
    check_interfaces();
    for (int i = 1; i < argc; i++) {
        struct sockaddr_in addr;
        if (parse_address(argv[i], &addr) != 0)
            attack_usage("attack_network ADDRESS:PORT... (an IPv4 address and a port)");
        try_tcp(argv[i], &addr);
        try_udp(argv[i], &addr);
    }
    return attack_finish();
}
