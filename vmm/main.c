/* main.c: the cocoon executable's entry point (placeholder until the launch CLI lands). */
#include <stdio.h>

#include "version.h"

int main(void)
{
    printf("cocoon %s\n", COCOON_VERSION);
    return 0;
}
