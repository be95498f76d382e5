/*
 * route_eval.c - scores a prompt-difficulty router offline, the way
 * RouteLLM does (Ong et al., "RouteLLM: Learning to Route LLMs with
 * Preference Data", and lm-sys/RouteLLM routellm/evals/), on its MT-Bench
 * and GSM8K labels (/work/shared/data/routellm-evals, see its README.md):
 *
 *   route_eval export --data DIR --out-mt MT.jsonl --out-gsm GSM.jsonl
 *       writes the decontaminated prompts as {"id","prompt"} lines, the
 *       input of `llmroute classify --in` (MT-Bench: turn 1 only, as
 *       RouteLLM routes on it).
 *   route_eval score --data DIR [--mt MT_SCORES.jsonl] [--gsm GSM.jsonl]
 *                    [--draws N] [--seed S]
 *       reads classify's output ({"id","score"[,"tier"]} per line; every
 *       exported id exactly once) and prints, per data set, the figures
 *       below for the router and for two built-in baselines: random
 *       (N draws, default 1000, seed S, default 0) and prompt length in
 *       characters (Unicode code points, as Python's len()).  With
 *       neither --mt nor --gsm it prints the baselines only.
 *   route_eval fake --data DIR --kind oracle|anti --out-mt F --out-gsm F
 *       writes classify-shaped lines whose score is the label difference
 *       (strong minus weak; negated for anti), tier complex/medium/simple
 *       for a difference >0/=0/<0: a test input for `score`.
 *   route_eval selftest
 *       checks the metric code on synthetic sets (oracle, anti-oracle,
 *       random, a hand-computed case, the threshold rule, the CSV
 *       reader, the GSM8K split); exit 1 on any failure.
 *   --gsm-half dev|test (export, score, fake): only that half of GSM8K,
 *       and no MT-Bench (score prints GSM8K alone; export and fake
 *       still need --out-mt and write MT-Bench whole).
 *
 * The GSM8K split (pre-registered before any per-prompt data was looked
 * at, for a held-out evaluation of the complexity router): a problem is
 * in the "dev" half when bit 63 of the 64-bit FNV-1a hash (offset basis
 * 14695981039346656037, prime 1099511628211) of its prompt
 * (the CSV field's bytes, UTF-8, after unquoting) is 0, and in the
 * "test" half when it is 1.  Nothing but the prompt text decides it:
 * not the labels, the row or the id.  The top bit, not the low one:
 * FNV-1a's low bit is only the parity of the number of odd bytes.  The
 * halves' labels (q_weak, q_strong) are each half's own, so PGR is
 * measured within the half.
 *
 * The metric, matched to routellm/evals/benchmarks.py + evaluate.py:
 *   - Each prompt carries the label the weak model (Mixtral-8x7B) and the
 *     strong one (GPT-4-1106-preview) earn: MT-Bench the judge score
 *     averaged over both turns, GSM8K correctness 0/1.  A routing rule
 *     earns the mean label of the models it picked; q_weak / q_strong are
 *     all-weak / all-strong.  PGR(q) = (q - q_weak) / (q_strong - q_weak).
 *   - RouteLLM takes the cutoffs pd.qcut(scores, 10, retbins=True), i.e.
 *     the 11 linear-interpolation quantiles k/10 of the scores, and sends
 *     score >= cutoff to the strong model (score > cutoff for the last,
 *     so that point is all-weak).  With distinct scores that puts exactly
 *     the top  n - ceil((n-1)k/10)  prompts on the strong model for
 *     k = 0..9 and none for k = 10; we use those counts (selftest checks
 *     the identity).  APGR = trapezoid area (np.trapz) under PGR against
 *     the strong share over those 11 points, which run from 0 to 1.
 *     "APGR(n)" is the same area over every count 0..n (finer, for
 *     reference only).
 *   - CPT(x%) = the smallest strong share whose PGR reaches x%: the first
 *     crossing of the 11-point curve, linearly interpolated.  RouteLLM
 *     uses np.interp(target, quality, share), which is the same when the
 *     curve rises monotonically and undefined when it does not.
 *   - Ties: pd.qcut refuses repeated cutoffs, so RouteLLM has no rule.
 *     Here prompts are ranked by score, ties by a 64-bit FNV-1a-style
 *     hash of the id (tie_key(), then the id): fixed, and unrelated to
 *     the labels.  With
 *     ties the row also shows "tie-avg APGR": each run of tied prompts
 *     at its exact mean over every order (linear inside the run).
 *   - random: RouteLLM averages 10 seeded uniform draws; we average N.
 *   - Cost: the paper's price estimate (section 5.4, appendix D):
 *     GPT-4 $24.7 and Mixtral $0.24 per million tokens, with the same
 *     tokens per call assumed, so a share s of strong calls costs
 *     s + (1 - s) * 0.24/24.7 of always-strong.  "saving" is the paper's
 *     Table 6 ratio: random's CPT(50%) over the router's.
 *   - A tier (classify's "tier") is scored as a two-way split, complex =
 *     strong, simple and medium = weak: only two models are labelled.
 * Nothing here is fitted to the labels; it only measures.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POINTS 10                /* RouteLLM's --num-results */
#define DEFAULT_DRAWS 1000
#define PRICE_STRONG 24.7        /* USD per million tokens, paper 5.4 */
#define PRICE_WEAK 0.24
#define WEAK_MODEL "mistralai/Mixtral-8x7B-Instruct-v0.1"
#define STRONG_MODEL "gpt-4-1106-preview"

/* classify's tier; anything but simple/medium/complex is TIER_OTHER. */
enum tier { TIER_NONE, TIER_SIMPLE, TIER_MEDIUM, TIER_PREMIUM, TIER_OTHER };

struct item {
    char *id;
    char *prompt;
    double weak, strong;         /* the label each model earns */
    int n_weak, n_strong;        /* judgements summed (MT-Bench) */
    double score;                /* the router's, from the scores file */
    int has_score;
    enum tier tier;
    uint64_t tie;                /* tie-break key: FNV-1a of id */
};

struct set {
    const char *name;
    struct item *v;
    size_t n, cap, dropped;
    size_t other_half;           /* prompts left out by --gsm-half */
    double q_weak, q_strong;
};

/* Which GSM8K problems a command sees (see the split above). */
enum half { HALF_ALL, HALF_DEV, HALF_TEST };

struct metrics {
    double apgr, apgr_all, cpt[3];      /* CPT(20%), (50%), (80%) */
};

static const double cpt_levels[3] = {0.2, 0.5, 0.8};

/* --- Small utilities ------------------------------------------------- */

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fputs("route_eval: out of memory\n", stderr);
        exit(2);
    }
    return q;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xrealloc(NULL, n), s, n);
}

static uint64_t fnv1a_from(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* 64-bit FNV-1a as published (offset basis 14695981039346656037). */
static uint64_t fnv1a(const char *s)
{
    return fnv1a_from(14695981039346656037ull, s);
}

/* The tie-break key: FNV-1a's step from a basis that lost a digit
   (1469598103934665603).  Kept as it is: it fixes the order of tied
   scores in every figure published so far. */
static uint64_t tie_key(const char *s)
{
    return fnv1a_from(1469598103934665603ull, s);
}

/* The pre-registered GSM8K half of a prompt: dev when bit 63 of its
   FNV-1a hash is 0, test when it is 1. */
static enum half gsm_half_of(const char *prompt)
{
    return fnv1a(prompt) >> 63 ? HALF_TEST : HALF_DEV;
}

/* splitmix64: small, seedable, good enough for shuffling scores. */
static uint64_t rng_next(uint64_t *st)
{
    uint64_t z = (*st += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rng_unit(uint64_t *st)
{
    return (double)(rng_next(st) >> 11) * 0x1.0p-53;
}

/* Characters as Python counts them: UTF-8 code points. */
static size_t utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0, got;
    if (!f) {
        fprintf(stderr, "route_eval: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    do {
        if (cap - n < 65536)
            buf = xrealloc(buf, cap = cap * 2 + 65536);
        got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
    } while (got > 0);
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Next line of a JSONL buffer, parsed; NULL at the end.  *err set when a
   non-empty line is not JSON. */
static cJSON *next_json(char **cur, const char *path, size_t *lineno,
                        int *err)
{
    while (**cur) {
        char *line = *cur, *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        cJSON *j;
        *cur = nl ? nl + 1 : line + len;
        ++*lineno;
        if (strspn(line, " \t\r") >= len)
            continue;
        if (!(j = cJSON_ParseWithLength(line, len))) {
            fprintf(stderr, "route_eval: %s:%zu: not JSON\n", path,
                    *lineno);
            *err = 1;
            return NULL;
        }
        return j;
    }
    return NULL;
}

static const char *json_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* --- RFC 4180 CSV ------------------------------------------------------ */

/* Reads one field at *p into a fresh string: quoted fields may hold
   commas, newlines and "" for a quote.  *end_of_row is set when the
   field ended the row (newline, CRLF or end of input).  Returns NULL on
   a malformed field (text after a closing quote, unclosed quote). */
static char *csv_field(const char **p, int *end_of_row)
{
    const char *s = *p;
    size_t n = 0, cap = 64;
    char *out = xrealloc(NULL, cap);
    int quoted = *s == '"';
    if (quoted)
        s++;
    for (;; s++) {
        char c = *s;
        if (quoted && c == '"' && s[1] == '"')
            s++;
        else if (quoted && c == '"') {
            quoted = 0;
            c = *++s;
            if (c != ',' && c != '\n' && c != '\r' && c != '\0')
                break;
        }
        if (!quoted && (c == ',' || c == '\n' || c == '\0' ||
                        (c == '\r' && s[1] == '\n'))) {
            *end_of_row = c != ',';
            s += c == '\r' ? 2 : (c != '\0');
            out[n] = '\0';
            *p = s;
            return out;
        }
        if (quoted && c == '\0')
            break;
        if (n + 2 > cap)
            out = xrealloc(out, cap *= 2);
        out[n++] = c;
    }
    free(out);
    return NULL;
}

/* One row into fields[max]; returns the count, or -1 on a bad field. */
static int csv_row(const char **p, char **fields, int max)
{
    int n = 0, eor = 0;
    while (!eor) {
        char *f = csv_field(p, &eor);
        if (!f) {
            while (n > 0)
                free(fields[--n]);
            return -1;
        }
        if (n < max)
            fields[n++] = f;
        else
            free(f);
    }
    return n;
}

/* --- Loading the data set ------------------------------------------- */

struct strlist {
    char **v;
    size_t n;
};

static void strlist_free(struct strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

static int strlist_has(const struct strlist *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return 1;
    return 0;
}

/* The "eval_prompt" of every line of a contaminated_prompts file. */
static int load_contaminated(const char *path, struct strlist *out)
{
    size_t len, lineno = 0;
    char *buf = slurp(path, &len), *cur = buf;
    int err = 0;
    cJSON *j;
    if (!buf)
        return -1;
    while ((j = next_json(&cur, path, &lineno, &err))) {
        const char *s = json_str(j, "eval_prompt");
        if (s) {
            out->v = xrealloc(out->v, (out->n + 1) * sizeof *out->v);
            out->v[out->n++] = xstrdup(s);
        }
        cJSON_Delete(j);
    }
    free(buf);
    return err ? -1 : 0;
}

static struct item *set_add(struct set *s, const char *id,
                            const char *prompt)
{
    struct item *it;
    if (s->n == s->cap)
        s->v = xrealloc(s->v, (s->cap = s->cap * 2 + 64) * sizeof *s->v);
    it = &s->v[s->n++];
    memset(it, 0, sizeof *it);
    it->id = xstrdup(id);
    it->prompt = xstrdup(prompt);
    it->tie = tie_key(id);
    return it;
}

static void set_free(struct set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].id);
        free(s->v[i].prompt);
    }
    free(s->v);
    memset(s, 0, sizeof *s);
}

static void set_means(struct set *s)
{
    double w = 0, st = 0;
    for (size_t i = 0; i < s->n; i++) {
        w += s->v[i].weak;
        st += s->v[i].strong;
    }
    s->q_weak = w / (double)s->n;
    s->q_strong = st / (double)s->n;
}

static int mt_questions(const char *dir, const struct strlist *bad,
                        struct set *s)
{
    char path[4096], id[32];
    size_t len, lineno = 0;
    char *buf, *cur;
    int err = 0;
    cJSON *j;
    snprintf(path, sizeof path, "%s/mt_bench_question.jsonl", dir);
    if (!(buf = slurp(path, &len)))
        return -1;
    for (cur = buf; (j = next_json(&cur, path, &lineno, &err));) {
        const cJSON *qid = cJSON_GetObjectItemCaseSensitive(j, "question_id");
        const cJSON *turns = cJSON_GetObjectItemCaseSensitive(j, "turns");
        const cJSON *t0 = cJSON_GetArrayItem(turns, 0);
        const cJSON *t1 = cJSON_GetArrayItem(turns, 1);
        if (!cJSON_IsNumber(qid) || !cJSON_IsString(t0) ||
            !cJSON_IsString(t1)) {
            fprintf(stderr, "route_eval: %s:%zu: no question_id/turns\n",
                    path, lineno);
            err = 1;
        }
        else if (strlist_has(bad, t0->valuestring) ||
                 strlist_has(bad, t1->valuestring))
            s->dropped++;
        else {
            snprintf(id, sizeof id, "mt-%d", qid->valueint);
            set_add(s, id, t0->valuestring);
        }
        cJSON_Delete(j);
    }
    free(buf);
    return err ? -1 : 0;
}

/* Adds one judgement to its question's sums (dropped questions: none). */
static int mt_judgement(struct set *s, const cJSON *j)
{
    const cJSON *qid = cJSON_GetObjectItemCaseSensitive(j, "question_id");
    const cJSON *score = cJSON_GetObjectItemCaseSensitive(j, "score");
    const char *model = json_str(j, "model");
    char id[32];
    if (!cJSON_IsNumber(qid) || !cJSON_IsNumber(score) || !model)
        return -1;
    snprintf(id, sizeof id, "mt-%d", qid->valueint);
    for (size_t i = 0; i < s->n; i++) {
        struct item *it = &s->v[i];
        if (strcmp(it->id, id) != 0)
            continue;
        if (strcmp(model, WEAK_MODEL) == 0) {
            it->weak += score->valuedouble;
            it->n_weak++;
        }
        else if (strcmp(model, STRONG_MODEL) == 0) {
            it->strong += score->valuedouble;
            it->n_strong++;
        }
        else
            return -1;
    }
    return 0;
}

/* MT-Bench: the judge score of each model averaged over both turns. */
static int load_mt(const char *dir, struct set *s)
{
    char path[4096];
    struct strlist bad = {0};
    size_t len, lineno = 0;
    char *buf = NULL, *cur;
    int err = 0;
    cJSON *j;
    s->name = "MT-Bench";
    snprintf(path, sizeof path, "%s/mt_bench_contaminated_prompts.jsonl",
             dir);
    if (load_contaminated(path, &bad) != 0 || mt_questions(dir, &bad, s))
        err = 1;
    strlist_free(&bad);
    snprintf(path, sizeof path, "%s/mt_bench_judgements.jsonl", dir);
    if (err || !(buf = slurp(path, &len))) {
        free(buf);
        return -1;
    }
    for (cur = buf; (j = next_json(&cur, path, &lineno, &err));) {
        if (mt_judgement(s, j) != 0) {
            fprintf(stderr, "route_eval: %s:%zu: bad judgement\n", path,
                    lineno);
            err = 1;
        }
        cJSON_Delete(j);
    }
    free(buf);
    for (size_t i = 0; !err && i < s->n; i++) {
        struct item *it = &s->v[i];
        if (it->n_weak != 2 || it->n_strong != 2) {
            fprintf(stderr, "route_eval: %s: %s has %d+%d judgements, "
                    "want 2+2\n", path, it->id, it->n_weak, it->n_strong);
            err = 1;
            break;
        }
        it->weak /= 2;
        it->strong /= 2;
    }
    return err || s->n == 0 ? -1 : 0;
}

static int col_of(char **hdr, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(hdr[i], name) == 0)
            return i;
    return -1;
}

/* "True"/"False" as pandas reads them; -1 otherwise. */
static int csv_bool(const char *s)
{
    return strcmp(s, "True") == 0 ? 1 : strcmp(s, "False") == 0 ? 0 : -1;
}

static int gsm_rows(const char *text, const char *path,
                    const struct strlist *bad, struct set *s)
{
    enum { MAXF = 16 };
    char *f[MAXF], id[32];
    const char *p = text;
    int nh = csv_row(&p, f, MAXF), cp, cw, cs, err = 0;
    size_t row = 0;
    if (nh < 0)
        return -1;
    cp = col_of(f, nh, "prompt");
    cw = col_of(f, nh, WEAK_MODEL);
    cs = col_of(f, nh, STRONG_MODEL);
    while (nh > 0)
        free(f[--nh]);
    if (cp < 0 || cw < 0 || cs < 0) {
        fprintf(stderr, "route_eval: %s: header lacks prompt or a model "
                "column\n", path);
        return -1;
    }
    while (*p && !err) {
        int n = csv_row(&p, f, MAXF), w, st;
        if (n <= cp || n <= cw || n <= cs ||
            (w = csv_bool(f[cw])) < 0 || (st = csv_bool(f[cs])) < 0) {
            fprintf(stderr, "route_eval: %s: data row %zu malformed\n",
                    path, row);
            err = 1;
        }
        else if (strlist_has(bad, f[cp]))
            s->dropped++;
        else {
            struct item *it;
            snprintf(id, sizeof id, "gsm-%zu", row);
            it = set_add(s, id, f[cp]);
            it->weak = w;
            it->strong = st;
        }
        while (n > 0)
            free(f[--n]);
        row++;
    }
    return err ? -1 : 0;
}

/* GSM8K: correctness 0/1 per model; ids gsm-ROW (0-based data row). */
static int load_gsm(const char *dir, struct set *s)
{
    char path[4096];
    struct strlist bad = {0};
    size_t len;
    char *buf;
    int rc = -1;
    s->name = "GSM8K";
    snprintf(path, sizeof path, "%s/gsm8k_contaminated_prompts.jsonl", dir);
    if (load_contaminated(path, &bad) == 0) {
        snprintf(path, sizeof path, "%s/gsm8k_responses.csv", dir);
        if ((buf = slurp(path, &len))) {
            rc = gsm_rows(buf, path, &bad, s);
            free(buf);
        }
    }
    strlist_free(&bad);
    return rc || s->n == 0 ? -1 : 0;
}

/* Keeps only the items of one half (HALF_ALL: all). */
static void set_keep_half(struct set *s, enum half h)
{
    size_t kept = 0;
    if (h == HALF_ALL)
        return;
    for (size_t i = 0; i < s->n; i++) {
        if (gsm_half_of(s->v[i].prompt) == h) {
            s->v[kept++] = s->v[i];
            continue;
        }
        free(s->v[i].id);
        free(s->v[i].prompt);
        s->other_half++;
    }
    s->n = kept;
    s->name = h == HALF_DEV ? "GSM8K dev half" : "GSM8K test half";
    if (kept)
        set_means(s);
}

static int load_both(const char *dir, struct set *mt, struct set *gsm)
{
    if (load_mt(dir, mt) != 0 || load_gsm(dir, gsm) != 0) {
        fprintf(stderr, "route_eval: cannot load the data in %s\n", dir);
        return -1;
    }
    set_means(mt);
    set_means(gsm);
    return 0;
}

/* --- The metric -------------------------------------------------------- */

struct key {
    double score;
    uint64_t tie;
    const char *id;
    size_t i;
};

/* Highest score first; ties by the id's hash, then the id. */
static int cmp_key(const void *pa, const void *pb)
{
    const struct key *a = pa, *b = pb;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    if (a->tie != b->tie)
        return a->tie < b->tie ? -1 : 1;
    return strcmp(a->id, b->id);
}

/* How many prompts RouteLLM's k-th cutoff sends to the strong model. */
static size_t strong_count(size_t n, int k)
{
    if (k >= POINTS)
        return 0;
    return n - ((n - 1) * (size_t)k + POINTS - 1) / POINTS;
}

static double pgr(const struct set *s, double q)
{
    return (q - s->q_weak) / (s->q_strong - s->q_weak);
}

/* gain[r] = strong - weak label of the prompt ranked r (hardest first),
   ranked[r] its score. */
static void rank_gains(const struct set *s, const double *score,
                       double *gain, double *ranked)
{
    struct key *k = xrealloc(NULL, s->n * sizeof *k);
    for (size_t i = 0; i < s->n; i++)
        k[i] = (struct key){score[i], s->v[i].tie, s->v[i].id, i};
    qsort(k, s->n, sizeof *k, cmp_key);
    for (size_t r = 0; r < s->n; r++) {
        gain[r] = s->v[k[r].i].strong - s->v[k[r].i].weak;
        ranked[r] = k[r].score;
    }
    free(k);
}

/* Replaces cum[c] inside each run of tied scores by its mean over every
   order of the run: linear between the run's ends. */
static void average_ties(const double *ranked, size_t n, double *cum)
{
    for (size_t a = 0, b; a < n; a = b) {
        for (b = a + 1; b < n && ranked[b] == ranked[a]; b++)
            ;
        for (size_t c = a + 1; c < b; c++)
            cum[c] = cum[a] + (cum[b] - cum[a]) * (double)(c - a) /
                                  (double)(b - a);
    }
}

/* First strong share whose PGR reaches level on the (x ascending) curve,
   linearly interpolated from the point before. */
static double cpt(const double *x, const double *p, int npts, double level)
{
    for (int i = 0; i < npts; i++) {
        if (p[i] < level)
            continue;
        if (i == 0)
            return x[0];
        return x[i - 1] + (level - p[i - 1]) / (p[i] - p[i - 1]) *
                              (x[i] - x[i - 1]);
    }
    return 1.0;      /* unreachable: the all-strong point has PGR 1 */
}

/* The metrics of a score; tie_avg: ties at their mean over all orders
   instead of the hash order. */
static struct metrics measure(const struct set *s, const double *score,
                              int tie_avg)
{
    double *gain = xrealloc(NULL, s->n * sizeof *gain);
    double *ranked = xrealloc(NULL, s->n * sizeof *ranked);
    double *cum = xrealloc(NULL, (s->n + 1) * sizeof *cum);
    double x[POINTS + 1], p[POINTS + 1], n = (double)s->n;
    struct metrics m = {0};
    rank_gains(s, score, gain, ranked);
    cum[0] = s->q_weak * n;                 /* total label, c strong */
    for (size_t r = 0; r < s->n; r++)
        cum[r + 1] = cum[r] + gain[r];
    if (tie_avg)
        average_ties(ranked, s->n, cum);
    for (int k = POINTS; k >= 0; k--) {     /* share ascending */
        size_t c = strong_count(s->n, k);
        x[POINTS - k] = (double)c / n;
        p[POINTS - k] = pgr(s, cum[c] / n);
    }
    for (int i = 1; i <= POINTS; i++)
        m.apgr += (x[i] - x[i - 1]) * (p[i] + p[i - 1]) / 2;
    for (size_t c = 1; c <= s->n; c++)
        m.apgr_all += (pgr(s, cum[c] / n) + pgr(s, cum[c - 1] / n)) / 2 / n;
    for (int l = 0; l < 3; l++)
        m.cpt[l] = cpt(x, p, POINTS + 1, cpt_levels[l]);
    free(gain);
    free(ranked);
    free(cum);
    return m;
}

/* Mean metrics over draws of uniform random scores. */
static struct metrics measure_random(const struct set *s, int draws,
                                     uint64_t seed, double *sd)
{
    double *score = xrealloc(NULL, s->n * sizeof *score), ss = 0;
    struct metrics sum = {0};
    uint64_t st = seed;
    for (int d = 0; d < draws; d++) {
        struct metrics m;
        for (size_t i = 0; i < s->n; i++)
            score[i] = rng_unit(&st);
        m = measure(s, score, 0);
        sum.apgr += m.apgr;
        sum.apgr_all += m.apgr_all;
        ss += m.apgr * m.apgr;
        for (int l = 0; l < 3; l++)
            sum.cpt[l] += m.cpt[l];
    }
    sum.apgr /= draws;
    sum.apgr_all /= draws;
    for (int l = 0; l < 3; l++)
        sum.cpt[l] /= draws;
    *sd = sqrt(fmax(0, ss / draws - sum.apgr * sum.apgr));
    free(score);
    return sum;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Prompts whose score another prompt shares. */
static size_t tied(const double *score, size_t n)
{
    double *v = memcpy(xrealloc(NULL, n * sizeof *v), score, n * sizeof *v);
    size_t t = 0;
    qsort(v, n, sizeof *v, cmp_double);
    for (size_t i = 0; i < n; i++)
        t += (i > 0 && v[i] == v[i - 1]) || (i + 1 < n && v[i] == v[i + 1]);
    free(v);
    return t;
}


/* --- Scores from `llmroute classify --in` ---------------------------- */

static int cmp_item_id(const void *a, const void *b)
{
    const struct item *x = *(struct item *const *)a;
    const struct item *y = *(struct item *const *)b;
    return strcmp(x->id, y->id);
}

/* Puts one classify line on its item; -1 with a message otherwise. */
static int take_score(struct item **byid, size_t n, const cJSON *j,
                      const char *where)
{
    const cJSON *idv = cJSON_GetObjectItemCaseSensitive(j, "id");
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(j, "score");
    const char *tier = json_str(j, "tier");
    struct item key = {0}, *kp = &key, **hit;
    char num[32];
    if (cJSON_IsNumber(idv)) {
        snprintf(num, sizeof num, "%.17g", idv->valuedouble);
        key.id = num;
    }
    else
        key.id = cJSON_IsString(idv) ? idv->valuestring : NULL;
    if (!key.id || !cJSON_IsNumber(sc) || !isfinite(sc->valuedouble)) {
        fprintf(stderr, "route_eval: %s: no id or no finite score\n", where);
        return -1;
    }
    hit = bsearch(&kp, byid, n, sizeof *byid, cmp_item_id);
    if (!hit || (*hit)->has_score) {
        fprintf(stderr, "route_eval: %s: id \"%s\" %s\n", where, key.id,
                hit ? "given twice" : "is not an exported prompt");
        return -1;
    }
    (*hit)->score = sc->valuedouble;
    (*hit)->has_score = 1;
    if (tier)
        (*hit)->tier = strcmp(tier, "complex") == 0  ? TIER_PREMIUM
                       : strcmp(tier, "medium") == 0 ? TIER_MEDIUM
                       : strcmp(tier, "simple") == 0 ? TIER_SIMPLE
                                                     : TIER_OTHER;
    return 0;
}

/* Scores for every prompt of half h (or all); a file may also score
   the other half's prompts (a whole-set classify run). */
static int load_scores(struct set *s, const char *path, enum half h)
{
    struct item **byid = xrealloc(NULL, s->n * sizeof *byid);
    size_t len, lineno = 0, missing = 0;
    char *buf = slurp(path, &len), *cur = buf, where[4200];
    int err = !buf;
    cJSON *j;
    for (size_t i = 0; i < s->n; i++)
        byid[i] = &s->v[i];
    qsort(byid, s->n, sizeof *byid, cmp_item_id);
    while (!err && (j = next_json(&cur, path, &lineno, &err))) {
        snprintf(where, sizeof where, "%s:%zu", path, lineno);
        err = take_score(byid, s->n, j, where) != 0;
        cJSON_Delete(j);
    }
    for (size_t i = 0; !err && i < s->n; i++)
        missing += !s->v[i].has_score &&
                   (h == HALF_ALL || gsm_half_of(s->v[i].prompt) == h);
    if (!err && missing)
        fprintf(stderr, "route_eval: %s: %zu of the %zu %s prompts have no "
                "score\n", path, missing, s->n, s->name);
    free(buf);
    free(byid);
    return err || missing ? -1 : 0;
}

/* --- Report ------------------------------------------------------------ */

static double cost_share(double strong_share)
{
    return strong_share + (1 - strong_share) * PRICE_WEAK / PRICE_STRONG;
}

static void print_head(const struct set *s)
{
    int mt = strcmp(s->name, "MT-Bench") == 0;
    char other[64] = "";
    if (s->other_half)
        snprintf(other, sizeof other, ", %zu in the other half",
                 s->other_half);
    printf("%s: %zu prompts (%zu contaminated dropped%s); %s %.3f, strong "
           "%.3f; weak %s, strong %s\n", s->name, s->n, s->dropped, other,
           mt ? "judge score 1-10 (both turns), weak" : "share correct, weak",
           s->q_weak, s->q_strong, WEAK_MODEL, STRONG_MODEL);
    printf("  %-24s %6s %7s %7s %7s %7s %8s %7s\n", "router", "APGR",
           "APGR(n)", "CPT20%", "CPT50%", "CPT80%", "cost@50", "saving");
}

static void print_row(const char *name, const struct metrics *m,
                      double random_cpt50, const char *note)
{
    printf("  %-24s %6.3f %7.3f %6.1f%% %6.1f%% %6.1f%% %7.1f%% %6.2fx%s\n",
           name, m->apgr, m->apgr_all, 100 * m->cpt[0], 100 * m->cpt[1],
           100 * m->cpt[2], 100 * cost_share(m->cpt[1]),
           random_cpt50 / m->cpt[1], note);
}

/* The router's own split: tier complex = strong, the rest = weak. */
static void print_tiers(const struct set *s)
{
    size_t count[TIER_OTHER + 1] = {0}, prem;
    double q = 0, share;
    for (size_t i = 0; i < s->n; i++) {
        const struct item *it = &s->v[i];
        count[it->tier]++;
        q += it->tier == TIER_PREMIUM ? it->strong : it->weak;
    }
    if (count[TIER_NONE] == s->n)
        return;
    prem = count[TIER_PREMIUM];
    share = (double)prem / (double)s->n;
    q /= (double)s->n;
    printf("  own tiers: simple %zu, medium %zu, complex %zu",
           count[TIER_SIMPLE], count[TIER_MEDIUM], prem);
    if (count[TIER_NONE] + count[TIER_OTHER])
        printf(", none or other %zu", count[TIER_NONE] + count[TIER_OTHER]);
    printf(" -> strong share %.1f%%, quality %.3f, PGR %.3f (random at "
           "that share: %.3f), cost %.1f%%\n", 100 * share, q, pgr(s, q),
           share, 100 * cost_share(share));
}

/* One scored row; with ties, the note adds the tie-averaged APGR. */
static void score_row(const struct set *s, const char *name,
                      const double *score, double random_cpt50)
{
    struct metrics m = measure(s, score, 0);
    size_t t = tied(score, s->n);
    char note[96] = "";
    if (t)
        snprintf(note, sizeof note, "  %zu tied; tie-avg APGR %.3f", t,
                 measure(s, score, 1).apgr);
    print_row(name, &m, random_cpt50, note);
}

static void report_set(const struct set *s, int have_router, int draws,
                       uint64_t seed)
{
    double *score = xrealloc(NULL, s->n * sizeof *score), sd;
    struct metrics rnd = measure_random(s, draws, seed, &sd);
    char note[96], name[64];
    print_head(s);
    snprintf(name, sizeof name, "random (%d draws)", draws);
    snprintf(note, sizeof note, "  APGR sd %.3f", sd);
    print_row(name, &rnd, rnd.cpt[1], note);
    for (size_t i = 0; i < s->n; i++)
        score[i] = (double)utf8_len(s->v[i].prompt);
    score_row(s, "length (characters)", score, rnd.cpt[1]);
    if (have_router) {
        for (size_t i = 0; i < s->n; i++)
            score[i] = s->v[i].score;
        score_row(s, "complexity (score)", score, rnd.cpt[1]);
        print_tiers(s);
    }
    free(score);
}

static void print_legend(void)
{
    printf("APGR: RouteLLM's 11-point (deciles of the score) area under "
           "PGR; APGR(n): every threshold.\n"
           "tie-avg: ties at their mean over every order, not the hash "
           "order.\n"
           "CPT: strong share needed for that PGR.  cost@50: cost at "
           "CPT(50%%) against always-strong, at\n"
           "$%.1f vs $%.2f per Mtok (RouteLLM paper 5.4), same tokens per "
           "call.  saving: random's CPT(50%%)\n"
           "over the row's (paper Table 6).  Ties broken by FNV-1a of the "
           "id.  Tiers: two labelled models\n"
           "only, so complex = strong and simple+medium = weak.\n",
           PRICE_STRONG, PRICE_WEAK);
}

/* --- Commands ---------------------------------------------------------- */

struct args {
    const char *cmd, *data, *mt, *gsm, *out_mt, *out_gsm, *kind;
    int draws;
    enum half half;
    uint64_t seed;
};

static int write_lines(const struct set *s, const char *path, int kind)
{
    FILE *f = fopen(path, "w");
    int err = !f;
    for (size_t i = 0; f && i < s->n; i++) {
        const struct item *it = &s->v[i];
        double d = kind * (it->strong - it->weak);
        cJSON *o = cJSON_CreateObject();
        char *line;
        cJSON_AddStringToObject(o, "id", it->id);
        if (kind == 0)
            cJSON_AddStringToObject(o, "prompt", it->prompt);
        else {
            cJSON_AddStringToObject(o, "tier", d > 0 ? "complex"
                                               : d < 0 ? "simple"
                                                       : "medium");
            cJSON_AddNumberToObject(o, "score", d);
        }
        line = cJSON_PrintUnformatted(o);
        err |= !line || fprintf(f, "%s\n", line) < 0;
        cJSON_free(line);
        cJSON_Delete(o);
    }
    if (f && fclose(f) != 0)
        err = 1;
    if (err)
        fprintf(stderr, "route_eval: cannot write %s\n", path);
    return err ? -1 : 0;
}

/* export (kind 0) or fake (kind 1 oracle, -1 anti-oracle). */
static int cmd_write(const struct args *a, int kind)
{
    struct set mt = {0}, gsm = {0};
    int rc = 1;
    if (!a->out_mt || !a->out_gsm) {
        fprintf(stderr, "route_eval: %s needs --out-mt and --out-gsm\n",
                a->cmd);
        return 2;
    }
    if (load_both(a->data, &mt, &gsm) != 0)
        goto out;
    set_keep_half(&gsm, a->half);
    if (write_lines(&mt, a->out_mt, kind) == 0 &&
        write_lines(&gsm, a->out_gsm, kind) == 0) {
        printf("route_eval: %s %zu MT-Bench prompts to %s, %zu %s to "
               "%s\n", kind ? "scored" : "wrote", mt.n, a->out_mt, gsm.n,
               gsm.name, a->out_gsm);
        rc = 0;
    }
out:
    set_free(&mt);
    set_free(&gsm);
    return rc;
}

static int cmd_score(const struct args *a)
{
    struct set mt = {0}, gsm = {0};
    int rc = 1;
    if (a->half != HALF_ALL && a->mt) {
        fprintf(stderr, "route_eval: --gsm-half scores GSM8K alone: "
                "drop --mt\n");
        return 2;
    }
    if (load_both(a->data, &mt, &gsm) == 0 &&
        (!a->mt || load_scores(&mt, a->mt, HALF_ALL) == 0) &&
        (!a->gsm || load_scores(&gsm, a->gsm, a->half) == 0)) {
        set_keep_half(&gsm, a->half);
        if (a->half == HALF_ALL) {
            report_set(&mt, a->mt != NULL, a->draws, a->seed);
            putchar('\n');
        }
        report_set(&gsm, a->gsm != NULL, a->draws, a->seed);
        putchar('\n');
        print_legend();
        rc = 0;
    }
    set_free(&mt);
    set_free(&gsm);
    return rc;
}

/* --- selftest ---------------------------------------------------------- */

static int failures;

static void expect(int ok, const char *what, double got)
{
    printf("  %-52s %10.4f  %s\n", what, got, ok ? "ok" : "FAIL");
    failures += !ok;
}

/* strong_count() against RouteLLM's rule, literally: linear quantiles
   of n distinct scores, >= each cutoff (> the last). */
static void test_threshold_rule(void)
{
    int bad = 0;
    for (size_t n = 1; n <= 300; n++) {
        for (int k = 0; k <= POINTS; k++) {
            double pos = (double)(n - 1) * k / POINTS, lo = floor(pos);
            double cut = lo + (pos - lo) * (lo + 1 < (double)n ? 1 : 0);
            size_t c = 0;
            for (size_t i = 0; i < n; i++)   /* scores 0..n-1 */
                c += k < POINTS ? (double)i >= cut : (double)i > cut;
            bad += c != strong_count(n, k);
        }
    }
    expect(bad == 0, "cutoff counts = qcut rule, n 1..300", bad);
}

/* 11 prompts, weak 0 everywhere, strong 1 on the 5 highest scores: the
   points are 0, 2..11 strong calls; by hand APGR = 8.5/11,
   CPT(50%) = 2.5/11, CPT(80%) = 4/11. */
static void test_by_hand(void)
{
    struct set s = {0};
    double score[11];
    struct metrics m;
    char id[8];
    for (int i = 0; i < 11; i++) {
        snprintf(id, sizeof id, "h%d", i);
        set_add(&s, id, "")->strong = i < 5;
        score[i] = 11 - i;
    }
    set_means(&s);
    m = measure(&s, score, 0);
    expect(fabs(m.apgr - 8.5 / 11) < 1e-9, "by hand: APGR = 8.5/11", m.apgr);
    expect(fabs(m.cpt[1] - 2.5 / 11) < 1e-9, "by hand: CPT(50%) = 2.5/11",
           m.cpt[1]);
    expect(fabs(m.cpt[2] - 4.0 / 11) < 1e-9, "by hand: CPT(80%) = 4/11",
           m.cpt[2]);
    set_free(&s);
}

/* 2000 synthetic GSM-like prompts: difficulty d, weak right with
   p = 0.9 - 0.6d, strong with 0.97 - 0.3d. */
static void test_synthetic(void)
{
    struct set s = {0};
    double *score = xrealloc(NULL, 2000 * sizeof *score), sd;
    uint64_t st = 42;
    struct metrics m;
    char id[16];
    for (int i = 0; i < 2000; i++) {
        double d = rng_unit(&st);
        struct item *it;
        snprintf(id, sizeof id, "s%d", i);
        it = set_add(&s, id, "");
        it->weak = rng_unit(&st) < 0.9 - 0.6 * d;
        it->strong = rng_unit(&st) < 0.97 - 0.3 * d;
        score[i] = d;
    }
    set_means(&s);
    m = measure(&s, score, 0);
    expect(m.apgr > 0.55 && m.apgr < 0.9, "difficulty signal: 0.55..0.9",
           m.apgr);
    for (int i = 0; i < 2000; i++)
        score[i] = s.v[i].strong - s.v[i].weak;
    m = measure(&s, score, 0);
    expect(m.apgr > 0.95, "oracle (label difference): > 0.95", m.apgr);
    expect(m.cpt[1] < 0.2, "oracle CPT(50%) < 20%", m.cpt[1]);
    for (int i = 0; i < 2000; i++)
        score[i] = -score[i];
    m = measure(&s, score, 0);
    expect(m.apgr < 0.05, "anti-oracle: < 0.05", m.apgr);
    m = measure_random(&s, 200, 7, &sd);
    expect(fabs(m.apgr - 0.5) < 0.02, "random, 200 draws: 0.5 +- 0.02",
           m.apgr);
    expect(fabs(m.cpt[1] - 0.5) < 0.05, "random CPT(50%): 50% +- 5",
           m.cpt[1]);
    for (int i = 0; i < 2000; i++)
        score[i] = 1;
    m = measure(&s, score, 0);
    expect(fabs(m.apgr - 0.5) < 0.1, "constant score (hash order): ~0.5",
           m.apgr);
    m = measure(&s, score, 1);
    expect(fabs(m.apgr - 0.5) < 1e-9, "constant score, tie-averaged: 0.5",
           m.apgr);
    for (int i = 0; i < 2000; i++)
        score[i] = s.v[i].strong - s.v[i].weak;
    m = measure(&s, score, 1);
    expect(m.apgr > 0.95, "oracle, tie-averaged: > 0.95", m.apgr);
    free(score);
    set_free(&s);
}

static void test_csv(void)
{
    const char *text = "a,\"b \"\"q\"\", c\nd\"\r\nx,,\"y\"\n", *p = text;
    char *f[4];
    int n = csv_row(&p, f, 4), ok = n == 2 && strcmp(f[0], "a") == 0 &&
                                    strcmp(f[1], "b \"q\", c\nd") == 0;
    while (n > 0)
        free(f[--n]);
    n = csv_row(&p, f, 4);
    ok &= n == 3 && strcmp(f[0], "x") == 0 && f[1][0] == '\0' &&
          strcmp(f[2], "y") == 0 && *p == '\0';
    while (n > 0)
        free(f[--n]);
    p = "\"open";
    ok &= csv_row(&p, f, 4) == -1;
    p = "\"a\"b,c\n";
    ok &= csv_row(&p, f, 4) == -1;
    expect(ok, "CSV: quotes, \"\", newline, CRLF, bad fields", ok);
}

/* The split: FNV-1a's published vectors, the half is bit 63 of it,
   the halves are near even on 4000
   synthetic word problems, and set_keep_half keeps exactly one half. */
static void test_split(void)
{
    struct set s = {0};
    char prompt[96];
    size_t dev = 0, ok = 0, want = 0;
    int vec = fnv1a("") == 0xcbf29ce484222325ull &&
              fnv1a("a") == 0xaf63dc4c8601ec8cull &&
              fnv1a("foobar") == 0x85944171f73967e8ull;
    expect(vec, "split: FNV-1a test vectors", vec);
    vec = gsm_half_of("") == HALF_TEST && gsm_half_of("a") == HALF_TEST &&
          fnv1a("ab") == 0x089c4407b545986aull &&
          gsm_half_of("ab") == HALF_DEV;
    expect(vec, "split: bit 63 of it (\"\", \"a\" test; \"ab\" dev)", vec);
    for (int i = 0; i < 4000; i++) {
        snprintf(prompt, sizeof prompt, "Tom has %d apples and buys %d "
                 "more. How many apples does he have?", i % 97, i);
        dev += gsm_half_of(prompt) == HALF_DEV;
        set_add(&s, "same-id", prompt)->strong = i % 2;
    }
    expect(dev > 1900 && dev < 2100, "split: dev share of 4000, 47.5..52.5%",
           100.0 * (double)dev / 4000);
    for (size_t i = 0; i < s.n; i++)
        want += gsm_half_of(s.v[i].prompt) == HALF_TEST;
    set_keep_half(&s, HALF_TEST);
    for (size_t i = 0; i < s.n; i++)
        ok += gsm_half_of(s.v[i].prompt) == HALF_TEST;
    vec = s.n == want && ok == want && s.other_half == 4000 - want &&
          strcmp(s.name, "GSM8K test half") == 0;
    expect(vec, "split: --gsm-half test keeps the test half only", vec);
    set_free(&s);
}

static int cmd_selftest(void)
{
    puts("route_eval selftest:");
    test_threshold_rule();
    test_by_hand();
    test_synthetic();
    test_csv();
    test_split();
    printf("route_eval selftest: %s\n", failures ? "FAILED" : "passed");
    return failures ? 1 : 0;
}

/* --- main -------------------------------------------------------------- */

static const char usage_text[] =
    "usage: route_eval export --data DIR --out-mt MT.jsonl --out-gsm "
    "GSM.jsonl\n"
    "       route_eval score --data DIR [--mt MT_SCORES.jsonl] "
    "[--gsm GSM_SCORES.jsonl]\n"
    "                        [--draws N] [--seed S] [--gsm-half dev|test]\n"
    "       route_eval fake --data DIR --kind oracle|anti --out-mt F "
    "--out-gsm F\n"
    "       (export and fake also take --gsm-half dev|test)\n"
    "       route_eval selftest\n";

static int parse_args(int argc, char **argv, struct args *a)
{
    a->cmd = argv[1];
    a->draws = DEFAULT_DRAWS;
    for (int i = 2; i < argc; i += 2) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (!v)
            return -1;
        if (strcmp(o, "--data") == 0)
            a->data = v;
        else if (strcmp(o, "--mt") == 0)
            a->mt = v;
        else if (strcmp(o, "--gsm") == 0)
            a->gsm = v;
        else if (strcmp(o, "--out-mt") == 0)
            a->out_mt = v;
        else if (strcmp(o, "--out-gsm") == 0)
            a->out_gsm = v;
        else if (strcmp(o, "--kind") == 0)
            a->kind = v;
        else if (strcmp(o, "--gsm-half") == 0) {
            if (strcmp(v, "dev") != 0 && strcmp(v, "test") != 0)
                return -1;
            a->half = strcmp(v, "dev") == 0 ? HALF_DEV : HALF_TEST;
        }
        else if (strcmp(o, "--draws") == 0) {
            long d = strtol(v, &end, 10);
            if (*end || d < 1 || d > 1000000)
                return -1;
            a->draws = (int)d;
        }
        else if (strcmp(o, "--seed") == 0) {
            a->seed = strtoull(v, &end, 10);
            if (*end)
                return -1;
        }
        else
            return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct args a = {0};
    if (argc < 2 || parse_args(argc, argv, &a) != 0)
        goto usage;
    if (strcmp(a.cmd, "selftest") == 0)
        return cmd_selftest();
    if (!a.data)
        goto usage;
    if (strcmp(a.cmd, "export") == 0)
        return cmd_write(&a, 0);
    if (strcmp(a.cmd, "score") == 0)
        return cmd_score(&a);
    if (strcmp(a.cmd, "fake") == 0 && a.kind &&
        (strcmp(a.kind, "oracle") == 0 || strcmp(a.kind, "anti") == 0))
        return cmd_write(&a, strcmp(a.kind, "oracle") == 0 ? 1 : -1);
usage:
    fputs(usage_text, stderr);
    return 2;
}
