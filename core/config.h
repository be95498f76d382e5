/*
 * config.h - the INI file as sections of key/value lines, each remembered
 * with its line number so every later mistake can be reported as
 * FILE:LINE.  Parsing is inih's (ini_parse_stream with a counting reader of
 * ours); validation checks each section against key tables (struct
 * lr_cfg_key) and stores typed values, defaults included, for the cfg_*
 * getters plugins use.
 */
#ifndef LR_CORE_CONFIG_H
#define LR_CORE_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "llmroute_plugin.h"

enum lr_section_kind {
    LR_SEC_ROUTER = 1,
    LR_SEC_TARGET = 2,
    LR_SEC_POLICY = 3
};

struct lr_kv {
    char *key;
    char *value;
    int line;                 /* 0: a default filled in by validation */
    enum lr_cfg_type type;    /* set by validation */
    int64_t ival;
    double dval;
    char **items;             /* LR_CFG_LIST */
    size_t n_items;
};

struct lr_section {
    enum lr_section_kind kind;
    char *name;               /* "router" for [router] */
    int line;
    const char *file;         /* the config's path */
    struct lr_kv *kv;
    size_t n_kv, cap_kv;
    int validated;
};

struct lr_config {
    char *path;               /* as given */
    char *dir;                /* folder relative paths resolve against */
    struct lr_section **sections;
    size_t n_sections;
};

/* Parse path.  On error NULL and "FILE:LINE: message" in err. */
struct lr_config *lr_config_load(const char *path, char *err,
                                 size_t errlen);
/* The same from an open stream (read to EOF, not closed); path names it
   in messages and anchors relative paths.  The fuzz target feeds memory
   through fmemopen(). */
struct lr_config *lr_config_read(FILE *fp, const char *path, char *err,
                                 size_t errlen);
void lr_config_free(struct lr_config *c);

/* The section of that kind and name (name ignored for router), or NULL. */
struct lr_section *lr_config_find(const struct lr_config *c,
                                  enum lr_section_kind kind,
                                  const char *name);
struct lr_kv *lr_section_kv(const struct lr_section *s, const char *key);

/*
 * Check every key of s against the union of ntables key tables, parse
 * values by type and add defaults for absent keys.  An unknown key or a
 * malformed value is an error "FILE:LINE: message".
 */
int lr_section_validate(struct lr_section *s,
                        const struct lr_cfg_key *const *tables,
                        const size_t *sizes, size_t ntables,
                        char *err, size_t errlen);

/* "FILE:LINE: " prefix for a key (or the section line when key is NULL
   or absent), written into out. */
void lr_section_where(const struct lr_section *s, const char *key,
                      char *out, size_t outlen);
/* err = that prefix + the formatted message; returns LR_E_CONFIG, so a
   check can `return lr_section_fail(...)`. */
int lr_section_fail(const struct lr_section *s, const char *key, char *err,
                    size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Getters used through the host table (see llmroute_plugin.h). */
int lr_cfg_str(const struct lr_section *s, const char *key,
               const char **out);
int lr_cfg_int(const struct lr_section *s, const char *key, int64_t *out);
int lr_cfg_double(const struct lr_section *s, const char *key,
                  double *out);
int lr_cfg_bool(const struct lr_section *s, const char *key, int *out);
int lr_cfg_list(const struct lr_section *s, const char *key,
                const char *const **items, size_t *n);
const char *lr_cfg_section_name(const struct lr_section *s);

/* Split "a, b ,c" into trimmed non-empty items (malloc'd array of
   malloc'd strings).  An empty item ("a,,b") is an error. */
int lr_split_list(const char *text, char ***items, size_t *n);
void lr_free_list(char **items, size_t n);

#endif
