/*
 * batch_out.c - the OUT file of `llmroute batch`.
 *
 * Results are appended one whole line per write(2) on an O_APPEND
 * descriptor, so a crash or kill leaves complete lines, except perhaps a
 * torn last one.  On start, out_scan() reads OUT (streaming: it may be
 * large), collects the id of every result line, and repairs the tail:
 *   - a last line without '\n' that parses as a result keeps its data and
 *     gets its '\n';
 *   - a last line without '\n' that does not parse is cut off (the file is
 *     truncated to the end of the previous line), so its request is sent
 *     again and the next append does not glue onto the fragment;
 *   - a complete line that is not a result object with an id (never
 *     written by batch) is left alone with a warning; no id is taken from
 *     it.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"
#include "llmroute.h"

/* The id of a result line as compact JSON (malloc'd), or NULL. */
static char *line_id(const char *text)
{
    cJSON *o = cJSON_Parse(text);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
    char *s = NULL;
    if (cJSON_IsObject(o) && (cJSON_IsString(id) || cJSON_IsNumber(id)))
        s = cJSON_PrintUnformatted(id);
    cJSON_Delete(o);
    return s;
}

/* The torn tail (no '\n') starting at byte off: keep or cut it. */
static int fix_tail(const char *path, const char *tail, long off,
                    struct idset *done, long *count)
{
    char *id = line_id(tail);
    int rc = 0;
    if (id) {
        FILE *fp = fopen(path, "a");
        rc = fp && fputc('\n', fp) != EOF && fclose(fp) == 0 ? 0 : -1;
        if (!rc && idset_add(done, id, 0, NULL) == 1)
            (*count)++;
        cJSON_free(id);
        return rc;
    }
    fprintf(stderr, "llmroute: %s: dropping a torn last line (%zu bytes); "
            "its request is sent again\n", path, strlen(tail));
    return truncate(path, (off_t)off);
}

long out_scan(const char *path, struct idset *done, char *err,
              size_t errlen)
{
    FILE *fp = fopen(path, "r");
    if (!fp && errno == ENOENT)
        return 0;
    if (!fp) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    long count = 0, lineno = 0, off = 0;
    ssize_t n;
    int rc = 0;
    while (rc == 0 && (n = getline(&line, &cap, fp)) > 0) {
        lineno++;
        if (line[n - 1] != '\n') {
            rc = fix_tail(path, line, off, done, &count);
            break;
        }
        off += (long)n;
        char *id = line_id(line);
        int added = id ? idset_add(done, id, 0, NULL) : 0;
        if (!id)
            fprintf(stderr, "llmroute: %s:%ld: not a result line, "
                    "ignored\n", path, lineno);
        if (added > 0)
            count++;
        if (added < 0) {
            errno = ENOMEM;
            rc = -1;
        }
        cJSON_free(id);
    }
    if (rc == 0 && ferror(fp))
        rc = -1;
    if (rc)
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
    free(line);
    fclose(fp);
    return rc ? -1 : count;
}

int out_write_line(int fd, const char *text)
{
    size_t len = strlen(text);
    char *buf = malloc(len + 1);
    if (!buf) {
        errno = ENOMEM;
        return -1;
    }
    memcpy(buf, text, len);
    buf[len++] = '\n';
    /* One write for the whole line; a short write (disk full) is an
       error, not something to finish later: the fragment is what resume
       repairs. */
    ssize_t w;
    do
        w = write(fd, buf, len);
    while (w < 0 && errno == EINTR);
    free(buf);
    if (w >= 0 && (size_t)w != len)
        errno = ENOSPC;
    return w >= 0 && (size_t)w == len ? 0 : -1;
}

static char *with_id(cJSON *o, const char *id_json)
{
    cJSON *id = cJSON_Parse(id_json);
    char *s = NULL;
    if (id && cJSON_GetObjectItemCaseSensitive(o, "id"))
        cJSON_ReplaceItemInObjectCaseSensitive(o, "id", id);
    else if (id)
        cJSON_AddItemToObject(o, "id", id);
    if (id)
        s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

char *out_result_json(const struct lr_response *resp, const char *id_json)
{
    char *j = lr_response_json(resp);
    cJSON *o = j ? cJSON_Parse(j) : NULL;
    lr_free(j);
    return o ? with_id(o, id_json) : NULL;
}

/* The failure shape of lr_response_json(): id, error, latency, an empty
   attempt trail. */
char *out_error_json(const char *id_json, const char *class_name,
                     const char *message)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *e = cJSON_AddStringToObject(o, "id", "")
        ? cJSON_AddObjectToObject(o, "error") : NULL;
    if (!e ||
        !cJSON_AddStringToObject(e, "class", class_name) ||
        !cJSON_AddStringToObject(e, "message", message) ||
        !cJSON_AddNullToObject(e, "retry_after_ms") ||
        !cJSON_AddNumberToObject(o, "latency_ms", 0) ||
        !cJSON_AddArrayToObject(o, "attempts")) {
        cJSON_Delete(o);
        return NULL;
    }
    return with_id(o, id_json);
}
