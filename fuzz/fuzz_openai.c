/*
 * fuzz_openai.c - libFuzzer target: the openai provider's response, error
 * and stream parsers (plugins/provider_openai.c, linked in), driven as the
 * core drives them.  Input format: provider_drive.h.
 */
#include <stddef.h>
#include <stdint.h>

#include "provider_drive.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_provider_one(lr_plugin_entry(), "gpt-4.1-mini",
                             "sk-test-SECRET-0123456789", data, size);
}
