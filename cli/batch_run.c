/*
 * batch_run.c - the loop of `llmroute batch`.
 *
 * Threads: the main thread does everything (reads IN lazily, submits,
 * writes OUT, draws progress); the engine thread's completion callback
 * only appends the finished job to a queue under a mutex and signals a
 * condition variable.  The main thread drains the queue, writes each
 * result, and only then submits more, keeping "outstanding" (submitted,
 * result not yet written) at most --concurrency.  Hence at any moment
 * requests sent <= lines written + N, which the tests check from outside.
 *
 * Signals: the first SIGINT/SIGTERM sets a flag (the main loop polls it at
 * least every 100 ms); submission stops, requests in flight get
 * --grace-ms to finish, then are cancelled with lr_cancel().  Results that
 * end cancelled are not written, so a resumed run sends them again.  A
 * second signal _exit()s at once: OUT holds whole lines only, but for
 * perhaps a torn last one, which resume repairs.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "llmroute.h"

#define SIGNAL_POLL_MS 100
/* After lr_cancel(), how long to wait for the callbacks before closing
   the router anyway (lr_close() fires the rest). */
#define CANCEL_WAIT_MS 5000

struct run;

struct job {
    struct job *next;            /* completion queue, under run.mu */
    struct lr_response *resp;    /* set by the callback */
    struct run *run;
    char *id_json;
    uint64_t rid;
    long slot;
};

struct run {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct job *head, *tail;     /* completed jobs, under mu */
    /* main thread only: */
    struct lr_router *r;
    const struct batch_opts *o;
    struct batch_stats *s;
    struct idset *ids;
    struct progress prog;
    FILE *in;
    char *line;
    size_t cap;
    long lineno, outstanding;
    struct job **slots;
    int eof, fd, io_err, cancelled;
    int64_t stop_ms;
};

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
    if (got_signal)
        _exit(128 + sig);
    got_signal = sig;
}

static void on_done(struct lr_response *resp, void *user)
{
    struct job *j = user;
    struct run *b = j->run;
    pthread_mutex_lock(&b->mu);
    j->resp = resp;
    j->next = NULL;
    if (b->tail)
        b->tail->next = j;
    else
        b->head = j;
    b->tail = j;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

static void warn(struct run *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void warn(struct run *b, const char *fmt, ...)
{
    va_list ap;
    progress_clear(&b->prog);
    va_start(ap, fmt);
    fputs("llmroute: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* Write one result line; after the first failure nothing more is. */
static void emit(struct run *b, char *text)
{
    if (!b->io_err && (!text || out_write_line(b->fd, text) != 0)) {
        warn(b, "%s: %s", b->o->out, text ? strerror(errno)
                                           : "out of memory");
        b->io_err = 1;
    }
    free(text);
}

static void finish(struct run *b, struct job *j)
{
    enum lr_status st = lr_response_status(j->resp);
    b->slots[j->slot] = NULL;
    b->outstanding--;
    if ((b->stop_ms && (st == LR_E_CANCELLED || st == LR_E_STOPPED)) ||
        b->io_err)
        b->s->cancelled++;
    else {
        stats_add_response(b->s, j->resp);
        b->s->handled++;
        emit(b, out_result_json(j->resp, j->id_json));
    }
    lr_response_free(j->resp);
    free(j->id_json);
    free(j);
}

static void submit(struct run *b, struct batch_line *l)
{
    struct job *j = calloc(1, sizeof *j);
    long i = 0;
    while (i < b->o->concurrency && b->slots[i])
        i++;
    if (!j) {
        warn(b, "out of memory");
        b->io_err = 1;
        return;
    }
    j->run = b;
    j->slot = i;
    j->id_json = l->id_json;
    l->id_json = NULL;
    b->slots[i] = j;
    if (++b->outstanding > b->s->max_in_flight)
        b->s->max_in_flight = b->outstanding;
    b->s->sent++;
    uint64_t rid = lr_submit(b->r, l->req, NULL, on_done, j);
    if (rid) {
        j->rid = rid;
        return;
    }
    /* Not sent (out of memory, router closing): a failed result. */
    b->slots[i] = NULL;
    b->outstanding--;
    b->s->failed++;
    b->s->by_class[LR_E_INTERNAL]++;
    b->s->handled++;
    emit(b, out_error_json(j->id_json, lr_status_name(LR_E_INTERNAL),
                           "the router did not accept the request"));
    free(j->id_json);
    free(j);
}

static void bad_line(struct run *b, const char *id_json, const char *why)
{
    char msg[400];
    snprintf(msg, sizeof msg, "%s:%ld: %s", b->o->in, b->lineno, why);
    b->s->bad++;
    b->s->failed++;
    b->s->by_class[LR_E_BAD_REQUEST]++;
    emit(b, out_error_json(id_json, lr_status_name(LR_E_BAD_REQUEST), msg));
}

/* One input line: send it, answer it as bad, or skip it.  "handled"
   counts lines dealt with; a sent one counts when its result comes. */
static void take_line(struct run *b)
{
    struct batch_line l;
    enum line_kind k = batch_line_parse(b->line, b->o->timeout_ms, &l);
    long first = 0;
    int added = 1;
    if (k == LINE_BAD || k == LINE_OK)
        added = idset_add(b->ids, l.id_json, b->lineno, &first);
    if (k == LINE_OK && added == 1)
        submit(b, &l);
    else if (k != LINE_BLANK)
        b->s->handled++;
    if (k == LINE_NO_ID) {
        warn(b, "%s:%ld: %s: skipped", b->o->in, b->lineno, l.err);
        b->s->skipped++;
    }
    else if (added < 0) {
        warn(b, "out of memory");
        b->io_err = 1;
    }
    else if (added == 0 && first == 0) {
        /* Its result is in OUT already; from now on a repeat of this id
           is a duplicate like any other. */
        b->s->already++;
        idset_set(b->ids, l.id_json, b->lineno);
    }
    else if (added == 0) {
        warn(b, "%s:%ld: duplicate id %s (first on line %ld): skipped",
             b->o->in, b->lineno, l.id_json, first);
        b->s->skipped++;
    }
    else if (k == LINE_BAD)
        bad_line(b, l.id_json, l.err);
    batch_line_clear(&l);
}

static void fill(struct run *b)
{
    while (!b->eof && !b->io_err && b->outstanding < b->o->concurrency) {
        ssize_t n = getline(&b->line, &b->cap, b->in);
        if (n < 0) {
            if (ferror(b->in))
                warn(b, "%s: read error: %s", b->o->in, strerror(errno));
            b->eof = 1;
            break;
        }
        b->lineno++;
        take_line(b);
    }
}

static void cancel_all(struct run *b)
{
    for (long i = 0; i < b->o->concurrency; i++)
        if (b->slots[i] && b->slots[i]->rid)
            lr_cancel(b->r, b->slots[i]->rid);
    b->cancelled = 1;
}

/* Wait up to ms for completions, then write every queued one. */
static void drain(struct run *b, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&b->mu);
    while (!b->head && ms > 0 &&
           pthread_cond_timedwait(&b->cv, &b->mu, &ts) == 0)
        ;
    struct job *j = b->head;
    b->head = b->tail = NULL;
    pthread_mutex_unlock(&b->mu);
    while (j) {
        struct job *next = j->next;
        finish(b, j);
        j = next;
    }
}

/* After a signal or an I/O error: no more sends, cancel after grace. */
static void check_stop(struct run *b, int64_t now)
{
    if (!b->stop_ms && (got_signal || b->io_err)) {
        b->stop_ms = now;
        b->s->interrupted = got_signal;
        if (got_signal && b->outstanding)
            warn(b, "interrupted: waiting up to %lld ms for %ld requests "
                 "in flight (again to quit at once)",
                 (long long)b->o->grace_ms, b->outstanding);
    }
    if (b->stop_ms && !b->cancelled && b->outstanding &&
        (b->io_err || now - b->stop_ms >= b->o->grace_ms))
        cancel_all(b);
}

static void loop(struct run *b)
{
    int64_t now = batch_now_ms(), cancel_ms = 0;
    for (;;) {
        check_stop(b, now);
        if (!b->stop_ms)
            fill(b);
        if ((b->eof || b->stop_ms) && !b->outstanding)
            break;
        if (b->cancelled && !cancel_ms)
            cancel_ms = now;
        if (cancel_ms && now - cancel_ms > CANCEL_WAIT_MS)
            break;
        progress_tick(&b->prog, b->s, now, 0);
        int64_t wait = progress_wait_ms(&b->prog, now);
        drain(b, wait < SIGNAL_POLL_MS ? wait : SIGNAL_POLL_MS);
        now = batch_now_ms();
    }
}

static void set_handlers(void (*fn)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static int init(struct run *b)
{
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca))
        return -1;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&b->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (rc)
        return -1;
    pthread_mutex_init(&b->mu, NULL);
    b->slots = calloc((size_t)b->o->concurrency, sizeof *b->slots);
    return b->slots ? 0 : -1;
}

int batch_run(struct lr_router *r, const struct batch_opts *o, FILE *in,
              int out_fd, struct idset *ids, struct batch_stats *s)
{
    struct run b = {.r = r, .o = o, .s = s, .ids = ids, .in = in,
                    .fd = out_fd};
    if (init(&b)) {
        fprintf(stderr, "llmroute: out of memory\n");
        lr_close(r);
        return 1;
    }
    got_signal = 0;
    signal(SIGPIPE, SIG_IGN);
    set_handlers(on_signal);
    s->start_ms = batch_now_ms();
    progress_init(&b.prog, o->progress_ms, s->start_ms);
    loop(&b);
    /* Still in flight only when cancelled callbacks never came: closing
       fires them; they are counted, not written. */
    lr_close(r);
    drain(&b, 0);
    s->end_ms = batch_now_ms();
    progress_end(&b.prog, s, s->end_ms);
    set_handlers(SIG_DFL);
    free(b.line);
    free(b.slots);
    pthread_cond_destroy(&b.cv);
    pthread_mutex_destroy(&b.mu);
    return b.io_err ? 1 : 0;
}
