/*
 * fuzz_anthropic.c - libFuzzer target: the anthropic provider's response, error
 * and stream parsers (plugins/provider_anthropic.c, linked in), driven as the
 * core drives them.  Input format: provider_drive.h.
 */
#include <stddef.h>
#include <stdint.h>

#include "provider_drive.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_provider_one(lr_plugin_entry(), "claude-sonnet-4-5",
                             "sk-ant-test-SECRET-0123456789", data, size);
}
