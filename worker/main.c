/* brig-worker: the brig worker pool. Not implemented yet; see the issue tracker. */
#include <stdio.h>

int main(void)
{
    fprintf(stderr, "usage: brig-worker ...\nbrig-worker: the brig worker pool is not implemented yet\n");
    return 2;
}
