/*
 * mock_main.c - build/mock-upstream, the mock upstream as a program for
 * the demo, benchmarks and trying things by hand:
 *
 *   mock-upstream --script FILE.json [--port N]
 *
 * FILE "-" reads the script from stdin.  Once listening it prints exactly
 * "port=N" on a line of its own to stdout (scripts wait for that line),
 * then serves on 127.0.0.1 until SIGTERM or SIGINT and exits 0.  Exit 2:
 * bad usage or a bad script; exit 1: any other failure.
 */
#include "mock/mock_upstream.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SCRIPT (64L * 1024 * 1024)

static void usage(FILE *to)
{
    fprintf(to, "usage: mock-upstream --script FILE.json [--port N]\n"
                "  FILE - reads the script from stdin; port 0 (the default)"
                " lets the kernel pick.\n");
}

/* The whole of f as a string; NULL on a read error or absurd size. */
static char *slurp(FILE *f)
{
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    while (buf) {
        len += fread(buf + len, 1, cap - len - 1, f);
        if (ferror(f) || len + 1 >= MAX_SCRIPT) {
            free(buf);
            return NULL;
        }
        if (feof(f))
            break;
        if (len + 1 == cap) {
            char *p = realloc(buf, cap * 2);
            if (!p)
                free(buf);
            buf = p;
            cap *= 2;
        }
    }
    if (buf)
        buf[len] = '\0';
    return buf;
}

static char *read_script(const char *path)
{
    if (strcmp(path, "-") == 0)
        return slurp(stdin);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *s = slurp(f);
    fclose(f);
    return s;
}

/* --script and --port; returns 0, or 2 after printing the problem. */
static int parse_args(int argc, char **argv, const char **script, int *port)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        }
        if (i + 1 >= argc ||
            (strcmp(a, "--script") != 0 && strcmp(a, "--port") != 0)) {
            fprintf(stderr, "mock-upstream: unexpected argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
        const char *v = argv[++i];
        char *end;
        if (strcmp(a, "--script") == 0) {
            *script = v;
            continue;
        }
        long p = strtol(v, &end, 10);
        if (!*v || *end || p < 0 || p > 65535) {
            fprintf(stderr, "mock-upstream: bad port '%s'\n", v);
            return 2;
        }
        *port = (int)p;
    }
    if (*script)
        return 0;
    fprintf(stderr, "mock-upstream: --script is required\n");
    usage(stderr);
    return 2;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    int port = 0;
    char err[512];
    int rc = parse_args(argc, argv, &path, &port);
    if (rc)
        return rc;
    char *script = read_script(path);
    if (!script) {
        fprintf(stderr, "mock-upstream: cannot read %s: %s\n", path,
                errno ? strerror(errno) : "too large");
        return 2;
    }
    if (mock_check_script(script, err, sizeof err)) {
        fprintf(stderr, "mock-upstream: %s: %s\n", path, err);
        free(script);
        return 2;
    }
    /* Block the signals before MHD starts threads, which inherit the mask,
       so that sigwait() below is the only taker. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct mock_upstream *m = mock_start_port(script, port, err, sizeof err);
    free(script);
    if (!m) {
        fprintf(stderr, "mock-upstream: %s\n", err);
        return 1;
    }
    printf("port=%d\n", mock_port(m));
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    mock_stop(m);
    return 0;
}
