/* engine/decode.c - format detection and the Confluent schema registry (see decode.h). */
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "avro_decode.h"
#include "decode.h"

typedef struct reg_entry {
    uint32_t id;
    tl_avro_prog *prog;
} reg_entry;

struct tl_decoder {
    tl_input_format format;
    size_t max_bytes;
    tl_avro_prog *raw;
    reg_entry *reg;
    size_t nreg;
};

static tl_avro_prog *load_prog(const char *path, char *err, size_t errcap)
{
    char msg[512];
    if (!path)
        return tl_avro_prog_new(tl_trace_event_schema_json, strlen(tl_trace_event_schema_json), err, errcap);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errcap, "%s: cannot open Avro schema", path);
        return NULL;
    }
    char *buf = tl_malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (!buf) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    tl_avro_prog *p = tl_avro_prog_new(buf, n, msg, sizeof msg);
    tl_free(buf);
    if (!p)
        snprintf(err, errcap, "%s: %s", path, msg);
    return p;
}

tl_decoder *tl_decoder_new(const tl_config *cfg, char *err, size_t errcap)
{
    tl_decoder *d = tl_calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    d->format = cfg->input_format;
    d->max_bytes = cfg->max_message_bytes;
    d->raw = load_prog(cfg->avro_schema, err, errcap);
    d->reg = tl_calloc(cfg->n_registry + 1, sizeof *d->reg);
    if (!d->raw || !d->reg)
        goto fail;
    int have1 = 0;
    for (size_t i = 0; i < cfg->n_registry; i++) {
        d->reg[d->nreg].id = cfg->registry[i].id;
        d->reg[d->nreg].prog = load_prog(cfg->registry[i].path, err, errcap);
        if (!d->reg[d->nreg].prog)
            goto fail;
        have1 |= cfg->registry[i].id == 1;
        d->nreg++;
    }
    if (!have1) {
        d->reg[d->nreg].id = 1;
        d->reg[d->nreg].prog = load_prog(NULL, err, errcap);
        if (!d->reg[d->nreg].prog)
            goto fail;
        d->nreg++;
    }
    return d;
fail:
    tl_decoder_destroy(d);
    return NULL;
}

void tl_decoder_destroy(tl_decoder *d)
{
    if (!d)
        return;
    tl_avro_prog_destroy(d->raw);
    for (size_t i = 0; i < d->nreg; i++)
        tl_avro_prog_destroy(d->reg[i].prog);
    tl_free(d->reg);
    tl_free(d);
}

static int decode_framed(const tl_decoder *d, const uint8_t *b, size_t len, tl_event *ev, tl_decode_err *err)
{
    if (len < 5)
        return tl_decode_fail(err, TL_DECODE_SHORT_FRAME, len, NULL);
    uint32_t id = (uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 8 | b[4];
    for (size_t i = 0; i < d->nreg; i++) {
        if (d->reg[i].id == id) {
            int rc = tl_avro_decode(d->reg[i].prog, b + 5, len - 5, ev, err);
            if (rc < 0)
                err->offset += 5;
            return rc;
        }
    }
    return tl_decode_fail(err, TL_DECODE_UNKNOWN_SCHEMA, 1, "schema id %u is not in the registry", id);
}

int tl_decoder_decode(const tl_decoder *d, const void *msg, size_t len, tl_event *ev, tl_json_scratch *scratch,
                      tl_decode_err *err)
{
    const uint8_t *b = msg;
    if (len == 0 || !msg)
        return tl_decode_fail(err, TL_DECODE_EMPTY, 0, NULL);
    if (d->max_bytes && len > d->max_bytes)
        return tl_decode_fail(err, TL_DECODE_TOO_LARGE, 0, "%zu bytes, limit %zu", len, d->max_bytes);
    size_t i = 0;
    while (i < len && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r'))
        i++;
    int looks_json = i < len && b[i] == '{';
    switch (d->format) {
    case TL_IN_JSON:
        return tl_json_decode(msg, len, ev, scratch, err);
    case TL_IN_AVRO:
        if (b[0] == 0)
            return decode_framed(d, b, len, ev, err);
        return tl_avro_decode(d->raw, b, len, ev, err);
    case TL_IN_AUTO:
    default:
        if (b[0] == 0)
            return decode_framed(d, b, len, ev, err);
        if (looks_json)
            return tl_json_decode(msg, len, ev, scratch, err);
        if (i > 0 || b[0] == '[' || b[0] == '"')
            return tl_decode_fail(err, TL_DECODE_NOT_OBJECT, i, "JSON input must be one object per message");
        return tl_avro_decode(d->raw, b, len, ev, err);
    }
}
