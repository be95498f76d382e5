/*
 * cmd_serve.c - `llmroute serve -c CONF [--listen HOST:PORT]`: the
 * OpenAI-compatible gateway (docs/gateway.md).
 *
 * SIGTERM and SIGINT are blocked in every thread (before lr_open starts
 * the engine thread, so it inherits the mask) and taken by sigwait() in
 * the main thread, which then stops accepting, lets requests in flight
 * finish within [gateway] shutdown_timeout_ms, and closes the router.
 * Once listening, "listening on HOST:PORT" (the real port when 0 was
 * asked for) is printed on stdout and flushed, for scripts and tests.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "cli.h"
#include "llmroute.h"
#include "serve.h"

static int parse_opts(int argc, char **argv, const char **conf,
                      const char **listen)
{
    static const struct option longs[] = {
        {"config", required_argument, NULL, 'c'},
        {"listen", required_argument, NULL, 'l'},
        {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:l:", longs, NULL)) != -1) {
        if (c == 'c')
            *conf = optarg;
        else if (c == 'l')
            *listen = optarg;
        else
            return usage_error("serve: see llmroute --help");
    }
    if (!*conf)
        return usage_error("serve: -c CONF is required");
    if (optind < argc)
        return usage_error("serve: unexpected argument '%s'", argv[optind]);
    return 0;
}

/* Each client connection is a descriptor, and so is each upstream
   transfer it causes: make room for both when the hard limit allows. */
static void raise_nofile(int64_t max_connections)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)max_connections * 2 + 256;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
        return;
    rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want)
        fprintf(stderr, "llmroute: open-files limit %llu is below the %llu "
                "that max_connections = %lld may need\n",
                (unsigned long long)rl.rlim_cur, (unsigned long long)want,
                (long long)max_connections);
}

/* The host part of listen, for the "listening on" line. */
static void print_listening(const char *listen, int port)
{
    const char *colon = strrchr(listen, ':');
    int hl = colon ? (int)(colon - listen) : 0;
    printf("listening on %.*s:%d\n", hl, listen, port);
    fflush(stdout);
}

int cmd_serve(int argc, char **argv)
{
    const char *conf = NULL, *listen = NULL;
    int rc = parse_opts(argc, argv, &conf, &listen);
    if (rc)
        return rc;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);   /* a client gone mid-write is not fatal */
    char err[1024];
    struct lr_router *r = lr_open(conf, err, sizeof err);
    if (!r)
        return usage_error("%s", err);
    struct serve_config cfg;
    if (serve_config_load(conf, &cfg, err, sizeof err)) {
        lr_close(r);
        return usage_error("%s", err);
    }
    if (!listen)
        listen = cfg.listen;
    raise_nofile(cfg.max_connections);
    struct serve_server *s = serve_start(r, &cfg, listen, err, sizeof err);
    if (!s) {
        serve_config_free(&cfg);
        lr_close(r);
        return usage_error("%s", err);
    }
    print_listening(listen, serve_port(s));
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "llmroute: %s: finishing requests in flight (up to "
            "%lld ms)\n", sig == SIGINT ? "SIGINT" : "SIGTERM",
            (long long)cfg.shutdown_timeout_ms);
    serve_stop(s, cfg.shutdown_timeout_ms);
    lr_close(r);
    serve_config_free(&cfg);
    return EXIT_OK;
}
