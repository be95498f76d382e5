/*
 * cli.h - shared pieces of the llmroute command-line tool.  The CLI uses
 * only the public API (include/llmroute.h).
 */
#ifndef LR_CLI_H
#define LR_CLI_H

#include <stddef.h>
#include <stdio.h>

/* Exit codes (design contract). */
#define EXIT_OK 0
#define EXIT_USAGE 2      /* usage or configuration error */
#define EXIT_FAILED 3     /* request failed after every permitted attempt */
#define EXIT_REJECTED 4   /* rejected by a policy (budget, local limit) */

int cmd_batch(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_classify(int argc, char **argv);
int cmd_plugins(int argc, char **argv);
int cmd_serve(int argc, char **argv);

/* Print "llmroute: <msg>" to stderr and return EXIT_USAGE. */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Fill req from an OpenAI-style messages file (or "-"); 0 or an exit
   code after printing the error. */
struct lr_request;
int load_messages(struct lr_request *req, const char *path);

/* The same from parsed JSON: add an OpenAI-style messages array, or the
   "tools"/"tool_choice" members of obj (absent or null ones are fine,
   as the gateway reads them).  0, or -1 with a reason (no file name) in
   err. */
struct cJSON;
int json_add_messages(struct lr_request *req, const struct cJSON *msgs,
                      char *err, size_t errlen);
int json_add_tools(struct lr_request *req, const struct cJSON *obj,
                   char *err, size_t errlen);
/* The members top_p, seed, presence_penalty, frequency_penalty and
   response_format of obj (absent or null: unset), checked as OpenAI
   does (sampling.c).  LR_OK, or the setter's status with *field naming
   the bad member and *want saying what it must be (static strings). */
int json_set_sampling(struct lr_request *req, const struct cJSON *obj,
                      const char **field, const char **want);
/* The token limit: max_completion_tokens, OpenAI's newer name, else
   max_tokens (absent or null: unset), a whole number from 1 to 2^53 - 1
   (beyond, a double may have changed its digits).  LR_OK, or
   LR_E_INVALID_ARG with *field naming the member read (sampling.c). */
int json_set_max_tokens(struct lr_request *req, const struct cJSON *obj,
                        const char **field);
#define JSON_WANT_MAX_TOKENS "must be a whole number from 1 to " \
    "9007199254740991"
/* Stop sequences from a "stop" member: a string or an array of strings
   (absent or null: none).  0, or -1 for any other shape (sampling.c). */
int json_set_stop(struct lr_request *req, const struct cJSON *stop);

/* What a string member given as another type must be, in the words of
   both the gateway ("'user' must be a string") and `llmroute batch`
   ("\"user\" must be a string"). */
#define JSON_WANT_STRING "must be a string"

/* Read all of fp into a malloc'd NUL-terminated string, or NULL. */
char *read_all(FILE *fp);

#endif
