/*
 * fuzz_serve_request.c - libFuzzer target: the gateway's request parser
 * (cli/serve_request.c), an OpenAI chat.completions body into a
 * struct lr_request, with the gateway's model list of two targets and
 * the tiers.  The input is the body.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "llmroute.h"
#include "serve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *names[] = {"gpt-mini", "flash", "simple", "medium", "complex",
                        "auto"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct serve_models models = {names, sizeof names / sizeof names[0], 2};
    struct lr_request *req = lr_request_new();
    struct serve_parsed out;
    struct serve_error e = {0};
    e.retry_after_ms = -1;
    if (!req)
        return 0;
    int rc = serve_request_build((const char *)data, size, &models, NULL, 0,
                                 req, &out, &e);
    if (rc != 0 && (e.status != 400 && e.status != 404))
        abort();
    lr_request_free(req);
    return 0;
}
