/* Output flood: writes to stdout, stderr or both as fast as it can. The
 * jail's output budget must stop it before MAX bytes have been written. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/attacks/attack.h"

enum { CHUNK = 64 * 1024 };

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "stdout") != 0 && strcmp(argv[1], "stderr") != 0 &&
                      strcmp(argv[1], "both") != 0))
        attack_usage("attack_output_flood stdout|stderr|both MAX");
    bool to_out = strcmp(argv[1], "stderr") != 0;
    bool to_err = strcmp(argv[1], "stdout") != 0;
    long max = strtol(argv[2], NULL, 10);

    static char chunk[CHUNK];
    memset(chunk, 'F', sizeof(chunk));
    long written = 0;
    while (written < max) {
        ssize_t n = 0;
        if (to_out && (n = write(STDOUT_FILENO, chunk, sizeof(chunk))) > 0)
            written += n;
        if (to_err && (n = write(STDERR_FILENO, chunk, sizeof(chunk))) > 0)
            written += n;
        if (n < 0) {
            /* The jail closed our pipes: it stopped listening, which stops the flood. */
            attack_must_fail(n, "writing past %ld bytes", written);
            return attack_finish();
        }
    }
    attack_escaped("wrote %ld bytes of output", written);
    return attack_finish();
}
