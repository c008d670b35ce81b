/* bench/support/bench_util.c - see bench_util.h. */
#include <stdio.h>
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
