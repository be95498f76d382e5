/*
 * complexity_features.h - what the complexity router measures in a
 * prompt, and how the measures become one score.
 *
 * Header-only (static inline) because every plugin source is its own shared
 * object: the policy includes it, nothing else links it.  It uses only
 * libc and allocates nothing; a prompt is scanned once, line by line,
 * with keyword tables matched at word starts (ASCII case ignored), so a
 * request pays microseconds, not a model call.
 *
 * Raw features (struct cx_features) are plain counts a person can check
 * against the prompt; cx_signals() turns them into twelve signals, each
 * saturating or log-scaled so that no single feature runs away, and the
 * score is bias + the weighted sum of the signals, minus the weighted
 * "easy" signal.  Every signal is non-decreasing in its counts, so with
 * non-negative weights more evidence of difficulty never lowers the
 * score, and the score is continuous enough for quantile calibration.
 * docs/policy-complexity.md explains each feature and default weight.
 */
#ifndef LR_PLUGINS_COMPLEXITY_FEATURES_H
#define LR_PLUGINS_COMPLEXITY_FEATURES_H

#include <ctype.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Bytes of the prompt scanned for features (its length counts whole):
   bounds the cost of a huge paste. */
#define CX_SCAN_MAX 65536

/* Raw counts over the prompt (the last user message). */
struct cx_features {
    int64_t chars;      /* bytes of the prompt */
    int code_blocks;    /* ``` or ~~~ fenced blocks */
    int code_lines;     /* lines inside fences or that look like code */
    int code_words;     /* programming vocabulary ("function", "regex") */
    int trace_lines;    /* stack-trace / compiler-error lines */
    int error_words;    /* "error", "exception", "crash", "debug", ... */
    int math_words;     /* "solve", "probability", "how many", "%", ... */
    int math_symbols;   /* =, ^, LaTeX commands, digit-op-digit, √ ... */
    int numbers;        /* quantities: digit runs and number words */
    int operations;     /* words implying arithmetic: "each", "per",
                           "remaining", "more", "%", "spent", ... */
    int units;          /* distinct units named: "hour", "mile", "$" */
    int relations;      /* quantities defined through others: "than",
                           "twice", "half", "3/4", "the rest", "ago" */
    int steps;          /* multi-step wording and list items */
    int design_words;   /* "architecture", "scalable", "trade-off", ... */
    int questions;      /* question marks */
    int turns;          /* messages before the prompt in the chat */
    int easy_words;     /* chit-chat, lookups, rewriting, extraction */
    uint64_t unit_seen; /* scan state: bit u = unit u was named */
};

enum cx_signal {
    CX_LENGTH, CX_CODE, CX_ERROR, CX_MATH, CX_NUMBERS, CX_OPERATIONS,
    CX_RELATIONS, CX_MULTISTEP, CX_DESIGN, CX_QUESTIONS, CX_TURNS, CX_EASY,
    CX_N
};

static const char *const cx_signal_names[CX_N] = {
    "length", "code", "error", "math", "numbers", "operations",
    "relations", "multistep", "design", "questions", "turns", "easy"};

/* Keyword tables.  A trailing '*' matches any word continuing the stem;
   otherwise the entry must end at a word boundary.  Lower case. */
static const char *const cx_code_kw[] = {
    "python", "javascript", "typescript", "java", "c++", "c#", "golang",
    "rust", "kotlin", "swift", "haskell", "sql", "regex*", "regular expr*",
    "function*", "method", "class", "classes", "compil*", "implement*",
    "algorithm*", "code", "coding", "script*", "json", "yaml", "html",
    "css", "bash", "shell", "docker*", "git", "recursi*", "array*",
    "linked list", "hash map", "hashmap", "binary search", "big-o",
    "time complexity", "unit test*", "librar*", "framework*", "variable*",
    "pointer*", "struct*", "async", "thread*", "api", "endpoint*",
    "query", "queries", "program*", "snippet*", "repo*", "npm", "pip",
    "react", "django", "node.js", "lambda", "closure*", "interface*"};
static const char *const cx_error_kw[] = {
    "error*", "exception*", "traceback", "stack trace*", "stacktrace*",
    "segfault*", "segmentation fault", "crash*", "bug", "bugs", "buggy",
    "debug*", "fails", "failing", "failed", "broken", "doesn't work",
    "does not work", "not working", "won't compile", "unexpected*",
    "wrong output", "undefined", "null pointer", "nullpointer*",
    "memory leak*", "deadlock*", "race condition*", "panic*",
    "core dump*", "fix this", "fix my", "why is my",
    "troubleshoot*", "warning*"};
static const char *const cx_math_kw[] = {
    "solve", "solving", "equation*", "integral*", "derivative*",
    "differentiat*", "probabilit*", "expected value", "prove", "proof",
    "theorem*", "lemma*", "matri*", "eigen*", "calculat*", "compute",
    "how many", "how much", "how long", "how far", "percent*",
    "ratio", "remainder", "divisib*", "prime", "primes", "factori*",
    "sum of", "product of", "average", "mean of", "median", "area",
    "volume", "perimeter", "radius", "triangle*", "angle*", "polynomial*",
    "logarithm*", "sqrt", "modulo", "fraction*", "interest", "per hour",
    "per day", "per week", "per month", "per year", "each", "total*",
    "altogether", "left over", "twice as", "times as", "more than",
    "less than", "fewer", "speed", "distance", "rate of", "profit",
    "discount*", "combinat*", "permutation*", "integer*", "inequalit*",
    "geometr*", "algebra*", "vector*", "statistic*", "variance"};
static const char *const cx_number_kw[] = {
    "two", "three", "four", "five", "six", "seven", "eight", "nine",
    "ten", "eleven", "twelve", "fifteen", "twenty", "thirty", "forty",
    "fifty", "sixty", "hundred*", "thousand*", "million*", "half",
    "twice", "double", "triple", "dozen*", "quarter*", "third"};
/* Wording that turns quantities into another step of arithmetic: rates,
   multiples and fractions, comparisons, what remains, totals and
   shares, and money changing hands. */
static const char *const cx_operation_kw[] = {
    "each", "per", "every", "apiece", "times", "twice", "double*",
    "triple*", "half", "halves", "quarter*", "third*", "fifth*",
    "percent*", "fraction*", "remain*", "rest", "left", "leftover*",
    "more", "less", "fewer", "older", "younger", "as many", "as much",
    "total*", "altogether", "combined", "in all", "sum", "difference",
    "average*", "split*", "divid*", "share*", "equally", "evenly",
    "increas*", "decreas*", "add", "adds", "added", "additional",
    "minus", "plus", "rate", "rates", "ratio", "discount*", "profit*",
    "loss*", "tax", "taxes", "tip", "tips", "interest", "commission*",
    "buy*", "bought", "sell*", "sold", "spend*", "spent", "pay*", "paid",
    "cost*", "earn*", "save*", "saving*", "charg*", "price*", "give*",
    "gave", "lose*", "lost"};
/* Relations: a quantity given through another one rather than as a
   number (a comparison, a multiple or a fraction of something, what is
   left of a whole, a shift in time, the start to be found backwards,
   an average).  Each one is a step whose direction must be got right,
   where a quantity stated outright is only read.  Digit fractions
   ("3/4") count too (cx_scan_prose). */
static const char *const cx_relation_kw[] = {
    "than", "twice", "thrice", "times as", "times more", "times the",
    "times that", "times what", "as many", "as much", "as old", "as long",
    "as far", "as fast", "half", "halves", "third", "thirds", "quarter",
    "quarters", "fourth", "fourths", "fifth", "fifths", "ratio",
    "proportion*", "the rest", "remaining", "remainder", "left over",
    "leftover", "ago", "from now", "years old", "at first", "originally",
    "initially", "average*"};
/* Units of measure: several distinct ones mean a rate or a conversion
   ("$12 per hour", "minutes into hours").  cx_unit_id[k] is the unit of
   cx_unit_kw[k] (spellings of one unit share it), below 64; "$" before a
   digit counts as unit 0, the dollar. */
static const char *const cx_unit_kw[] = {
    "dollar*", "cent", "cents", "euro", "euros", "seconds", "minute*",
    "hour*", "day", "days", "week*", "month*", "year*", "mile", "miles",
    "km", "kilomet*", "meter*", "metre*", "feet", "foot", "inch*",
    "yard*", "pound*", "ounce*", "kg", "kilogram*", "gram", "grams",
    "liter", "liters", "litre", "litres", "gallon*", "cup", "cups",
    "mph"};
static const unsigned char cx_unit_id[] = {
    0, 1, 1, 2, 2, 3, 4,
    5, 6, 6, 7, 8, 9, 10, 10,
    11, 11, 12, 12, 13, 13, 14,
    15, 16, 17, 18, 18, 19, 19,
    20, 20, 20, 20, 21, 22, 22,
    23};
_Static_assert(sizeof cx_unit_id == sizeof cx_unit_kw / sizeof cx_unit_kw[0],
               "one unit id per unit keyword");
static const char *const cx_step_kw[] = {
    "step by step", "step-by-step", "steps", "explain why", "explain how",
    "derive", "compare", "contrast", "analy*", "evaluat*", "justify",
    "reason*", "implication*", "plan", "planning", "strategy",
    "strategies", "optimi*", "edge case*", "walk me through", "in detail",
    "first,", "then", "finally", "afterwards", "after that", "assume",
    "assuming", "given that", "constraint*", "must", "without using",
    "at least", "at most", "exactly", "ensure", "considering",
    "what if", "otherwise", "if and only if", "prove that"};
static const char *const cx_design_kw[] = {
    "design*", "architect*", "scalab*", "scale to", "system design",
    "microservice*", "distributed", "schema*", "concurren*",
    "thread-safe", "latency", "throughput", "high availability",
    "fault toleran*", "fault-toleran*", "load balanc*", "caching",
    "consistency", "shard*", "replicat*", "data model*", "refactor*",
    "best practice*", "trade-off*", "tradeoff*", "pros and cons",
    "kubernetes", "infrastructure", "pipeline*", "migration*",
    "security model", "threat model*", "protocol*", "state machine*"};
static const char *const cx_easy_kw[] = {
    "hi", "hello", "hey", "thanks", "thank you", "how are you",
    "good morning", "good night", "translate*", "translation",
    "rewrite", "rephrase", "paraphrase", "reword*", "summari*", "summary",
    "tl;dr", "tldr", "proofread*", "grammar", "spelling", "spell check",
    "synonym*", "antonym*", "define", "definition", "meaning of",
    "capital of", "who is", "who was", "who wrote", "when was",
    "when did", "where is", "joke*", "poem*", "haiku", "slogan*",
    "tagline*", "tweet", "caption*", "headline*", "email", "letter",
    "extract", "list the", "classify", "sentiment", "recommend*",
    "suggest", "name some", "fun fact*", "in one sentence", "make it",
    "shorter", "more formal", "more polite", "fix the grammar"};

#define CX_NKW(t) (sizeof t / sizeof t[0])

static inline int cx_alnum(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

/* Length of the keyword kw matched at p (before end), or 0. */
static inline size_t cx_match(const char *p, const char *end,
                              const char *kw)
{
    size_t i = 0;
    for (; kw[i] && kw[i] != '*'; i++)
        if (p + i >= end || tolower((unsigned char)p[i]) != kw[i])
            return 0;
    if (kw[i] != '*' && p + i < end && cx_alnum(p[i]))
        return 0;
    return i;
}

static inline int cx_starts(const char *p, const char *end, const char *s)
{
    size_t n = strlen(s);
    return (size_t)(end - p) >= n && memcmp(p, s, n) == 0;
}

static inline int cx_contains(const char *p, const char *end, const char *s)
{
    size_t n = strlen(s);
    for (; (size_t)(end - p) >= n; p++)
        if (memcmp(p, s, n) == 0)
            return 1;
    return 0;
}

/* A stack-trace or compiler-diagnostic line (already trimmed). */
static inline int cx_trace_line(const char *p, const char *end)
{
    static const char *const starts[] = {
        "Traceback (most recent", "File \"", "panic:", "Caused by:",
        "Segmentation fault", "thread '", "error[E", "fatal error:",
        "Exception in thread", "goroutine ", "Uncaught "};
    for (size_t i = 0; i < CX_NKW(starts); i++)
        if (cx_starts(p, end, starts[i]))
            return 1;
    if (cx_starts(p, end, "at ") && cx_contains(p, end, ")") &&
        cx_contains(p, end, ":"))
        return 1; /* Java / JavaScript frame: at f (file.js:3:9) */
    if (*p == '#' && end - p > 1 && isdigit((unsigned char)p[1]) &&
        cx_contains(p, end, " in "))
        return 1; /* gdb backtrace */
    if (cx_contains(p, end, ": error:") || cx_contains(p, end, ": warning:"))
        return 1; /* gcc/clang: file.c:12:5: error: */
    const char *sp = memchr(p, ' ', (size_t)(end - p));
    const char *w = sp ? sp : end;
    return w > p && w[-1] == ':' &&
           (cx_contains(p, w, "Error") || cx_contains(p, w, "Exception"));
}

/* A line of code outside a fence (already trimmed). */
static inline int cx_code_line(const char *p, const char *end)
{
    static const char *const starts[] = {
        "#include", "#define", "def ", "class ", "import ", "return ",
        "function ", "fn ", "func ", "public ", "private ", "package ",
        "SELECT ", "#!/", "<?php", "for (", "if (", "while (", "print(",
        "console.log", "printf(", "std::", "self."};
    char last = end[-1];
    if (last == ';' || last == '{')
        return 1;
    if (last == '}') {
        /* LaTeX (\frac{1}{2}) ends with a brace too: that is math. */
        for (const char *q = p; q + 1 < end; q++)
            if (*q == '\\' && isalpha((unsigned char)q[1]))
                return 0;
        return 1;
    }
    for (size_t i = 0; i < CX_NKW(starts); i++)
        if (cx_starts(p, end, starts[i]))
            return 1;
    return (cx_starts(p, end, "let ") || cx_starts(p, end, "const ") ||
            cx_starts(p, end, "var ")) && cx_contains(p, end, "=");
}

/* List item marker ("- ", "* ", "1. ", "2) ") at p; its length or 0. */
static inline size_t cx_list_item(const char *p, const char *end)
{
    if (end - p >= 2 && (*p == '-' || *p == '*' || *p == '+') && p[1] == ' ')
        return 2;
    const char *q = p;
    while (q < end && q - p < 3 && isdigit((unsigned char)*q))
        q++;
    if (q > p && end - q >= 2 && (*q == '.' || *q == ')') && q[1] == ' ')
        return (size_t)(q - p) + 2;
    return 0;
}

static inline int cx_math_char(const char *p, const char *end, size_t *len)
{
    static const char *const utf8[] = {
        "\xe2\x88\x9a", "\xe2\x88\x91", "\xe2\x88\xab", "\xcf\x80",
        "\xe2\x89\xa4", "\xe2\x89\xa5", "\xc2\xb1", "\xe2\x89\xa0",
        "\xc3\x97", "\xc3\xb7", "\xe2\x88\x9e", "\xe2\x89\x88"};
    *len = 1;
    if (*p == '=' || *p == '^')
        return 1;
    if (*p == '\\' && end - p > 1 && isalpha((unsigned char)p[1]))
        return 1; /* LaTeX: \frac, \sum */
    if ((unsigned char)*p < 0x80)
        return 0;
    for (size_t i = 0; i < CX_NKW(utf8); i++) {
        if (cx_starts(p, end, utf8[i])) {
            *len = strlen(utf8[i]);
            return 1;
        }
    }
    return 0;
}

/* "3+4", "12 / 4", "2*x": an operator between a digit and a digit or
   letter, spaces allowed. */
static inline int cx_arith(const char *start, const char *p, const char *end)
{
    if (!strchr("+-*/", *p) || *p == '\0')
        return 0;
    const char *a = p, *b = p + 1;
    while (a > start && a[-1] == ' ')
        a--;
    while (b < end && *b == ' ')
        b++;
    return a > start && isdigit((unsigned char)a[-1]) && b < end &&
           isalnum((unsigned char)*b);
}

/* "3/4": a slash right between two digits, a fraction of something. */
static inline int cx_fraction(const char *start, const char *p,
                              const char *end)
{
    return p > start && isdigit((unsigned char)p[-1]) && p + 1 < end &&
           isdigit((unsigned char)p[1]);
}

static inline void cx_bump(int *n)
{
    if (*n < 100000)
        (*n)++;
}

/* A digit run (with . and , inside) at p: its end. */
static inline const char *cx_number_end(const char *p, const char *end)
{
    while (p < end && (isdigit((unsigned char)*p) ||
                       ((*p == '.' || *p == ',') && p + 1 < end &&
                        isdigit((unsigned char)p[1]))))
        p++;
    return p;
}

/* The keyword tables, in the order of struct cx_index; the last one
   (units) marks which units were seen instead of counting. */
#define CX_TABLES 10
#define CX_UNITS (CX_TABLES - 1)
#define CX_MAX_KW 128

static const struct {
    const char *const *kw;
    size_t n;
} cx_tables[CX_TABLES] = {
    {cx_code_kw, CX_NKW(cx_code_kw)},
    {cx_error_kw, CX_NKW(cx_error_kw)},
    {cx_math_kw, CX_NKW(cx_math_kw)},
    {cx_number_kw, CX_NKW(cx_number_kw)},
    {cx_step_kw, CX_NKW(cx_step_kw)},
    {cx_design_kw, CX_NKW(cx_design_kw)},
    {cx_easy_kw, CX_NKW(cx_easy_kw)},
    {cx_operation_kw, CX_NKW(cx_operation_kw)},
    {cx_relation_kw, CX_NKW(cx_relation_kw)},
    {cx_unit_kw, CX_NKW(cx_unit_kw)},
};

/* Indexes into a table fit an unsigned char. */
_Static_assert(CX_NKW(cx_code_kw) < CX_MAX_KW &&
               CX_NKW(cx_error_kw) < CX_MAX_KW &&
               CX_NKW(cx_math_kw) < CX_MAX_KW &&
               CX_NKW(cx_number_kw) < CX_MAX_KW &&
               CX_NKW(cx_step_kw) < CX_MAX_KW &&
               CX_NKW(cx_design_kw) < CX_MAX_KW &&
               CX_NKW(cx_easy_kw) < CX_MAX_KW &&
               CX_NKW(cx_operation_kw) < CX_MAX_KW &&
               CX_NKW(cx_relation_kw) < CX_MAX_KW &&
               CX_NKW(cx_unit_kw) < CX_MAX_KW, "a keyword table is too long");

/* The entries of each table by first letter (a-z, then anything else):
   table t's entries starting with letter l are idx[t][off[t][l] ..
   off[t][l + 1]).  Built per scan, on the stack, in a few hundred steps;
   it saves trying every keyword at every word. */
struct cx_index {
    unsigned char off[CX_TABLES][28];
    unsigned char idx[CX_TABLES][CX_MAX_KW];
};

static inline int cx_bucket(char c)
{
    return c >= 'a' && c <= 'z' ? c - 'a' : 26;
}

static inline void cx_index_build(struct cx_index *ix)
{
    memset(ix, 0, sizeof *ix);
    for (int t = 0; t < CX_TABLES; t++) {
        size_t n = cx_tables[t].n < CX_MAX_KW ? cx_tables[t].n : CX_MAX_KW;
        unsigned char fill[27];
        for (size_t k = 0; k < n; k++)
            ix->off[t][cx_bucket(cx_tables[t].kw[k][0]) + 1]++;
        for (int l = 1; l < 28; l++)
            ix->off[t][l] += ix->off[t][l - 1];
        memcpy(fill, ix->off[t], sizeof fill);
        for (size_t k = 0; k < n; k++)
            ix->idx[t][fill[cx_bucket(cx_tables[t].kw[k][0])]++] =
                (unsigned char)k;
    }
}

/* Count the tables with a keyword starting at p (a word start). */
static inline void cx_scan_word(struct cx_features *f,
                                const struct cx_index *ix, const char *p,
                                const char *end)
{
    int *const count[CX_UNITS] = {
        &f->code_words, &f->error_words, &f->math_words, &f->numbers,
        &f->steps, &f->design_words, &f->easy_words, &f->operations,
        &f->relations};
    int l = cx_bucket((char)tolower((unsigned char)*p));
    for (int t = 0; t < CX_TABLES; t++) {
        for (int i = ix->off[t][l]; i < ix->off[t][l + 1]; i++) {
            int k = ix->idx[t][i];
            if (!cx_match(p, end, cx_tables[t].kw[k]))
                continue;
            if (t == CX_UNITS)
                f->unit_seen |= UINT64_C(1) << cx_unit_id[k];
            else
                cx_bump(count[t]);
            break;
        }
    }
}

/* Words, numbers, symbols and questions of one prose line. */
static inline void cx_scan_prose(struct cx_features *f,
                                 const struct cx_index *ix, const char *p,
                                 const char *end)
{
    const char *start = p;
    while (p < end) {
        size_t len = 1;
        int word_start = p == start || !cx_alnum(p[-1]);
        if (!word_start && cx_alnum(*p)) {
            p++; /* inside a word: the common case, nothing to count */
            continue;
        }
        if (*p == '?' && (p + 1 == end || p[1] != '?'))
            cx_bump(&f->questions);
        else if (*p == '%' && p > start && isdigit((unsigned char)p[-1])) {
            cx_bump(&f->math_words);
            cx_bump(&f->operations);
        }
        else if (*p == '$' && p + 1 < end && isdigit((unsigned char)p[1]))
            f->unit_seen |= 1; /* cx_unit_kw[0], "dollar*" */
        else if (cx_math_char(p, end, &len) || cx_arith(start, p, end)) {
            cx_bump(&f->math_symbols);
            if (*p == '/' && cx_fraction(start, p, end))
                cx_bump(&f->relations);
        }
        else if (word_start && isdigit((unsigned char)*p)) {
            cx_bump(&f->numbers);
            p = cx_number_end(p, end);
            continue;
        }
        else if (word_start && isalpha((unsigned char)*p))
            cx_scan_word(f, ix, p, end);
        p += len;
    }
}

/* One line [p, end) of the prompt; *fence tracks ``` blocks. */
static inline void cx_scan_line(struct cx_features *f,
                                const struct cx_index *ix, const char *p,
                                const char *end, int *fence)
{
    while (p < end && isspace((unsigned char)*p))
        p++;
    while (end > p && isspace((unsigned char)end[-1]))
        end--;
    if (cx_starts(p, end, "```") || cx_starts(p, end, "~~~")) {
        *fence = !*fence;
        if (*fence)
            cx_bump(&f->code_blocks);
        return;
    }
    if (p == end)
        return;
    if (cx_trace_line(p, end)) {
        cx_bump(&f->trace_lines);
        return;
    }
    if (*fence || cx_code_line(p, end)) {
        cx_bump(&f->code_lines);
        return;
    }
    size_t item = cx_list_item(p, end);
    if (item) {
        cx_bump(&f->steps);
        p += item;
    }
    cx_scan_prose(f, ix, p, end);
}

/* Features of text (NULL: empty) after turns earlier messages. */
static inline void cx_extract(const char *text, int turns,
                              struct cx_features *f)
{
    memset(f, 0, sizeof *f);
    f->turns = turns;
    if (!text)
        return;
    size_t n = strlen(text);
    f->chars = (int64_t)n;
    const char *p = text, *end = text + (n < CX_SCAN_MAX ? n : CX_SCAN_MAX);
    int fence = 0;
    struct cx_index ix;
    cx_index_build(&ix);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        cx_scan_line(f, &ix, p, le, &fence);
        p = nl ? nl + 1 : end;
    }
    for (uint64_t m = f->unit_seen; m; m &= m - 1)
        f->units++;
}

/* x / (x + half): 0 at 0, 0.5 at half, towards 1. */
static inline double cx_sat(double x, double half)
{
    return x <= 0 ? 0 : x / (x + half);
}

/* The twelve signals of a prompt, each >= 0 and non-decreasing in its
   counts (numbers and operations: in their counts at a given length). */
static inline void cx_signals(const struct cx_features *f, double t[CX_N])
{
    double chars = (double)f->chars;
    /* Quantities matter when dense (a word problem: one per sentence or
       so), not when scattered through a long text (dates in an
       article). */
    double density = chars > 0 ? 100.0 * f->numbers / chars : 0;
    if (density > 1)
        density = 1;
    /* Every conversion or rate between distinct units is a step. */
    int conversions = f->units > 1 ? f->units - 1 : 0;
    t[CX_LENGTH] = log2(1 + chars / 200);
    /* A stack trace is evidence of code too (a pasted trace without
       the code is still a programming question). */
    t[CX_CODE] = cx_sat(f->code_blocks + (f->code_lines + f->trace_lines) /
                        5.0 + f->code_words / 2.0, 1);
    t[CX_ERROR] = cx_sat(f->trace_lines / 2.0 + f->error_words, 1);
    t[CX_MATH] = cx_sat(f->math_words + f->math_symbols / 2.0, 2);
    /* Arithmetic steps: half-way only at 8 more quantities (8
       operations), so a word problem with 6 quantities still ranks
       above one with 4 (the first quantity alone is no step). */
    t[CX_NUMBERS] = cx_sat(f->numbers - 1, 8) * density;
    t[CX_OPERATIONS] = cx_sat(f->operations + conversions, 8) * density;
    /* Half-way at the first relation: one "twice as many as" already
       makes a problem to be set up, not read off. */
    t[CX_RELATIONS] = cx_sat(f->relations, 1) * density;
    t[CX_MULTISTEP] = cx_sat(f->steps, 2);
    t[CX_DESIGN] = cx_sat(f->design_words, 1.5);
    t[CX_QUESTIONS] = cx_sat(f->questions - 1, 2);
    t[CX_TURNS] = cx_sat(f->turns, 6);
    t[CX_EASY] = cx_sat(f->easy_words, 1);
}

/* bias + sum of w[k] * signal k, the easy signal subtracted; parts[k]
   receives each term (signed). */
static inline double cx_score(const struct cx_features *f,
                              const double w[CX_N], double bias,
                              double parts[CX_N])
{
    double t[CX_N], s = bias;
    cx_signals(f, t);
    for (int k = 0; k < CX_N; k++) {
        /* + 0.0 turns -0 into 0, which prints as "0" in JSON */
        parts[k] = (k == CX_EASY ? -1 : 1) * w[k] * t[k] + 0.0;
        s += parts[k];
    }
    return s;
}

#endif
