/* The jail's network: a namespace of its own with nothing in it but
 * loopback, brought up so that programs talking to themselves over
 * 127.0.0.1 work. Two ioctls; no netlink needed. */
#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sandbox/jail_child.h"

int net_loopback_up(struct jail_fail *fail)
{
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0)
        return fail_at(fail, "open a socket to configure lo", errno);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, "lo", sizeof("lo"));
    int rc = 0;
    if (ioctl(sock, SIOCGIFFLAGS, &ifr) != 0) {
        rc = fail_at(fail, "read the flags of lo", errno);
    } else {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        if (ioctl(sock, SIOCSIFFLAGS, &ifr) != 0)
            rc = fail_at(fail, "bring lo up", errno);
    }
    close(sock);
    return rc;
}
