/*
 * buf.h - growable byte buffers (struct lr_buf from the plugin ABI).
 *
 * The core's allocator owns every buffer; plugins reach these functions
 * through the host table.  After any successful call data is
 * NUL-terminated (the NUL is not counted in len), so a buffer can be read
 * as a C string when it holds text.
 */
#ifndef LR_CORE_BUF_H
#define LR_CORE_BUF_H

#include "llmroute_plugin.h"

int lr_buf_append(struct lr_buf *b, const void *data, size_t len);
int lr_buf_puts(struct lr_buf *b, const char *s);
int lr_buf_printf(struct lr_buf *b, const char *fmt, ...) LR_PRINTF(2, 3);
int lr_buf_vprintf(struct lr_buf *b, const char *fmt, va_list ap)
    LR_PRINTF(2, 0);
/* Ensure room for extra more bytes plus the NUL. */
int lr_buf_reserve(struct lr_buf *b, size_t extra);
/* Empty the buffer, keeping its memory. */
void lr_buf_reset(struct lr_buf *b);
/* Release the memory; the buffer is empty and reusable afterwards. */
void lr_buf_free(struct lr_buf *b);
/* data, or "" for a buffer that never held anything. */
const char *lr_buf_str(const struct lr_buf *b);
/* Take ownership of the bytes (malloc'd, NUL-terminated, never NULL on
   LR_OK); the buffer is left empty. */
char *lr_buf_steal(struct lr_buf *b);

#endif
