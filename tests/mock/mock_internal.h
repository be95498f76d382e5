/*
 * mock_internal.h - what the mock upstream's files share: the parsed
 * script (mock_script.c), the wire-format table (mock_openai.c, later
 * Anthropic and Gemini), small helpers (mock_util.c) and the sending of
 * replies (mock_send.c).  The server itself (mock_upstream.c) receives,
 * routes and counts.
 *
 * A wire format never does I/O: it reads a parsed request and produces
 * the bytes of an answer as pieces (one piece for a plain body, one per
 * SSE event for a stream), which mock_send.c sends with the pauses and
 * truncation the script asks for.
 */
#ifndef MOCK_INTERNAL_H
#define MOCK_INTERNAL_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* Requests bodies above this are refused with 413. */
#define MOCK_MAX_BODY (16u * 1024u * 1024u)

enum mock_kind {
    MOCK_TEXT = 1,
    MOCK_ECHO = 2,
    MOCK_ERROR = 3,
    MOCK_RAW = 4
};

/* One scripted answer.  Pointers into the script's cJSON tree are const. */
struct mock_entry {
    enum mock_kind kind;
    unsigned status;
    const cJSON *headers;      /* object of string values, or NULL */
    const char *text;          /* MOCK_TEXT */
    char *body;                /* MOCK_ERROR, MOCK_RAW: exact bytes, owned */
    const char *content_type;  /* NULL: the format's default */
    const char *finish_reason; /* MOCK_TEXT, MOCK_ECHO */
    long prompt_tokens;        /* -1: word count of the request */
    long completion_tokens;    /* -1: word count of the text */
    long delay_ms;
    long chunk_delay_ms;
    long truncate_at;          /* -1: never */
};

struct mock_header {
    char *name;
    char *value;
};

/* A route's quota: at most limit requests per fixed window of window_ms
   (windows counted from the mock's start); the rest get over. */
struct mock_quota {
    long limit;
    long window_ms;
    struct mock_entry over;
};

struct mock_route {
    const char *name;
    const char *model;
    const struct mock_format *format;
    int cycle;
    struct mock_entry *entries;
    size_t nentries;
    struct mock_quota *quota; /* NULL: no quota */
    /* Guarded by the server's lock; reset with the script. */
    long requests;   /* every request matched to the route */
    long answered;   /* position in responses (over-quota ones excluded) */
    long over_quota; /* requests answered with quota->over */
    long window;     /* index of the window `used` counts in */
    long used;       /* requests within quota in that window */
    char *last_body;
    struct mock_header *last_headers;
    size_t nlast_headers;
};

/* A loaded script; the server frees it when refs drops to zero. */
struct mock_script {
    cJSON *root;
    struct mock_route *routes;
    size_t nroutes;
    int refs; /* guarded by the server's lock */
};

/* What a format reads from a request. */
struct mock_request {
    const char *url;
    const cJSON *json;  /* the parsed body */
    const char *model;  /* borrowed from json or model_buf; NULL if absent */
    char model_buf[128]; /* for formats that name the model in the URL */
    int stream;
    int include_usage;
    char *last_user;    /* text of the last user message, malloc'd */
    long prompt_words;  /* rough word count of all messages */
};

/* Bytes to send: one piece, or one per SSE event when streamed. */
struct mock_piece {
    char *data;
    size_t len;
};

struct mock_reply {
    int streamed;       /* chunked, text/event-stream */
    struct mock_piece *pieces;
    size_t npieces;
};

/* What a successful text answer says; everything borrowed. */
struct mock_answer {
    const char *id;
    const char *model;
    const char *text;
    const char *finish_reason;
    long prompt_tokens;
    long completion_tokens;
};

/*
 * One wire format.  Every function returns malloc'd memory or fills out
 * with malloc'd pieces, and reports failure (out of memory, or a request
 * it cannot read) as NULL / -1.
 */
struct mock_format {
    const char *name;
    /* Is this URL path the format's chat endpoint? */
    int (*owns_path)(const char *url);
    /* Fill req (json and url set); -1: not a request of this format. */
    int (*read_request)(struct mock_request *req);
    /* The body for a script "error" entry. */
    char *(*error_body)(const cJSON *error);
    /* The body for the mock's own refusals (unknown model, bad body). */
    char *(*problem_body)(const char *message, const char *type,
                          const char *code);
    /* A text answer, streamed when req->stream. */
    int (*answer)(const struct mock_request *req,
                  const struct mock_answer *a, struct mock_reply *out);
};

extern const struct mock_format mock_format_anthropic; /* mock_anthropic.c */
extern const struct mock_format mock_format_openai;
extern const struct mock_format mock_format_gemini;

/* The format called name, or NULL. */
const struct mock_format *mock_format_find(const char *name);
/* The format whose chat endpoint url is, or NULL. */
const struct mock_format *mock_format_for_path(const char *url);
/* The format used for answers to paths no format owns. */
const struct mock_format *mock_format_default(void);

/* mock_script.c */
struct mock_script *mock_script_load(const char *json, char *err,
                                     size_t errlen);
void mock_script_free(struct mock_script *s);
/* The route of format f for model (NULL: the model was absent). */
struct mock_route *mock_script_match(struct mock_script *s,
                                     const struct mock_format *f,
                                     const char *model);
struct mock_route *mock_script_route(struct mock_script *s,
                                     const char *name);

/* mock_upstream.c: wait ms milliseconds; -1 (at once) when stopping. */
struct mock_upstream;
int mock_nap(struct mock_upstream *m, long ms);

/* mock_send.c: the response for reply, with e's headers, pacing and
   truncation; takes over reply (freed on failure too).  window_left_ms
   >= 0 fills the {{window_left_*}} placeholders of header values (quota
   answers); -1 sends them verbatim.  NULL: no memory. */
struct MHD_Response;
struct MHD_Response *mock_response(struct mock_upstream *m,
                                   const struct mock_entry *e,
                                   struct mock_reply *reply,
                                   long window_left_ms);

/* mock_util.c */
char *mock_strdup(const char *s);
/* malloc'd concatenation of a and b. */
char *mock_concat(const char *a, const char *b);
/* Whitespace-separated words in s. */
long mock_count_words(const char *s);
/* Add a malloc'd copy of the len bytes at data to r; 0 or -1. */
int mock_reply_add(struct mock_reply *r, const char *data, size_t len);
/* Add s and take ownership of it (freed on failure too); 0 or -1. */
int mock_reply_take(struct mock_reply *r, char *s);
void mock_reply_free(struct mock_reply *r);
void mock_request_free(struct mock_request *req);
/* cJSON_PrintUnformatted(o), then cJSON_Delete(o); NULL-safe. */
char *mock_print_free(cJSON *o);
/* malloc'd copy of s with {{window_left_ms}} replaced by left_ms and
   {{window_left_s}} by the seconds it makes, rounded up, at least 1. */
char *mock_fill_window(const char *s, long left_ms);

#endif
