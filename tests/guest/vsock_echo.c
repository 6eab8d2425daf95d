/* vsock_echo.c: test guest: vsock echo service on port 1024, plus one connection out to the host.
 *
 * cmdline: connect=P   connect to host port P first and send a greeting (0 = don't)
 *          sessions=N  power off (status 0) after N echo sessions ended (0 = serve forever)
 * The service itself is tests/guest/rt/vsock.c (shared with the demo guest).
 */
#include "rt/rt.h"
#include "rt/vsock.h"

int main(void)
{
    uint32_t connect_port = (uint32_t)rt_cmdline_uint("connect", 0);
    unsigned sessions = (unsigned)rt_cmdline_uint("sessions", 0);
    vsock_echo_start(1024);
    if (connect_port)
        vsock_echo_connect(connect_port, "hello from the guest over vsock\n");
    vsock_echo_serve(sessions);
    return 0;
}
