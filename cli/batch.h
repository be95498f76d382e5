/*
 * batch.h - the pieces of `llmroute batch` (see cmd_batch.c and
 * docs/batch.md): an id set, the input-line parser, the OUT file (resume
 * scan and whole-line appends), run statistics and the progress display.
 * Everything here runs on the main thread only; the engine thread only
 * queues completions (batch_run.c).
 */
#ifndef LR_CLI_BATCH_H
#define LR_CLI_BATCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct lr_request;
struct lr_response;

/* --- batch_idset.c: string keys -> a line number ------------------------ */

struct idset;

struct idset *idset_new(void);
void idset_free(struct idset *s);
/* Add key with value line.  Returns 1 when added, 0 when already there
   (*old gets its value), -1 when out of memory. */
int idset_add(struct idset *s, const char *key, long line, long *old);
/* Change the value of a key already present (else nothing). */
void idset_set(struct idset *s, const char *key, long line);

/* --- batch_line.c: one input line -> a request ------------------------- */

enum line_kind {
    LINE_BLANK,   /* only white space: ignored */
    LINE_NO_ID,   /* not JSON, not an object, or no usable id: skipped */
    LINE_BAD,     /* has an id but a bad field: an error result line */
    LINE_OK       /* a request to send */
};

struct batch_line {
    char *id_json;            /* the id as compact JSON: the join key */
    struct lr_request *req;   /* LINE_OK only */
    char err[300];            /* LINE_NO_ID / LINE_BAD: why */
};

/* Parse text (one line, NUL-terminated); defaults apply where the line
   says nothing.  The caller frees with batch_line_clear(). */
enum line_kind batch_line_parse(const char *text, int64_t timeout_ms,
                                struct batch_line *out);
void batch_line_clear(struct batch_line *l);

/* --- batch_out.c: OUT ---------------------------------------------------- */

/* Read an existing OUT (missing is fine), add every result id to done
   (value 0), and repair a torn last line (see docs/batch.md).  Returns
   the number of ids found, or -1 with err filled. */
long out_scan(const char *path, struct idset *done, char *err,
              size_t errlen);
/* Append text plus '\n' with one write(2); 0 or -1 (errno set). */
int out_write_line(int fd, const char *text);
/* The response JSON of `chat --json` with "id" replaced by id_json;
   malloc'd, NULL on out-of-memory. */
char *out_result_json(const struct lr_response *resp, const char *id_json);
/* The same shape for a line that could not be sent. */
char *out_error_json(const char *id_json, const char *class_name,
                     const char *message);

/* --- batch_stats.c: figures of this run ---------------------------------- */

struct batch_stats {
    long total;              /* non-blank input lines; -1 unknown (stdin) */
    long handled;            /* lines dealt with so far, of any kind */
    long already;            /* ids found in OUT before the run */
    long skipped;            /* no id / duplicate id: warned, not written */
    long sent, answered, failed, bad, cancelled;
    long fallbacks, http_429;
    long by_class[128];      /* failures by enum lr_status */
    long max_in_flight;
    double cost_usd;
    int64_t *lat;            /* latency of each answered or failed request */
    size_t n_lat, cap_lat;
    int64_t start_ms, end_ms;
    int interrupted;         /* the signal number, or 0 */
};

/* Count one result of an upstream request (written or not). */
void stats_add_response(struct batch_stats *s,
                        const struct lr_response *resp);
void stats_free(struct batch_stats *s);
/* Latency percentile p (0..100) by nearest rank, 0 without data. */
int64_t stats_percentile(struct batch_stats *s, int p);
void stats_print(struct batch_stats *s, FILE *fp);
/* One JSON object, malloc'd (free()), NULL on out-of-memory. */
char *stats_json(struct batch_stats *s);

/* --- batch_progress.c: the bar on a terminal, plain lines otherwise ---- */

struct progress {
    int tty;
    int64_t interval_ms;     /* plain lines; 0: none */
    int64_t last_ms;
    int drawn;               /* a bar is on screen */
};

void progress_init(struct progress *p, int64_t interval_ms, int64_t now);
/* Redraw (terminal, at most 10 per second) or print a line when the
   interval has passed; force draws now. */
void progress_tick(struct progress *p, const struct batch_stats *s,
                   int64_t now, int force);
/* Before any other stderr output: erase the bar. */
void progress_clear(struct progress *p);
/* At the end: the final bar stays on screen. */
void progress_end(struct progress *p, const struct batch_stats *s,
                  int64_t now);
/* How long the main loop may sleep before the next tick is due. */
int64_t progress_wait_ms(const struct progress *p, int64_t now);

int64_t batch_now_ms(void);

/* --- batch_run.c: requests in flight, results, signals ----------------- */

struct lr_router;

struct batch_opts {
    const char *conf, *in, *out;
    long concurrency;        /* requests in flight at most */
    int64_t progress_ms;     /* plain progress lines; 0: none */
    int64_t grace_ms;        /* after a signal, before cancelling */
    int64_t timeout_ms;      /* per-request deadline; 0: the router's */
    int json_summary;
};

/*
 * Send every request of in (named in_name in messages) whose id is not
 * yet in ids (OUT's ids, value 0), append each result to out_fd as it
 * completes, and fill s.  Closes r (lr_close) before returning.  Returns
 * 0, or 1 after an I/O error on OUT; s->interrupted holds the signal that
 * stopped the run, if any.
 */
int batch_run(struct lr_router *r, const struct batch_opts *o, FILE *in,
              int out_fd, struct idset *ids, struct batch_stats *s);

#endif
