/*
 * mock_upstream.h - a scripted fake LLM provider for tests, the demo and
 * benchmarks.
 *
 * The mock is an HTTP/1.1 server on 127.0.0.1 (libmicrohttpd) that
 * answers chat requests from a JSON script instead of a model.  Tests link
 * it in-process and drive it through this header; the program
 * build/mock-upstream (tests/mock/mock_main.c) wraps it for scripts and
 * benchmarks.  It speaks three wire formats, chosen per route by
 * "format": "openai" (Chat Completions, POST .../chat/completions),
 * "anthropic" (Messages, POST .../v1/messages) and "gemini"
 * (generateContent and streamGenerateContent?alt=sse, the model taken
 * from the URL), each non-streamed and streamed, errors in the
 * provider's own shape.
 *
 * Script:
 *
 *   {"routes":[
 *     {"name":"a", "model":"model-a", "format":"openai", "repeat":"last",
 *      "responses":[ ENTRY, ... ]}]}
 *
 *   route keys: name (unique), model (the request's "model"; "*" catches
 *   models no other route of the format claims), format ("openai", the
 *   default), repeat ("last", the default: after the list keep answering
 *   with the last entry; "cycle": start over), responses (non-empty),
 *   quota (optional, below).
 *
 *   quota: {"limit": 15, "window_ms": 3000, "over": ENTRY}, all three
 *   required: a provider's request quota in fixed windows of window_ms,
 *   counted from mock_start() on the monotonic clock (window k is
 *   [start + k*window_ms, start + (k+1)*window_ms)).  The first limit
 *   requests of a window get the route's responses as usual; the rest
 *   get the over entry instead, do not advance the responses sequence,
 *   and are counted in mock_over_quota() (and still in mock_requests()).
 *   In the over entry only, the body (text, error or raw) and the header
 *   values may carry the placeholders {{window_left_ms}} and
 *   {{window_left_s}} (seconds, rounded up, at least 1), replaced by the
 *   time left in the current window, for dynamic retry hints:
 *     Gemini: "over": {"status": 429, "error": {"code": 429, "status":
 *       "RESOURCE_EXHAUSTED", "message": "quota", "details": [{"@type":
 *       "type.googleapis.com/google.rpc.RetryInfo",
 *       "retryDelay": "{{window_left_s}}s"}]}}
 *     OpenAI: "over": {"status": 429, "headers": {"retry-after-ms":
 *       "{{window_left_ms}}"}, "error": {...}}
 *   mock_set_script() starts the new script's quotas from zero, windows
 *   still aligned to the mock's start.
 *
 *   ENTRY keys: status (default 200), headers (object of strings),
 *   delay_ms (wait before answering), content_type, truncate_at (close
 *   the connection after that many body bytes), and exactly one body:
 *     text            a chat completion with this text
 *     echo: true      text = "echo: " + the last user message
 *     error: {...}    sent as {"error":{...}}, "param" null unless given
 *     raw: "..."      the body, verbatim
 *   text and echo also take usage {prompt_tokens, completion_tokens}
 *   (default: rough word counts), finish_reason (default "stop") and
 *   chunk_delay_ms (pause between SSE chunks when the request streams).
 *
 * Requests: POST to any path ending in /chat/completions; the route is
 * chosen by the body's "model".  GET /_mock/stats returns
 * {"total":N,"routes":{"a":N,...},"over_quota":{"a":N,...}}.  Unknown
 * models and paths get 404 in the format's error shape.
 *
 * Every function is thread-safe.  Strings returned are malloc'd and owned
 * by the caller; string arguments are borrowed for the call.
 */
#ifndef MOCK_UPSTREAM_H
#define MOCK_UPSTREAM_H

#include <stddef.h>

struct mock_upstream;

/*
 * Start a mock on 127.0.0.1 with an ephemeral port.  script_json is
 * copied.  Returns NULL and a one-line reason in err (a script error
 * names the place, e.g. routes[0].responses[2]: unknown key "texts") on
 * failure.
 */
struct mock_upstream *mock_start(const char *script_json, char *err,
                                 size_t errlen);

/* The same on a given port (0: the kernel picks one). */
struct mock_upstream *mock_start_port(const char *script_json, int port,
                                      char *err, size_t errlen);

/* Validate a script without starting anything: 0, or -1 and err. */
int mock_check_script(const char *script_json, char *err, size_t errlen);

/* The TCP port the mock listens on. */
int mock_port(const struct mock_upstream *m);

/*
 * Replace the script while serving.  Requests already being answered
 * finish with the old one.  Per-route counters and last bodies/headers
 * start again from zero; the total keeps counting.  0, or -1 and err (the
 * old script stays in force).
 */
int mock_set_script(struct mock_upstream *m, const char *script_json,
                    char *err, size_t errlen);

/*
 * Chat requests received: route_name NULL gives the total since start
 * (unmatched models and unparsable bodies included), otherwise the count
 * for that route of the current script; -1 for an unknown route name.
 */
long mock_requests(const struct mock_upstream *m, const char *route_name);

/*
 * Requests of a route answered with its quota's over entry (0 for a
 * route without quota); -1 for a NULL or unknown route name.
 */
long mock_over_quota(const struct mock_upstream *m, const char *route_name);

/* Copy of the last request body a route received; NULL if none yet. */
char *mock_last_body(struct mock_upstream *m, const char *route_name);

/*
 * Value of one header (name case-insensitive) of the last request a route
 * received; NULL if there was no such request or header.
 */
char *mock_last_header(struct mock_upstream *m, const char *route_name,
                       const char *header);

/*
 * Stop serving (open connections are closed, delayed answers cut short)
 * and free everything.  NULL is a no-op.
 */
void mock_stop(struct mock_upstream *m);

#endif
