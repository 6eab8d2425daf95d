/* unix_socket.h: Unix sockets cocoon creates or dials by path, safe against other local users. */
#ifndef COCOON_UNIX_SOCKET_H
#define COCOON_UNIX_SOCKET_H

#include <stddef.h>

/* Longest socket path bind() takes: sizeof(sun_path) minus the terminating NUL. */
#define UNIX_SOCKET_PATH_MAX 107

/* Creates a listening Unix stream socket at path (non-blocking, close-on-exec), born mode 0600
 * (fchmod on the socket before bind: no chmod of a path another user could swap). Refuses a
 * path longer than UNIX_SOCKET_PATH_MAX, a folder that others may write without the sticky bit
 * (anyone could rename a file over the socket), an existing file that is not a socket (a
 * symlink included), and a socket something still listens on; a stale socket is replaced.
 * what names the socket in messages ("API socket"). Returns the fd, or -1 with one line in err. */
int unix_listen_path(const char *path, const char *what, int backlog, char *err, size_t errlen);

/* Connects a non-blocking stream socket to path only if path is a socket itself, not a
 * symlink or anything else: the path is opened with O_PATH | O_NOFOLLOW, checked with fstat,
 * and dialled through /proc/self/fd, so it cannot be swapped in between. Returns the connected
 * fd, or -1 with errno set (ELOOP for a symlink, ENOTSOCK for another file). */
int unix_connect_socket_only(const char *path);

#endif
