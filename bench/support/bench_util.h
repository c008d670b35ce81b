/* bench/support/bench_util.h - the few helpers every bench program needs: clocks, the CPU
 * model for the results, and librdkafka properties with an error message.
 *
 * Why a file: the benches are separate programs (one executable each, see CMakeLists.txt), but
 * they describe the machine and read the clocks the same way, and should keep doing so.
 * Threading: everything here may be called from any thread.
 */
#ifndef TL_BENCH_UTIL_H
#define TL_BENCH_UTIL_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* CLOCK_MONOTONIC, in ns and in seconds. */
int64_t tl_bench_now_ns(void);
double tl_bench_now_s(void);
/* The CPU's model name from /proc/cpuinfo ("unknown" if none), made safe for a JSON string. */
void tl_bench_cpu_model(char *out, size_t cap);
/* Read a whole text file (the rule pack) into buf, NUL-terminated. Its length, or -1 with a
 * message naming `who` (benches run from the repository root). */
long tl_bench_read_file(const char *path, char *buf, size_t cap, const char *who);
/* Set every property; on an error print "<who>: <message>" on stderr and return -1. */
int tl_bench_conf_set(rd_kafka_conf_t *conf, const tl_kv *kv, size_t n, const char *who);

#endif
