/* bench/support/bench_util.c - see bench_util.h. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "output.h"

int64_t tl_bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

double tl_bench_now_s(void) { return (double)tl_bench_now_ns() * 1e-9; }

void tl_bench_cpu_model(char *out, size_t cap)
{
    snprintf(out, cap, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0)
            continue;
        const char *v = strchr(line, ':');
        if (!v)
            break;
        v++;
        while (*v == ' ' || *v == '\t')
            v++;
        snprintf(out, cap, "%s", v);
        size_t n = strlen(out);
        while (n && (out[n - 1] == '\n' || out[n - 1] == ' '))
            out[--n] = '\0';
        break;
    }
    fclose(f);
    /* it goes into a JSON string: keep it plain */
    for (char *p = out; *p; p++)
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
            *p = ' ';
}

long tl_bench_read_file(const char *path, char *buf, size_t cap, const char *who)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "%s: cannot open %s: run from the repository root\n", who, path);
        return -1;
    }
    size_t n = fread(buf, 1, cap - 1, fp);
    int full = n == cap - 1 && fgetc(fp) != EOF;
    fclose(fp);
    if (full) {
        fprintf(stderr, "%s: %s is larger than %zu bytes\n", who, path, cap - 1);
        return -1;
    }
    buf[n] = '\0';
    return (long)n;
}

int tl_bench_conf_set(rd_kafka_conf_t *conf, const tl_kv *kv, size_t n, const char *who)
{
    char err[256];
    if (tl_kafka_conf_set(conf, kv, n, err, sizeof err) < 0) {
        fprintf(stderr, "%s: %s\n", who, err);
        return -1;
    }
    return 0;
}

const char *const tl_bench_tc_names[TL_TC_N] = {"workers", "rdk_brokers", "rdk_main", "mock_cluster", "other"};

static int thread_class(const char *comm)
{
    if (strncmp(comm, "tl:worker", 9) == 0 || strncmp(comm, "base:worker", 11) == 0)
        return TL_TC_WORKER;
    if (strncmp(comm, "rdk:broker", 10) == 0)
        return TL_TC_BROKER;
    if (strcmp(comm, "rdk:main") == 0)
        return TL_TC_RDK_MAIN;
    if (strncmp(comm, "rdk:mock", 8) == 0)
        return TL_TC_MOCK;
    return TL_TC_OTHER;
}

int tl_bench_thread_cpu(tl_bench_tcpu *out)
{
    memset(out, 0, sizeof *out);
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -1;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        long tid = strtol(de->d_name, NULL, 10);
        char path[64], comm[32] = "";
        snprintf(path, sizeof path, "/proc/self/task/%ld/comm", tid);
        FILE *f = fopen(path, "r");
        if (!f)
            continue; /* the thread just ended */
        if (!fgets(comm, sizeof comm, f))
            comm[0] = '\0';
        fclose(f);
        comm[strcspn(comm, "\n")] = '\0';
        /* Linux's per-thread CPU clock of any thread of the process, by its tid (the encoding
         * pthread_getcpuclockid uses: CPUCLOCK_SCHED | CPUCLOCK_PERTHREAD_MASK) */
        clockid_t cid = (clockid_t)((~(unsigned)tid << 3) | 6u);
        struct timespec ts;
        if (clock_gettime(cid, &ts) != 0)
            continue;
        out->ns[thread_class(comm)] += (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    }
    closedir(d);
    return 0;
}
