/*
 * cli.h - shared pieces of the llmroute command-line tool.  The CLI uses
 * only the public API (include/llmroute.h).
 */
#ifndef LR_CLI_H
#define LR_CLI_H

#include <stdio.h>

/* Exit codes (design contract). */
#define EXIT_OK 0
#define EXIT_USAGE 2      /* usage or configuration error */
#define EXIT_FAILED 3     /* request failed after every permitted attempt */
#define EXIT_REJECTED 4   /* rejected by a policy (budget, local limit) */

int cmd_chat(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_classify(int argc, char **argv);
int cmd_plugins(int argc, char **argv);

/* Print "llmroute: <msg>" to stderr and return EXIT_USAGE. */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Fill req from an OpenAI-style messages file (or "-"); 0 or an exit
   code after printing the error. */
struct lr_request;
int load_messages(struct lr_request *req, const char *path);

/* Read all of fp into a malloc'd NUL-terminated string, or NULL. */
char *read_all(FILE *fp);

#endif
