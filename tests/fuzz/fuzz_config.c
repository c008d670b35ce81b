/* tests/fuzz/fuzz_config.c - libFuzzer target: arbitrary bytes as a config file.
 *
 * Drives tl_config_load_string(), i.e. tl_ydoc_load_string() and then exactly the code that
 * tl_config_load_file() runs on a file, followed by tl_config_validate() when loading
 * succeeds. Besides memory errors (ASan/UBSan), it checks the contract that matters to users:
 * every failure produces a non-empty message naming the file, and a failed load leaves the
 * config as it was (still valid with the defaults).
 *
 * Build: cmake -DTL_FUZZ=ON -DCMAKE_C_COMPILER=clang ...; run:
 *   mkdir -p /tmp/cfg-corpus && ./fuzz_config /tmp/cfg-corpus tests/fuzz/corpus/config
 * (new inputs go to the first directory, so keep the seed corpus read-only by listing it
 * second).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tl_config c;
    char err[512];
    tl_config_init(&c);
    err[0] = '\0';
    if (tl_config_load_string(&c, "fuzz.yaml", (const char *)data, size, err, sizeof err) == 0) {
        (void)tl_config_validate(&c, err, sizeof err);
    } else {
        if (strncmp(err, "fuzz.yaml:", 10) != 0)
            abort(); /* an error must say where it is */
        if (tl_config_validate(&c, err, sizeof err) != 0)
            abort(); /* a failed load must leave the defaults intact */
    }
    tl_config_fini(&c);
    return 0;
}
