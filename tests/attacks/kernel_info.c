/* Kernel memory and addresses: /proc/kcore (the kernel's memory as an ELF
 * core), /proc/kmsg (the kernel log, full of host details; the syslog call
 * is attack_syscall's), /proc/kallsyms (symbol addresses: kernel ASLR undone unless they
 * read as zeros) and our own /proc/self/pagemap (physical frame numbers, the
 * first step of Rowhammer: zeros without CAP_SYS_ADMIN). */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/attacks/attack.h"

/* Opening may succeed where a jail masks the file with an empty one; the
 * leak is a read that returns bytes. */
static void try_read(const char *path)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        attack_must_fail(fd, "open %s", path);
        return;
    }
    char buf[64];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n > 0)
        attack_escaped("read %zd bytes from %s", n, path);
    else if (n == 0)
        attack_contained("%s reads as empty", path);
    else
        attack_must_fail(n, "read %s", path);
    close(fd);
}

static void try_kallsyms(void)
{
    FILE *symbols = fopen("/proc/kallsyms", "re");
    if (!symbols) {
        attack_must_fail(-1, "open /proc/kallsyms");
        return;
    }
    char line[512];
    unsigned long lines = 0, nonzero = 0;
    while (fgets(line, sizeof(line), symbols)) {
        lines++;
        if (strtoull(line, NULL, 16) != 0)
            nonzero++;
    }
    fclose(symbols);
    if (nonzero > 0)
        attack_escaped("/proc/kallsyms shows %lu real addresses", nonzero);
    else
        attack_contained("/proc/kallsyms shows %lu symbols, every address zero", lines);
}

static void try_pagemap(void)
{
    static char page[4096];
    memset(page, 1, sizeof(page));
    int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        attack_must_fail(fd, "open /proc/self/pagemap");
        return;
    }
    uint64_t entry = 0;
    off_t offset = (off_t)((uintptr_t)page / 4096 * sizeof(entry));
    if (pread(fd, &entry, sizeof(entry), offset) != (ssize_t)sizeof(entry)) {
        attack_must_fail(-1, "read /proc/self/pagemap");
    } else {
        /* Bits 0-54 hold the frame number when the page is present (bit 63). */
        uint64_t frame = entry & ((1ULL << 55) - 1);
        if (frame != 0)
            attack_escaped("/proc/self/pagemap gives physical frame %#llx",
                           (unsigned long long)frame);
        else
            attack_contained("/proc/self/pagemap hides physical frames");
    }
    close(fd);
}

int main(void)
{
    try_read("/proc/kcore");
    try_read("/proc/kmsg");
    try_kallsyms();
    try_pagemap();
    return attack_finish();
}
