/*
 * test_sse.c - the SSE framer (core/sse.c).
 *
 * Every input here goes through check_all(), which frames it whole, cut
 * into two chunks at every byte position, cut at every pair of positions
 * (short inputs), fed byte by byte and cut at pseudo-random positions,
 * and demands the same events and the same final status every time.  So
 * each framing rule is also a chunk-boundary test, and the three
 * provider transcripts are checked with cuts inside CRLF pairs, UTF-8
 * sequences, field names and "data:" prefixes.
 *
 * Events are compared as one string: "event=data;" per event, data
 * escaped (\n, \r, \xNN for other control bytes), then "!<status>" when
 * the run ended in an error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sse.h"

struct cfg {
    int partial;    /* lr_sse_finish(dispatch_partial) */
    size_t max;     /* max_event; 0: default */
    int stop_at;    /* callback fails on this event (1-based); 0: never */
};

struct run {
    struct lr_sse sse;
    struct lr_buf got;
    int rc;
    int n;
    int stop_at;
};

static void escape(struct lr_buf *b, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\n')
            lr_buf_puts(b, "\\n");
        else if (c == '\r')
            lr_buf_puts(b, "\\r");
        else if (c < 0x20 || c == 0x7f)
            lr_buf_printf(b, "\\x%02x", c);
        else
            lr_buf_append(b, &p[i], 1);
    }
}

static int collect(const struct lr_sse_event *ev, void *user)
{
    struct run *r = user;
    assert_non_null(ev->event);
    assert_non_null(ev->data);
    assert_int_equal(ev->data[ev->data_len], '\0');
    escape(&r->got, ev->event, strlen(ev->event));
    lr_buf_puts(&r->got, "=");
    escape(&r->got, ev->data, ev->data_len);
    lr_buf_puts(&r->got, ";");
    r->n++;
    return r->n == r->stop_at ? LR_E_CANCELLED : LR_OK;
}

static void run_feed(struct run *r, const char *p, size_t n)
{
    if (r->rc == LR_OK)
        r->rc = lr_sse_feed(&r->sse, p, n, collect, r);
}

/* Feed in[0..len) cut at the ncuts ascending positions in cuts. */
static char *frame(const char *in, size_t len, const struct cfg *c,
                   const size_t *cuts, size_t ncuts)
{
    struct run r = { .stop_at = c->stop_at };
    size_t at = 0;
    lr_sse_init(&r.sse, c->max);
    for (size_t i = 0; i < ncuts; i++) {
        run_feed(&r, in + at, cuts[i] - at);
        at = cuts[i];
    }
    run_feed(&r, in + at, len - at);
    if (r.rc == LR_OK)
        r.rc = lr_sse_finish(&r.sse, c->partial, collect, &r);
    if (r.rc != LR_OK)
        lr_buf_printf(&r.got, "!%d", r.rc);
    lr_sse_free(&r.sse);
    return lr_buf_steal(&r.got);
}

static void expect_frame(const char *in, size_t len, const struct cfg *c,
                         const size_t *cuts, size_t ncuts, const char *want,
                         const char *how)
{
    char *got = frame(in, len, c, cuts, ncuts);
    if (strcmp(got, want) != 0) {
        print_error("framing differs when %s (first cut %zu)\n", how,
                    ncuts ? cuts[0] : (size_t)0);
        assert_string_equal(got, want);
    }
    free(got);
}

static void check_splits(const char *in, size_t len, const struct cfg *c,
                         const char *want)
{
    size_t cuts[2];
    for (size_t i = 0; i <= len; i++) {
        cuts[0] = i;
        expect_frame(in, len, c, cuts, 1, want, "cut in two");
    }
    for (size_t i = 1; len <= 96 && i < len; i++) {
        for (size_t j = i; j < len; j++) {
            cuts[0] = i;
            cuts[1] = j;
            expect_frame(in, len, c, cuts, 2, want, "cut in three");
        }
    }
}

static void check_chunked(const char *in, size_t len, const struct cfg *c,
                          const char *want)
{
    size_t *cuts = malloc((len + 1) * sizeof *cuts);
    assert_non_null(cuts);
    for (size_t i = 0; i < len; i++)
        cuts[i] = i;
    expect_frame(in, len, c, cuts, len, want, "fed byte by byte");
    uint32_t x = 12345;
    for (int round = 0; round < 40; round++) {
        size_t n = 0;
        for (size_t at = 0; at < len; n++) {
            x = x * 1103515245u + 12345u;
            at += 1 + (x >> 16) % 23;
            cuts[n] = at < len ? at : len;
        }
        expect_frame(in, len, c, cuts, n, want, "cut at random");
    }
    free(cuts);
}

static void check_all(const char *in, size_t len, const struct cfg *c,
                      const char *want)
{
    expect_frame(in, len, c, NULL, 0, want, "fed whole");
    check_splits(in, len, c, want);
    check_chunked(in, len, c, want);
}

static const struct cfg plain = { 0, 0, 0 };
static const struct cfg at_eof = { 1, 0, 0 };

#define CHECK(in, c, want) check_all((in), sizeof(in) - 1, (c), (want))

/* --- Framing rules ---------------------------------------------------- */

static void test_line_endings(void **state)
{
    CHECK("data: a\n\n", &plain, "=a;");
    CHECK("data: a\r\n\r\n", &plain, "=a;");
    CHECK("data: a\r\r", &plain, "=a;");
    CHECK("data: a\r\ndata: b\rdata: c\n\r\n", &plain, "=a\\nb\\nc;");
    CHECK("data: a\r\n\ndata: b\r\rdata: c\n\r", &plain, "=a;=b;=c;");
    CHECK("data: x\n\n\n\n\r\n\r\rdata: y\n\n", &plain, "=x;=y;");
}

/* A '\r' ending one feed and a '\n' starting the next are one line end;
   counted as two they would make a blank line and split the event. */
static void test_crlf_across_feeds(void **state)
{
    struct run r = { 0 };
    lr_sse_init(&r.sse, 0);
    run_feed(&r, "data: a\r", 8);
    run_feed(&r, "", 0);
    run_feed(&r, "\ndata: b\r", 9);
    run_feed(&r, "\n", 1);
    assert_string_equal(lr_buf_str(&r.got), "");
    run_feed(&r, "\r", 1);
    run_feed(&r, "\n", 1);
    assert_int_equal(r.rc, LR_OK);
    assert_string_equal(lr_buf_str(&r.got), "=a\\nb;");
    /* A '\r' then something else: the '\r' alone ended the line. */
    run_feed(&r, "data: c\r", 8);
    run_feed(&r, "data: d\r", 8);
    run_feed(&r, "\r", 1);
    assert_string_equal(lr_buf_str(&r.got), "=a\\nb;=c\\nd;");
    lr_sse_free(&r.sse);
    lr_buf_free(&r.got);
}

static void test_comments(void **state)
{
    CHECK(": hi\ndata: a\n:x\ndata: b\n\n", &plain, "=a\\nb;");
    CHECK(": keep-alive\n\n", &plain, "");
    CHECK(":\n\n:data: no\n\n", &plain, "");
    CHECK(": OPENROUTER PROCESSING\n\ndata: {}\n\n", &plain, "={};");
}

static void test_event_field(void **state)
{
    CHECK("event: ping\ndata: {}\n\n", &plain, "ping={};");
    CHECK("data: {}\nevent: late\n\n", &plain, "late={};");
    CHECK("event: a\nevent: b\ndata: 1\n\n", &plain, "b=1;");
    /* The name belongs to one event only, dispatched or not. */
    CHECK("event: a\ndata: 1\n\ndata: 2\n\n", &plain, "a=1;=2;");
    CHECK("event: a\n\ndata: 2\n\n", &plain, "=2;");
}

static void test_data_joining(void **state)
{
    CHECK("data: a\ndata: b\ndata: c\n\n", &plain, "=a\\nb\\nc;");
    CHECK("data: a\ndata:\ndata: b\n\n", &plain, "=a\\n\\nb;");
    CHECK("data:\n\n", &plain, "=;");
    CHECK("data\ndata\n\n", &plain, "=\\n;");
    CHECK("data: a:b: c\n\n", &plain, "=a:b: c;");
}

static void test_space_after_colon(void **state)
{
    CHECK("data:x\n\ndata: x\n\ndata:  x\n\ndata: \n\n", &plain,
          "=x;=x;= x;=;");
    CHECK("data:\tx\n\n", &plain, "=\\x09x;");
    CHECK("event:e1\ndata:1\n\nevent:  e2\ndata:2\n\n", &plain,
          "e1=1; e2=2;");
}

static void test_ignored_fields(void **state)
{
    CHECK("id: 7\nretry: 100\nfoo: bar\ndata: x\n\n", &plain, "=x;");
    CHECK("id: 8\n\nretry: 5\n\n", &plain, "");
    CHECK("Data: x\n\nDATA: y\n\n data: z\n\n", &plain, "");
    CHECK("datax: 1\ndat: 2\n\n", &plain, "");
}

static void test_field_without_colon(void **state)
{
    CHECK("data\n\n", &plain, "=;");
    CHECK("event\ndata: x\n\n", &plain, "=x;");
    CHECK("datax\n\n", &plain, "");
    CHECK("data: a\nbogus\n\n", &plain, "=a;");
}

static void test_no_data_no_event(void **state)
{
    CHECK("event: x\n\n", &plain, "");
    CHECK("\n\n\n", &plain, "");
    CHECK("id: 1\nevent: x\n\n", &plain, "");
}

static void test_bytes_and_utf8(void **state)
{
    CHECK("data: a\0b\n\n", &plain, "=a\\x00b;");
    CHECK("data: Gr\xc3\xbc\xc3\x9f" "e \xf0\x9f\x9a\x80\n\n", &plain,
          "=Gr\xc3\xbc\xc3\x9f" "e \xf0\x9f\x9a\x80;");
    CHECK("event: \xe2\x82\xac\ndata: \xe2\x82\xac\n\n", &plain,
          "\xe2\x82\xac=\xe2\x82\xac;");
}

static void test_end_of_stream(void **state)
{
    CHECK("data: a\n", &plain, "");
    CHECK("data: a\n", &at_eof, "=a;");
    CHECK("data: a", &plain, "");
    CHECK("data: a", &at_eof, "=a;");
    CHECK("data: a\r", &at_eof, "=a;");
    CHECK("data: a\ndata: b", &at_eof, "=a\\nb;");
    CHECK("event: x\ndata", &at_eof, "x=;");
    CHECK(": c", &at_eof, "");
    CHECK("event: x\n", &at_eof, "");
    CHECK("data: a\n\ndata: b\n\n", &at_eof, "=a;=b;");
}

static void test_callback_stops(void **state)
{
    const struct cfg stop2 = { 1, 0, 2 };
    CHECK("data: a\n\ndata: b\n\ndata: c\n\n", &stop2, "=a;=b;!14");
    const struct cfg stop_eof = { 1, 0, 1 };
    CHECK("data: a", &stop_eof, "=a;!14");
}

static void test_max_event(void **state)
{
    const struct cfg m16 = { 1, 16, 0 };
    /* "data: " + 10 bytes is a 16-byte line: allowed; 17 is not. */
    CHECK("data: 0123456789\n\n", &m16, "=0123456789;");
    CHECK("data: 0123456789A\n\n", &m16, "!106");
    CHECK("data: a\n\ndata: 0123456789A\n\ndata: b\n\n", &m16, "=a;!106");
    /* Joined data counts too, though every line is short. */
    CHECK("data: 12345678\ndata: 1234567\n\n", &m16,
          "=12345678\\n1234567;");
    CHECK("data: 12345678\ndata: 12345678\n\n", &m16, "!106");
    /* Comments and unfinished lines are bounded as well. */
    CHECK(": 0123456789abcdef\n\n", &m16, "!106");
    CHECK("data: 0123456789abcdef", &m16, "!106");
    CHECK("data: 0123456789\r\n\r\n", &m16, "=0123456789;");
}

static void test_max_event_default(void **state)
{
    struct lr_sse s;
    lr_sse_init(&s, 0);
    assert_int_equal(s.max_event, (size_t)8 << 20);
    lr_sse_free(&s);
}

static void test_pending_and_reuse(void **state)
{
    struct run r = { 0 };
    lr_sse_init(&r.sse, 0);
    assert_false(lr_sse_pending(&r.sse));
    run_feed(&r, "data: a", 7);
    assert_true(lr_sse_pending(&r.sse));
    run_feed(&r, "\n", 1);
    assert_true(lr_sse_pending(&r.sse));
    run_feed(&r, "\n: c\n", 5);
    assert_false(lr_sse_pending(&r.sse));
    run_feed(&r, "event: x\n", 9);
    assert_true(lr_sse_pending(&r.sse));
    assert_int_equal(lr_sse_finish(&r.sse, 0, collect, &r), LR_OK);
    assert_false(lr_sse_pending(&r.sse));
    /* The framer starts afresh after finish, a dangling '\r' included. */
    run_feed(&r, "data: b\r", 8);
    assert_int_equal(lr_sse_finish(&r.sse, 1, collect, &r), LR_OK);
    run_feed(&r, "\ndata: c\n\n", 11);
    assert_int_equal(r.rc, LR_OK);
    assert_string_equal(lr_buf_str(&r.got), "=a;=b;=c;");
    assert_int_equal(lr_sse_feed(&r.sse, NULL, 0, collect, &r), LR_OK);
    lr_sse_free(&r.sse);
    lr_sse_free(&r.sse);
    lr_buf_free(&r.got);
}

/* A 1 MiB event in 4 KiB reads: the partial line grows by appending. */
static void test_large_event(void **state)
{
    size_t n = (size_t)1 << 20;
    char *in = malloc(n + 16);
    assert_non_null(in);
    memcpy(in, "data: ", 6);
    memset(in + 6, 'x', n);
    memcpy(in + 6 + n, "\r\n\r\n", 4);
    struct run r = { 0 };
    lr_sse_init(&r.sse, 0);
    for (size_t at = 0; at < n + 10; at += 4096) {
        size_t k = n + 10 - at < 4096 ? n + 10 - at : 4096;
        run_feed(&r, in + at, k);
    }
    assert_int_equal(r.rc, LR_OK);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.got.len, n + 2);
    lr_sse_free(&r.sse);
    lr_buf_free(&r.got);
    free(in);
}

/* --- Provider transcripts (provider-wire-formats.md) ------------------ */

#define OA1 "{\"id\":\"c2\",\"object\":\"chat.completion.chunk\"," \
    "\"created\":1770000001,\"model\":\"gpt-4.1-mini\",\"choices\":[{" \
    "\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"," \
    "\"refusal\":null},\"logprobs\":null,\"finish_reason\":null}]," \
    "\"usage\":null}"
#define OA2 "{\"id\":\"c2\",\"object\":\"chat.completion.chunk\"," \
    "\"created\":1770000001,\"model\":\"gpt-4.1-mini\",\"choices\":[{" \
    "\"index\":0,\"delta\":{\"content\":\"Gr\xc3\xbc\xc3\x9f" "e " \
    "\xf0\x9f\x9a\x80\"},\"logprobs\":null,\"finish_reason\":null}]," \
    "\"usage\":null}"
#define OA3 "{\"id\":\"c2\",\"object\":\"chat.completion.chunk\"," \
    "\"created\":1770000001,\"model\":\"gpt-4.1-mini\",\"choices\":[{" \
    "\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":" \
    "\"stop\"}],\"usage\":null}"
#define OA4 "{\"id\":\"c2\",\"object\":\"chat.completion.chunk\"," \
    "\"created\":1770000001,\"model\":\"gpt-4.1-mini\",\"choices\":[]," \
    "\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":1," \
    "\"total_tokens\":10}}"

static const char openai[] =
    "data: " OA1 "\n\n"
    "data: " OA2 "\n\n"
    "data: " OA3 "\n\n"
    "data: " OA4 "\n\n"
    "data: [DONE]\n\n";

static void test_openai_transcript(void **state)
{
    CHECK(openai, &plain, "=" OA1 ";=" OA2 ";=" OA3 ";=" OA4 ";=[DONE];");
}

#define AN1 "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_01Cd\"," \
    "\"type\":\"message\",\"role\":\"assistant\",\"model\":" \
    "\"claude-haiku-4-5\",\"content\":[],\"stop_reason\":null," \
    "\"stop_sequence\":null,\"usage\":{\"input_tokens\":12," \
    "\"output_tokens\":1}}}"
#define AN2 "{\"type\":\"content_block_start\",\"index\":0," \
    "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}"
#define AN3 "{\"type\": \"ping\"}"
#define AN4 "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{" \
    "\"type\":\"text_delta\",\"text\":\"Hello \xe2\x82\xac\"}     }"
#define AN5 "{\"type\":\"content_block_stop\",\"index\":0}"
#define AN6 "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":" \
    "\"end_turn\",\"stop_sequence\":null},\"usage\":{" \
    "\"output_tokens\":4}}"
#define AN7 "{\"type\":\"message_stop\"}"

static const char anthropic[] =
    "event: message_start\ndata: " AN1 "\n\n"
    "event: content_block_start\ndata: " AN2 "\n\n"
    "event: ping\ndata: " AN3 "\n\n"
    "event: content_block_delta\ndata: " AN4 "\n\n"
    "event: content_block_stop\ndata: " AN5 "\n\n"
    "event: message_delta\ndata: " AN6 "\n\n"
    "event: message_stop\ndata: " AN7 "\n\n";

static void test_anthropic_transcript(void **state)
{
    CHECK(anthropic, &plain,
          "message_start=" AN1 ";content_block_start=" AN2 ";ping=" AN3
          ";content_block_delta=" AN4 ";content_block_stop=" AN5
          ";message_delta=" AN6 ";message_stop=" AN7 ";");
}

#define GE1 "{\"candidates\": [{\"content\": {\"parts\": [{\"text\": " \
    "\"Bonjour, \"}],\"role\": \"model\"},\"index\": 0}]," \
    "\"usageMetadata\": {\"promptTokenCount\": 5,\"totalTokenCount\": 5}," \
    "\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"r1\"}"
#define GE2 "{\"candidates\": [{\"content\": {\"parts\": [{\"text\": " \
    "\"\xc3\xa7" "a va \xf0\x9f\x9a\x80\"}],\"role\": \"model\"}," \
    "\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 5," \
    "\"totalTokenCount\": 9},\"modelVersion\": \"gemini-2.5-flash\"," \
    "\"responseId\": \"r1\"}"
#define GE3 "{\"candidates\": [{\"content\": {\"parts\": [{\"text\": " \
    "\"!\"}],\"role\": \"model\"},\"finishReason\": \"STOP\"," \
    "\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 5," \
    "\"candidatesTokenCount\": 6,\"totalTokenCount\": 11}," \
    "\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"r1\"}"

/* Gemini: "\r\n\r\n" between events, nothing after the last but EOF. */
static const char gemini[] =
    "data: " GE1 "\r\n\r\n"
    "data: " GE2 "\r\n\r\n"
    "data: " GE3 "\r\n";
static const char gemini_bare[] =
    "data: " GE1 "\r\n\r\n"
    "data: " GE2 "\r\n\r\n"
    "data: " GE3;

static void test_gemini_transcript(void **state)
{
    const char *all = "=" GE1 ";=" GE2 ";=" GE3 ";";
    CHECK(gemini, &at_eof, all);
    CHECK(gemini_bare, &at_eof, all);
    /* Without dispatch_partial the unterminated event is dropped. */
    CHECK(gemini, &plain, "=" GE1 ";=" GE2 ";");
    CHECK(gemini_bare, &plain, "=" GE1 ";=" GE2 ";");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_endings),
        cmocka_unit_test(test_crlf_across_feeds),
        cmocka_unit_test(test_comments),
        cmocka_unit_test(test_event_field),
        cmocka_unit_test(test_data_joining),
        cmocka_unit_test(test_space_after_colon),
        cmocka_unit_test(test_ignored_fields),
        cmocka_unit_test(test_field_without_colon),
        cmocka_unit_test(test_no_data_no_event),
        cmocka_unit_test(test_bytes_and_utf8),
        cmocka_unit_test(test_end_of_stream),
        cmocka_unit_test(test_callback_stops),
        cmocka_unit_test(test_max_event),
        cmocka_unit_test(test_max_event_default),
        cmocka_unit_test(test_pending_and_reuse),
        cmocka_unit_test(test_large_event),
        cmocka_unit_test(test_openai_transcript),
        cmocka_unit_test(test_anthropic_transcript),
        cmocka_unit_test(test_gemini_transcript),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
