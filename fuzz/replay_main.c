/*
 * replay_main.c - a main() for a fuzz target without libFuzzer: runs
 * LLVMFuzzerTestOneInput once on each file named on the command line.
 * `make check` builds every target with it (gcc, then clang+ASan) and
 * replays tests/data/fuzz-regressions/NAME/ and the seed corpus, so a
 * crash the fuzzer once found stays fixed without clang's libFuzzer.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        return -1;
    }
    size_t cap = 4096, len = 0, n;
    unsigned char *buf = malloc(cap);
    while (buf && (n = fread(buf + len, 1, cap - len, fp)) > 0) {
        len += n;
        if (len == cap) {
            unsigned char *b = realloc(buf, cap *= 2);
            if (!b)
                free(buf);
            buf = b;
        }
    }
    fclose(fp);
    if (!buf) {
        fprintf(stderr, "replay: out of memory reading %s\n", path);
        return -1;
    }
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    int bad = 0;
    for (int i = 1; i < argc; i++)
        bad |= replay(argv[i]) != 0;
    printf("replayed %d input(s)\n", argc - 1);
    return bad ? 1 : 0;
}
