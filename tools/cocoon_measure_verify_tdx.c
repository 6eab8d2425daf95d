/* cocoon_measure_verify_tdx.c: placeholder */
#include "tools/verify_cli.h"
int verify_tdx_main(int argc, char **argv)
{
    return 2;
}
