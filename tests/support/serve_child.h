/*
 * serve_child.h - `llmroute serve` as a child process for the gateway
 * tests: started on DIR/gw.ini, its port read from the line "listening
 * on HOST:PORT" it prints, stopped with SIGTERM.  Failures are cmocka
 * failures.
 */
#ifndef LR_TESTS_SERVE_CHILD_H
#define LR_TESTS_SERVE_CHILD_H

#include <sys/types.h>

#include "testenv.h"

struct mock_upstream;

#define SERVE_CHILD_DEADLINE_MS 30000

struct serve_child {
    char cli[1024];      /* path of the llmroute binary (set by the test) */
    pid_t pid;           /* 0: not running */
    int port;
    char errpath[512];   /* the child's stderr, DIR/gw.err */
};

/* Start it on DIR/gw.ini with --listen listen (NULL: none, the [gateway]
   listen key applies); 0 and c->port, or the exit code it died with (its
   stderr is in c->errpath). */
int serve_child_start(struct serve_child *c, const char *dir,
                      const char *listen);
/* SIGTERM the child and reap it within the deadline; its exit code (0
   when it was not running). */
int serve_child_stop(struct serve_child *c);

/* The usual gateway fixture: a scratch folder, the mock upstream on
   script, DIR/gw.ini from conf_tmpl ("@PORT@" = the mock's port) and
   the gateway on 127.0.0.1:0.  0, or -1 (the mock's or gateway's error
   on stderr). */
struct serve_env {
    struct tenv env;
    struct mock_upstream *mock;
    struct serve_child gw;
};
int serve_env_start(struct serve_env *s, const char *script,
                    const char *conf_tmpl);
/* Stop the gateway (its exit code, as serve_child_stop) and the mock,
   and remove the folder. */
int serve_env_stop(struct serve_env *s);

#endif
