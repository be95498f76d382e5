/*
 * fuzz_ini.c - libFuzzer target: the INI loader (core/config.c, inih
 * underneath) and section validation (core/config_validate.c).
 *
 * The input is the file's text, read through fmemopen() by the same
 * lr_config_read() lr_config_load() uses.  Every section it yields is
 * then validated against a key table with one key of each type, named
 * like real keys so seeds from conf/ reach the typed parsers, and read
 * back through the getters plugins use.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct lr_cfg_key keys[] = {
    {"provider", LR_CFG_STRING, NULL, ""},
    {"model", LR_CFG_STRING, "m", ""},
    {"timeout_ms", LR_CFG_INT, "1000", ""},
    {"max_tokens", LR_CFG_INT, NULL, ""},
    {"input_per_mtok", LR_CFG_DOUBLE, "0.5", ""},
    {"stream", LR_CFG_BOOL, "false", ""},
    {"pipeline", LR_CFG_LIST, "a, b", ""},
    {"targets", LR_CFG_LIST, NULL, ""},
};

static void read_back(const struct lr_section *s)
{
    const char *str;
    int64_t i;
    double d;
    int b;
    const char *const *items;
    size_t n;
    lr_cfg_str(s, "provider", &str);
    lr_cfg_int(s, "timeout_ms", &i);
    lr_cfg_double(s, "input_per_mtok", &d);
    lr_cfg_int(s, "input_per_mtok", &i);
    lr_cfg_bool(s, "stream", &b);
    if (lr_cfg_list(s, "pipeline", &items, &n) == LR_OK && n && !items[0])
        abort();
    lr_cfg_section_name(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* fmemopen() of 0 bytes fails on glibc: an empty file is a 1-byte
       buffer read as 0 bytes. */
    FILE *fp = fmemopen(size ? (void *)data : (void *)"", size ? size : 1,
                        "r");
    if (!fp)
        return 0;
    if (!size)
        fgetc(fp);
    char err[512];
    struct lr_config *c = lr_config_read(fp, "fuzz.ini", err, sizeof err);
    fclose(fp);
    if (!c)
        return 0;
    const struct lr_cfg_key *const tables[] = {keys};
    const size_t sizes[] = {sizeof keys / sizeof keys[0]};
    for (size_t i = 0; i < c->n_sections; i++) {
        char where[256];
        lr_section_where(c->sections[i], "model", where, sizeof where);
        if (lr_section_validate(c->sections[i], tables, sizes, 1, err,
                                sizeof err) == LR_OK)
            read_back(c->sections[i]);
    }
    lr_config_free(c);
    return 0;
}
