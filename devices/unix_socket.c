/* unix_socket.c: creating and dialling Unix sockets by path without trusting the file system. */
#include "devices/unix_socket.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

_Static_assert(UNIX_SOCKET_PATH_MAX + 1 == sizeof(((struct sockaddr_un *)0)->sun_path),
               "sun_path size");

/* Refuses a folder others may write without the sticky bit: there anyone can rename their own
 * file (a symlink) over the socket between our checks and our use. */
static int check_folder(const char *path, const char *what, char *err, size_t errlen)
{
    char copy[UNIX_SOCKET_PATH_MAX + 1];
    snprintf(copy, sizeof(copy), "%s", path);
    const char *dir = dirname(copy);
    struct stat st;
    if (stat(dir, &st) < 0) {
        snprintf(err, errlen, "cannot create %s %s: %s: %s%s", what, path, dir, strerror(errno),
                 errno == ENOENT ? " (its folder must exist)" : "");
        return -1;
    }
    if ((st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX)) {
        snprintf(err, errlen,
                 "%s %s: its folder %s is writable by every user and lacks the sticky bit; "
                 "use a folder only cocoon's user can write (or chmod +t it)",
                 what, path, dir);
        return -1;
    }
    return 0;
}

/* Removes a stale socket file at path; refuses anything else, or a socket someone serves. */
static int clear_stale_socket(const char *path, const char *what, char *err, size_t errlen)
{
    struct stat st;
    if (lstat(path, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
        return -1;
    }
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, errlen, "%s %s exists and is %s; remove it or choose another path", what,
                 path, S_ISLNK(st.st_mode) ? "a symlink, not a socket" : "not a socket");
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int rc = fd >= 0 ? connect(fd, (struct sockaddr *)&sa, sizeof(sa)) : -1;
    int conn_errno = errno;
    if (fd >= 0)
        close(fd);
    /* EAGAIN: a full backlog, so someone listens there too. */
    if (rc == 0 || conn_errno == EAGAIN) {
        snprintf(err, errlen, "%s %s is in use by another process", what, path);
        return -1;
    }
    if (unlink(path) < 0 && errno != ENOENT) {
        snprintf(err, errlen, "%s %s: cannot remove the stale socket: %s", what, path,
                 strerror(errno));
        return -1;
    }
    return 0;
}

int unix_listen_path(const char *path, const char *what, int backlog, char *err, size_t errlen)
{
    size_t len = path ? strlen(path) : 0;
    if (len == 0 || len > UNIX_SOCKET_PATH_MAX) {
        snprintf(err, errlen, "%s path must be 1..%d bytes (got %zu)", what, UNIX_SOCKET_PATH_MAX,
                 len);
        return -1;
    }
    if (check_folder(path, what, err, errlen) < 0 ||
        clear_stale_socket(path, what, err, errlen) < 0)
        return -1;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, path, len + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(err, errlen, "%s %s: socket: %s", what, path, strerror(errno));
        return -1;
    }
    /* Linux's unix_bind() creates the file with the socket inode's mode (less the umask):
     * the file is born 0600, nothing is ever chmod'ed by path. */
    if (fchmod(fd, 0600) < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot create %s %s: %s%s", what, path, strerror(e),
                 e == ENOENT ? " (its folder must exist)" : "");
        close(fd);
        return -1;
    }
    if (listen(fd, backlog) < 0) {
        snprintf(err, errlen, "cannot listen on %s %s: %s", what, path, strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    return fd;
}

int unix_connect_socket_only(const char *path)
{
    int pfd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (pfd < 0)
        return -1;
    struct stat st;
    if (fstat(pfd, &st) < 0 || !S_ISSOCK(st.st_mode)) {
        int e = errno;
        if (e == 0 || S_ISLNK(st.st_mode) || !S_ISSOCK(st.st_mode))
            e = S_ISLNK(st.st_mode) ? ELOOP : ENOTSOCK;
        close(pfd);
        errno = e;
        return -1;
    }
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d", pfd);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    /* A Unix stream connect completes at once or fails (EAGAIN: the backlog is full). */
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(fd);
        fd = -1;
        errno = e;
    }
    int e = errno;
    close(pfd);
    errno = e;
    return fd;
}
