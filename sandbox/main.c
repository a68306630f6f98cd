/* brig-jail: runs one program in brig's jail from a shell. Not implemented yet. */
#include <stdio.h>

int main(void)
{
    fprintf(stderr, "usage: brig-jail [OPTIONS] -- PROGRAM [ARGS...]\nbrig-jail: not implemented yet\n");
    return 2;
}
