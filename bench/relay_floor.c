/*
 * relay_floor.c - the least any HTTP gateway can cost on this machine:
 * a TCP relay that parses nothing.  Each accepted connection gets its
 * own connection to the upstream (kept for the connection's life, as a
 * gateway's keep-alive pool would be), and bytes are copied both ways
 * from one epoll loop on one thread: one recv and one send per message
 * and direction, the fewest system calls a proxy can make without
 * batching.
 *
 * scripts/bench-gateway.sh runs it where it runs `llmroute serve`
 * (pinned alone on CPU 0) and measures it with the same generator: its
 * added p50 at one connection is what the hop itself costs here (two
 * crossings between the CPUs and the socket work of a proxy), and its
 * rate at 64 connections is the most a one-core gateway could serve.
 * What llmroute adds above it is HTTP, JSON, routing and the two
 * libraries (libcurl, libmicrohttpd).
 *
 * With --busy-poll it never sleeps: epoll_wait returns at once and is
 * called again, so its CPU never idles and no wake-up is paid on its
 * side of either crossing.  That is the lowest latency a proxy on CPU 0
 * can reach here, at the price of the whole core.
 *
 *   relay_floor --upstream PORT [--busy-poll]
 * prints "port=N" (a loopback port of its own) and relays until SIGTERM
 * or SIGINT.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static void nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int loopback(uint16_t port, struct sockaddr_in *a)
{
    memset(a, 0, sizeof *a);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a->sin_port = htons(port);
    return socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
}

/* Each side's epoll entry carries its own fd and its peer's. */
static int watch(int ep, int fd, int peer)
{
    struct epoll_event ev = {
        .events = EPOLLIN,
        .data.u64 = ((uint64_t)(uint32_t)fd << 32) | (uint32_t)peer,
    };
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void accept_one(int ep, int lfd, uint16_t up_port)
{
    struct sockaddr_in a;
    int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0)
        return;
    int u = loopback(up_port, &a);
    if (u < 0 || connect(u, (struct sockaddr *)&a, sizeof a) != 0) {
        fprintf(stderr, "relay_floor: upstream: %s\n", strerror(errno));
        close(c);
        if (u >= 0)
            close(u);
        return;
    }
    nodelay(c);
    nodelay(u);
    if (watch(ep, c, u) != 0 || watch(ep, u, c) != 0) {
        close(c);
        close(u);
    }
}

int main(int argc, char **argv)
{
    long up = (argc == 3 || argc == 4) && !strcmp(argv[1], "--upstream")
                  ? strtol(argv[2], NULL, 10) : 0;
    int busy = argc == 4 && !strcmp(argv[3], "--busy-poll");
    if (up <= 0 || up > 65535 || (argc == 4 && !busy)) {
        fprintf(stderr, "usage: relay_floor --upstream PORT [--busy-poll]\n");
        return 2;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    int lfd = loopback(0, &a);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (lfd < 0 || ep < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) != 0
        || listen(lfd, 128) != 0
        || getsockname(lfd, (struct sockaddr *)&a, &alen) != 0
        || watch(ep, lfd, -1) != 0) {
        fprintf(stderr, "relay_floor: cannot listen: %s\n", strerror(errno));
        return 1;
    }
    printf("port=%u\n", (unsigned)ntohs(a.sin_port));
    fflush(stdout);

    static char buf[65536];
    struct epoll_event evs[64];
    while (!stopping) {
        int n = epoll_wait(ep, evs, 64, busy ? 0 : 200);
        for (int i = 0; i < n; i++) {
            int fd = (int)(evs[i].data.u64 >> 32);
            int peer = (int)(int32_t)(evs[i].data.u64 & 0xffffffffu);
            if (fd == lfd) {   /* peer -1: a client; -2: struck out */
                if (peer == -1)
                    accept_one(ep, lfd, (uint16_t)up);
                continue;
            }
            ssize_t r = recv(fd, buf, sizeof buf, 0);
            if (r < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (r <= 0 || send_all(peer, buf, (size_t)r) != 0) {
                /* Either side gone: close both, and strike the
                   peer's event from this batch before its number can
                   be reused. */
                close(fd);
                close(peer);
                for (int j = i + 1; j < n; j++)
                    if ((int)(evs[j].data.u64 >> 32) == peer)
                        evs[j].data.u64 = (uint64_t)(uint32_t)lfd << 32
                                          | (UINT32_MAX - 1);
            }
        }
    }
    close(ep);
    close(lfd);
    return 0;
}
