/*
 * cmd_batch.c - `llmroute batch -c CONF --in IN.jsonl --out OUT.jsonl`:
 * one request per input line, one result line per request (the
 * `chat --json` object with the input's id), resumable.  See
 * docs/batch.md for the line formats and the choices made; the pieces are
 * batch_line.c (input lines), batch_out.c (OUT, resume), batch_run.c (the
 * loop and signals), batch_stats.c (summary), batch_progress.c.
 *
 * Exit codes: 0 every line dealt with (failed requests are results too),
 * 1 an I/O error on OUT, 2 usage or configuration, 128+signal (130, 143)
 * when interrupted.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch.h"
#include "cli.h"
#include "llmroute.h"

#define EXIT_IO 1
#define MAX_CONCURRENCY 1024

static int parse_num(const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int num_opt(const char *name, const char *arg, int64_t min,
                   int64_t *out)
{
    if (parse_num(arg, min, INT64_MAX / 2, out) == 0)
        return 0;
    return usage_error("batch: %s wants a whole number >= %lld, got '%s'",
                       name, (long long)min, arg);
}

static int check_opts(struct batch_opts *o, int argc)
{
    if (!o->conf || !o->in || !o->out)
        return usage_error("batch: -c CONF, --in IN.jsonl and --out "
                           "OUT.jsonl are required");
    if (optind < argc)
        return usage_error("batch: unexpected argument (see llmroute "
                           "--help)");
    if (o->json_summary && strcmp(o->out, "-") == 0)
        return usage_error("batch: --json-summary needs --out to be a "
                           "file (stdout holds the results)");
    return 0;
}

static int parse_opts(int argc, char **argv, struct batch_opts *o)
{
    static const struct option longs[] = {
        {"config", required_argument, NULL, 'c'},
        {"in", required_argument, NULL, 'i'},
        {"out", required_argument, NULL, 'o'},
        {"concurrency", required_argument, NULL, 'n'},
        {"progress-interval-ms", required_argument, NULL, 'p'},
        {"grace-ms", required_argument, NULL, 'g'},
        {"timeout-ms", required_argument, NULL, 't'},
        {"json-summary", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0}};
    int64_t n = 4;
    int c, rc = 0;
    o->progress_ms = 5000;
    o->grace_ms = 5000;
    optind = 1;
    while (!rc && (c = getopt_long(argc, argv, "c:", longs, NULL)) != -1) {
        switch (c) {
        case 'c': o->conf = optarg; break;
        case 'i': o->in = optarg; break;
        case 'o': o->out = optarg; break;
        case 'j': o->json_summary = 1; break;
        case 'n':
            if (parse_num(optarg, 1, MAX_CONCURRENCY, &n))
                rc = usage_error("batch: --concurrency wants 1 to %d, got "
                                 "'%s'", MAX_CONCURRENCY, optarg);
            break;
        case 'p': rc = num_opt("--progress-interval-ms", optarg, 0,
                               &o->progress_ms); break;
        case 'g': rc = num_opt("--grace-ms", optarg, 0, &o->grace_ms); break;
        case 't': rc = num_opt("--timeout-ms", optarg, 1, &o->timeout_ms);
            break;
        default: rc = usage_error("batch: see llmroute --help");
        }
    }
    o->concurrency = (long)n;
    return rc ? rc : check_opts(o, argc);
}

/* Non-blank lines of a regular file, streamed; -1 for a pipe or on
   error (the progress then shows no total). */
static long count_lines(FILE *fp)
{
    struct stat st;
    if (fstat(fileno(fp), &st) || !S_ISREG(st.st_mode))
        return -1;
    long n = 0;
    int c, blank = 1;
    while ((c = getc(fp)) != EOF) {
        if (c == '\n') {
            n += !blank;
            blank = 1;
        }
        else if (c != ' ' && c != '\t' && c != '\r')
            blank = 0;
    }
    n += !blank;
    return fseek(fp, 0, SEEK_SET) == 0 ? n : -1;
}

/* IN, OUT's ids and a descriptor for appending: 0 or an exit code. */
static int open_files(const struct batch_opts *o, FILE **in, int *fd,
                      struct idset *ids, struct batch_stats *s)
{
    char err[600];
    *in = strcmp(o->in, "-") ? fopen(o->in, "r") : stdin;
    if (!*in)
        return usage_error("%s: %s", o->in, strerror(errno));
    s->total = count_lines(*in);
    if (strcmp(o->out, "-") == 0) {
        *fd = STDOUT_FILENO;
        return 0;
    }
    if (out_scan(o->out, ids, err, sizeof err) < 0) {
        fprintf(stderr, "llmroute: %s\n", err);
        return EXIT_IO;
    }
    *fd = open(o->out, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (*fd < 0) {
        fprintf(stderr, "llmroute: %s: %s\n", o->out, strerror(errno));
        return EXIT_IO;
    }
    return 0;
}

static void summary(const struct batch_opts *o, struct batch_stats *s)
{
    stats_print(s, stderr);
    if (!o->json_summary)
        return;
    char *j = stats_json(s);
    if (j)
        puts(j);
    free(j);
    fflush(stdout);
}

int cmd_batch(int argc, char **argv)
{
    struct batch_opts o = {0};
    struct batch_stats s = {0};
    int rc = parse_opts(argc, argv, &o);
    if (rc)
        return rc;
    struct idset *ids = idset_new();
    FILE *in = NULL;
    int fd = -1;
    rc = ids ? open_files(&o, &in, &fd, ids, &s) : EXIT_IO;
    char err[1024];
    struct lr_router *r = rc ? NULL : lr_open(o.conf, err, sizeof err);
    if (!rc && !r)
        rc = usage_error("%s", err);
    if (!rc) {
        rc = batch_run(r, &o, in, fd, ids, &s) ? EXIT_IO : 0;
        summary(&o, &s);
        if (!rc && s.interrupted)
            rc = 128 + s.interrupted;
    }
    if (in && in != stdin)
        fclose(in);
    if (fd > STDOUT_FILENO && close(fd) != 0 && !rc)
        rc = EXIT_IO;
    idset_free(ids);
    stats_free(&s);
    return rc;
}
