/* console_out_bounded.c: console output never blocks a vCPU or the loop: an unread pipe fills,
 * the buffer stays bounded and drops the oldest bytes (counted), the reader later gets the newest
 * bytes, stop waits at most its deadline, a vanished reader or a socket sink are handled. */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "vmm/console_out.h"

#define TOTAL (3u * CONSOLE_OUT_BUFFER)

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Byte i of the stream: a position-dependent pattern, so order and drops can be checked. */
static uint8_t pattern(uint64_t i)
{
    return (uint8_t)(i * 7 + (i >> 12));
}

static void put_stream(struct console_out *co, uint64_t from, uint64_t n)
{
    uint8_t buf[4096];
    for (uint64_t done = 0; done < n;) {
        size_t k = n - done < sizeof(buf) ? (size_t)(n - done) : sizeof(buf);
        for (size_t j = 0; j < k; j++)
            buf[j] = pattern(from + done + j);
        console_out_put(co, buf, k);
        done += k;
    }
}

static void spin_loop(uv_loop_t *loop, int rounds)
{
    for (int i = 0; i < rounds; i++)
        uv_run(loop, UV_RUN_NOWAIT);
}

/* Reads whatever is in the pipe now (non-blocking). */
static size_t read_all(int fd, uint8_t *out, size_t cap)
{
    size_t got = 0;
    for (;;) {
        ssize_t n = read(fd, out + got, cap - got);
        if (n <= 0)
            return got;
        got += (size_t)n;
    }
}

static void unread_pipe_keeps_newest_bytes_bounded(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    int p[2];
    assert_int_equal(pipe2(p, O_NONBLOCK), 0);
    char err[128] = "";
    struct console_out *co = console_out_start(&loop, p[1], err, sizeof(err));
    assert_non_null(co);
    double t0 = now_ms();
    put_stream(co, 0, TOTAL); /* nobody reads: this must still return at once */
    spin_loop(&loop, 20);
    assert_true(now_ms() - t0 < 5000);
    uint64_t dropped = console_out_dropped(co);
    /* At most the pipe, one staged chunk and the ring hold bytes; the rest is dropped. */
    assert_true(dropped >= TOTAL - CONSOLE_OUT_BUFFER - 2 * 65536);
    assert_true(dropped <= TOTAL - CONSOLE_OUT_BUFFER);
    /* Now a reader comes: it gets what the pipe held (the stream's start), then the newest bytes,
     * ending with the very last one. */
    uint8_t *got = malloc(TOTAL);
    size_t n = 0;
    for (int i = 0; i < 2000 && n < TOTAL - dropped; i++) {
        n += read_all(p[0], got + n, TOTAL - n);
        spin_loop(&loop, 1);
    }
    assert_int_equal(n, TOTAL - dropped);
    assert_int_equal(got[0], pattern(0));
    for (size_t k = 1; k <= 4096; k++)
        assert_int_equal(got[n - k], pattern(TOTAL - k));
    console_out_stop(co);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    free(got);
    close(p[0]);
    close(p[1]);
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[128];
    long kib = -1;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

/* More than 100 MiB of console output with nobody reading: memory stays at the buffer's size,
 * the producer never waits, and every byte beyond what fits is counted as dropped. */
static void flood_of_128_mib_stays_bounded(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    int p[2];
    assert_int_equal(pipe(p), 0);
    char err[128] = "";
    struct console_out *co = console_out_start(&loop, p[1], err, sizeof(err));
    assert_non_null(co);
    long before = rss_kib();
    const uint64_t total = 128ull << 20;
    double t0 = now_ms();
    for (uint64_t done = 0; done < total; done += 16u << 20) {
        put_stream(co, done, 16u << 20);
        spin_loop(&loop, 2); /* the loop drains what the pipe takes, then waits for POLLOUT */
    }
    double spent = now_ms() - t0;
    long grown = rss_kib() - before;
    print_message("128 MiB offered in %.0f ms, RSS grew %ld KiB, %llu bytes dropped\n", spent,
                  grown, (unsigned long long)console_out_dropped(co));
#if !defined(__SANITIZE_THREAD__)  /* TSan's shadow memory grows with every byte touched */
    assert_true(grown < 4 * 1024); /* the 1 MiB ring and a 64 KiB chunk, not the flood */
#endif
    assert_true(console_out_dropped(co) >= total - CONSOLE_OUT_BUFFER - 2 * 65536);
    console_out_stop(co);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    close(p[0]);
    close(p[1]);
}

static void stop_with_unread_pipe_is_bounded(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    int p[2];
    assert_int_equal(pipe(p), 0); /* a blocking pipe: cocoon must use its own non-blocking open */
    char err[128] = "";
    struct console_out *co = console_out_start(&loop, p[1], err, sizeof(err));
    assert_non_null(co);
    put_stream(co, 0, 256 * 1024);
    spin_loop(&loop, 5);
    double t0 = now_ms();
    console_out_stop(co);
    uv_run(&loop, UV_RUN_DEFAULT);
    double spent = now_ms() - t0;
    assert_true(spent < 1000);
    assert_int_equal(uv_loop_close(&loop), 0);
    /* The caller's description was not switched to non-blocking behind its back. */
    assert_false(fcntl(p[1], F_GETFL) & O_NONBLOCK);
    close(p[0]);
    close(p[1]);
}

struct producer {
    struct console_out *co;
    uint64_t n;
};

static void *produce(void *arg)
{
    struct producer *pr = arg;
    put_stream(pr->co, 0, pr->n);
    return NULL;
}

static void reader_gone_and_concurrent_producer(void **state)
{
    signal(SIGPIPE, SIG_IGN); /* as cocoon's main() does */
    uv_loop_t loop;
    uv_loop_init(&loop);
    int p[2];
    assert_int_equal(pipe(p), 0);
    char err[128] = "";
    struct console_out *co = console_out_start(&loop, p[1], err, sizeof(err));
    assert_non_null(co);
    close(p[0]); /* the reader goes away */
    struct producer pr = {co, 8u << 20};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, produce, &pr), 0);
    for (int i = 0; i < 200; i++)
        spin_loop(&loop, 1);
    pthread_join(t, NULL);
    spin_loop(&loop, 5);
    console_out_stop(co);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    close(p[1]);
}

static void socket_sink_and_discard(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    char err[128] = "";
    struct console_out *co = console_out_start(&loop, sv[0], err, sizeof(err));
    struct console_out *none = console_out_start(&loop, -1, err, sizeof(err));
    assert_non_null(co);
    assert_non_null(none);
    console_out_put(co, (const uint8_t *)"hello\n", 6);
    console_out_put(none, (const uint8_t *)"lost\n", 5);
    spin_loop(&loop, 5);
    char buf[16] = "";
    assert_int_equal(read(sv[1], buf, sizeof(buf)), 6);
    assert_memory_equal(buf, "hello\n", 6);
    assert_int_equal(console_out_dropped(none), 0);
    console_out_stop(co);
    console_out_stop(none);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    close(sv[0]);
    close(sv[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unread_pipe_keeps_newest_bytes_bounded),
        cmocka_unit_test(flood_of_128_mib_stays_bounded),
        cmocka_unit_test(stop_with_unread_pipe_is_bounded),
        cmocka_unit_test(reader_gone_and_concurrent_producer),
        cmocka_unit_test(socket_sink_and_discard),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
