/*
 * rss_floor.c - the least idle RSS any gateway built on Debian's libcurl
 * and libmicrohttpd can have: this program links those two libraries and
 * nothing else, initialises curl (curl_global_init, which initialises
 * its TLS and SSH libraries, and one multi handle) and starts a
 * libmicrohttpd daemon on a loopback port in external epoll mode, as
 * `llmroute serve` does.  Then it prints "port=N" and waits for SIGTERM
 * or SIGINT.
 *
 * scripts/bench-gateway.sh reads its VmRSS the way it reads the
 * gateway's idle RSS and puts it next to the idle RSS goal: the part of
 * the gateway's figure that no code of ours can remove.
 *
 *   rss_floor
 */
#include <curl/curl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static enum MHD_Result refuse(void *cls, struct MHD_Connection *c,
                              const char *url, const char *method,
                              const char *version, const char *data,
                              size_t *size, void **state)
{
    (void)cls; (void)c; (void)url; (void)method; (void)version;
    (void)data; (void)size; (void)state;
    return MHD_NO;
}

int main(void)
{
    sigset_t set;
    int sig = 0;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "rss_floor: curl_global_init failed\n");
        return 1;
    }
    CURLM *multi = curl_multi_init();
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL, refuse,
        NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_END);
    const union MHD_DaemonInfo *di =
        d ? MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
    if (!multi || !di) {
        fprintf(stderr, "rss_floor: cannot start\n");
        return 1;
    }
    printf("port=%u\n", (unsigned)di->port);
    fflush(stdout);
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    curl_multi_cleanup(multi);
    curl_global_cleanup();
    return 0;
}
