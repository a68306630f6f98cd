/* brig: the brig client. Not implemented yet; see the issue tracker. */
#include <stdio.h>

int main(void)
{
    fprintf(stderr, "usage: brig ...\nbrig: the brig client is not implemented yet\n");
    return 2;
}
