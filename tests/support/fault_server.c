/*
 * fault_server.c - see fault_server.h.
 */
#include "fault_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SLICE_MS 20
#define IO_LIMIT_MS 10000   /* no single read or write phase outlasts it */
#define REQ_MAX (1024 * 1024)

struct fault_server {
    struct fault_plan plan;
    char *head, *drip, *unit;
    int fd, port;
    pthread_t thread;
    atomic_int stop;
    atomic_long conns;
};

static long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait up to ms, draining what the client sends; -1 when the client
   closed or the server stops, else 0. */
static int wait_ms(struct fault_server *s, int fd, long ms)
{
    long end = mono_ms() + ms;
    char sink[4096];
    for (long now = mono_ms(); now < end; now = mono_ms()) {
        if (atomic_load(&s->stop))
            return -1;
        long left = end - now;
        struct pollfd p = {fd, POLLIN, 0};
        int n = poll(&p, 1, (int)(left < SLICE_MS ? left : SLICE_MS));
        if (n > 0 && recv(fd, sink, sizeof sink, MSG_DONTWAIT) <= 0)
            return -1;
    }
    return 0;
}

static int send_all(struct fault_server *s, int fd, const char *p,
                    size_t len)
{
    long end = mono_ms() + IO_LIMIT_MS;
    while (len) {
        if (atomic_load(&s->stop) || mono_ms() > end)
            return -1;
        struct pollfd pf = {fd, POLLOUT, 0};
        if (poll(&pf, 1, SLICE_MS) <= 0)
            continue;
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Content-Length of the request head in buf (0 when absent). */
static size_t content_length(const char *buf)
{
    for (const char *p = buf; (p = strchr(p, '\n')) != NULL; p++)
        if (strncasecmp(p + 1, "content-length:", 15) == 0)
            return (size_t)strtoul(p + 16, NULL, 10);
    return 0;
}

/* Read the request head and body; -1 if the client gave up first. */
static int read_request(struct fault_server *s, int fd)
{
    char *buf = malloc(REQ_MAX + 1);
    size_t len = 0, want = 0;
    long end = mono_ms() + IO_LIMIT_MS;
    int rc = -1;
    while (buf && len < REQ_MAX && !atomic_load(&s->stop) &&
           mono_ms() < end) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, SLICE_MS) <= 0)
            continue;
        ssize_t n = recv(fd, buf + len, REQ_MAX - len, MSG_DONTWAIT);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
        char *eoh = strstr(buf, "\r\n\r\n");
        if (eoh && !want)
            want = (size_t)(eoh + 4 - buf) + content_length(buf);
        if (want && len >= want) {
            rc = 0;
            break;
        }
    }
    free(buf);
    return rc;
}

static int send_fill(struct fault_server *s, int fd)
{
    const char *u = s->unit;
    size_t ul = strlen(u), off = 0, left = s->plan.fill;
    char chunk[65536];
    while (left) {
        size_t n = left < sizeof chunk ? left : sizeof chunk;
        for (size_t i = 0; i < n; i++, off = (off + 1) % ul)
            chunk[i] = u[off];
        if (send_all(s, fd, chunk, n))
            return -1;
        left -= n;
    }
    return 0;
}

static void play(struct fault_server *s, int fd)
{
    const struct fault_plan *p = &s->plan;
    if (!p->no_read && read_request(s, fd))
        return;
    if (s->head && send_all(s, fd, s->head, strlen(s->head)))
        return;
    for (const char *d = s->drip; d && *d; d++)
        if ((d != s->drip && wait_ms(s, fd, p->drip_ms)) ||
            send_all(s, fd, d, 1))
            return;
    if (p->fill && send_fill(s, fd))
        return;
    if (p->hold_ms)
        wait_ms(s, fd, p->hold_ms);
}

static void *serve(void *arg)
{
    struct fault_server *s = arg;
    while (!atomic_load(&s->stop)) {
        struct pollfd p = {s->fd, POLLIN, 0};
        if (poll(&p, 1, SLICE_MS) <= 0)
            continue;
        int fd = accept(s->fd, NULL, NULL);
        if (fd < 0)
            continue;
        atomic_fetch_add(&s->conns, 1);
        play(s, fd);
        if (s->plan.reset) {
            struct linger lg = {1, 0};
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        close(fd);
    }
    return NULL;
}

/* A listening (listen != 0) or merely bound socket on an ephemeral
   loopback port; -1 on failure. */
static int bind_loopback(int listening, int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t al = sizeof a;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) ||
        (listening && listen(fd, 16)) ||
        getsockname(fd, (struct sockaddr *)&a, &al)) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

static char *dup_or_null(const char *s, int *bad)
{
    char *d = s ? strdup(s) : NULL;
    *bad |= s && !d;
    return d;
}

struct fault_server *fault_start(const struct fault_plan *plan)
{
    struct fault_server *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    int bad = 0;
    s->plan = *plan;
    s->head = dup_or_null(plan->head, &bad);
    s->drip = dup_or_null(plan->drip, &bad);
    s->unit = dup_or_null(plan->fill_unit ? plan->fill_unit : "x", &bad);
    s->fd = bad || !*s->unit ? -1 : bind_loopback(1, &s->port);
    if (s->fd < 0 || pthread_create(&s->thread, NULL, serve, s)) {
        if (s->fd >= 0)
            close(s->fd);
        free(s->head);
        free(s->drip);
        free(s->unit);
        free(s);
        return NULL;
    }
    return s;
}

int fault_port(const struct fault_server *s)
{
    return s->port;
}

long fault_connections(struct fault_server *s)
{
    return atomic_load(&s->conns);
}

void fault_stop(struct fault_server *s)
{
    if (!s)
        return;
    atomic_store(&s->stop, 1);
    pthread_join(s->thread, NULL);
    close(s->fd);
    free(s->head);
    free(s->drip);
    free(s->unit);
    free(s);
}

int fault_closed_port(void)
{
    int port = 0, fd = bind_loopback(0, &port);
    if (fd < 0)
        return -1;
    close(fd);
    return port;
}
