/*
 * fault_server.h - a raw TCP server on 127.0.0.1 for the fault tests: the
 * faults libmicrohttpd will not produce on purpose (a reset before any
 * byte or in the middle of a body, a stall after the headers, a body that
 * drips one byte at a time, a body of many megabytes made on the fly).
 *
 * One thread accepts connections one after another on an ephemeral port.
 * For each, it reads the request (headers, then Content-Length bytes of
 * body), then plays the plan: head, drip, fill, hold, then closes the
 * socket (FIN), or resets it (RST through SO_LINGER 0).  Every wait stops
 * early when the client goes away or the server is stopped, and every
 * read and write is bounded in time, so fault_stop() returns promptly.
 */
#ifndef LR_TESTS_FAULT_SERVER_H
#define LR_TESTS_FAULT_SERVER_H

#include <stddef.h>

struct fault_plan {
    const char *head;      /* sent at once after the request; NULL: none */
    const char *drip;      /* then these bytes, one every drip_ms */
    long drip_ms;
    size_t fill;           /* then this many bytes of fill_unit repeated */
    const char *fill_unit; /* NULL: "x" */
    long hold_ms;          /* then wait this long (or until the client
                              closes) before ending */
    int reset;             /* end with RST instead of FIN */
    int no_read;           /* end (per plan) before reading the request */
};

struct fault_server;

/* Start serving plan (its strings are copied); NULL on failure. */
struct fault_server *fault_start(const struct fault_plan *plan);
int fault_port(const struct fault_server *s);
/* Connections accepted so far. */
long fault_connections(struct fault_server *s);
/* Stop, join the thread, free.  NULL is a no-op. */
void fault_stop(struct fault_server *s);

/* A loopback port nothing listens on (bound, then closed at once), for
   "connection refused". */
int fault_closed_port(void);

#endif
