/*
 * batch_progress.c - progress of `llmroute batch` on stderr.
 *
 * On a terminal: one line redrawn in place, at most 10 times a second,
 *   [#####-----] 412/1000  8.3 req/s  ETA 1m11s  failed 3  $0.0412
 * Otherwise (a log file, CI): a plain line every interval_ms,
 *   batch: 412/1000 lines, 8.3 req/s, ETA 1m11s, failed 3, $0.0412
 * Counts are input lines dealt with (resumed ones included) over the
 * non-blank lines of IN ("?" when IN is a pipe); the rate is this run's
 * results per second.
 */
#include <inttypes.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"

#define TTY_REDRAW_MS 100
#define BAR_WIDTH 10

int64_t batch_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void progress_init(struct progress *p, int64_t interval_ms, int64_t now)
{
    p->tty = isatty(STDERR_FILENO);
    p->interval_ms = interval_ms;
    p->last_ms = now;
    p->drawn = 0;
}

static void fmt_duration(char *buf, size_t len, double secs)
{
    long s = (long)(secs + 0.5);
    if (s >= 3600)
        snprintf(buf, len, "%ldh%02ldm", s / 3600, s / 60 % 60);
    else if (s >= 60)
        snprintf(buf, len, "%ldm%02lds", s / 60, s % 60);
    else
        snprintf(buf, len, "%lds", s);
}

/* "412/1000", "8.3 req/s", "ETA 1m11s" pieces shared by both styles. */
static void figures(const struct batch_stats *s, int64_t now, char *count,
                    size_t clen, double *rate, char *eta, size_t elen)
{
    double secs = (double)(now - s->start_ms) / 1000.0;
    long results = s->answered + s->failed;
    *rate = secs > 0 ? (double)results / secs : 0;
    if (s->total >= 0)
        snprintf(count, clen, "%ld/%ld", s->handled, s->total);
    else
        snprintf(count, clen, "%ld/?", s->handled);
    if (s->total >= 0 && *rate > 0) {
        char d[32];
        fmt_duration(d, sizeof d, (double)(s->total - s->handled) / *rate);
        snprintf(eta, elen, "ETA %s", d);
    }
    else
        snprintf(eta, elen, "ETA ?");
}

static void draw_bar(const struct batch_stats *s, int64_t now)
{
    char count[64], eta[48], bar[BAR_WIDTH + 1];
    double rate;
    figures(s, now, count, sizeof count, &rate, eta, sizeof eta);
    long fill = s->total > 0 ? s->handled * BAR_WIDTH / s->total : 0;
    for (long i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < fill ? '#' : '-';
    bar[BAR_WIDTH] = '\0';
    fprintf(stderr, "\r[%s] %s  %.1f req/s  %s  failed %ld  $%.4f\033[K",
            bar, count, rate, eta, s->failed, s->cost_usd);
    fflush(stderr);
}

static void plain_line(const struct batch_stats *s, int64_t now)
{
    char count[64], eta[48];
    double rate;
    figures(s, now, count, sizeof count, &rate, eta, sizeof eta);
    fprintf(stderr, "batch: %s lines, %.1f req/s, %s, failed %ld, $%.4f\n",
            count, rate, eta, s->failed, s->cost_usd);
    fflush(stderr);
}

void progress_tick(struct progress *p, const struct batch_stats *s,
                   int64_t now, int force)
{
    if (p->tty) {
        if (!force && now - p->last_ms < TTY_REDRAW_MS)
            return;
        draw_bar(s, now);
        p->drawn = 1;
        p->last_ms = now;
        return;
    }
    if (p->interval_ms <= 0 || (!force && now - p->last_ms < p->interval_ms))
        return;
    plain_line(s, now);
    p->last_ms = now;
}

void progress_clear(struct progress *p)
{
    if (p->tty && p->drawn)
        fputs("\r\033[K", stderr);
    p->drawn = 0;
}

int64_t progress_wait_ms(const struct progress *p, int64_t now)
{
    int64_t every = p->tty ? TTY_REDRAW_MS : p->interval_ms;
    if (every <= 0)
        return 1000;
    int64_t left = p->last_ms + every - now;
    return left < 1 ? 1 : left;
}

void progress_end(struct progress *p, const struct batch_stats *s,
                  int64_t now)
{
    if (!p->tty)
        return;
    draw_bar(s, now);
    fputc('\n', stderr);
    p->drawn = 0;
}
