/* tests/support/tl_test.c - shared test helpers. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tl_test.h"

char *tl_test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        if (len)
            *len = (size_t)n;
    }
    return buf;
}

char *tl_test_write_temp(char *path, size_t cap, const char *name, const char *text)
{
    snprintf(path, cap, "/tmp/tl-it-%s-%d.yaml", name, (int)getpid());
    FILE *f = fopen(path, "w");
    if (!f)
        return NULL;
    int ok = fputs(text, f) >= 0;
    if (fclose(f) != 0 || !ok)
        return NULL;
    return path;
}
