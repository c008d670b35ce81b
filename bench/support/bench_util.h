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

/* CPU time of this process's threads, summed by what their names say they are, ns. Classes:
 * workers ("tl:worker<N>", and bench baselines' "base:worker<N>"), librdkafka broker threads
 * ("rdk:broker*"), librdkafka main threads ("rdk:main"), the embedded mock cluster ("rdk:mock")
 * and everything else (the program's own main and monitor threads, librdkafka's others).
 * Two snapshots around a timed run say where its CPU went. A thread that ended between the
 * two loses its time, so take both while the run's threads are alive. Not for hot paths: it
 * lists /proc/self/task. Returns 0, or -1 if /proc cannot be read. */
enum { TL_TC_WORKER, TL_TC_BROKER, TL_TC_RDK_MAIN, TL_TC_MOCK, TL_TC_OTHER, TL_TC_N };
typedef struct tl_bench_tcpu {
    int64_t ns[TL_TC_N];
} tl_bench_tcpu;
extern const char *const tl_bench_tc_names[TL_TC_N];
int tl_bench_thread_cpu(tl_bench_tcpu *out);

#endif
