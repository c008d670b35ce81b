/* engine/checkpoint.c - checkpoint files (see checkpoint.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "alloc.h"
#include "checkpoint.h"
#include "ckio.h"
#include "traces.h"

static const char MAGIC[8] = {'T', 'L', 'C', 'K', 'P', 'T', '\r', '\n'};
static const char END[8] = {'T', 'L', 'C', 'K', 'E', 'N', 'D', '\n'};
#define FILE_NAME "checkpoint"
#define TMP_NAME "checkpoint.tmp"
#define MAX_NAME 4096

static int errf(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int errf(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return -1;
}

static int64_t wall_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

int tl_checkpoint_prepare_dir(const char *dir, char *err, size_t cap)
{
    char path[MAX_NAME];
    /* mkdir -p */
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
            return errf(err, cap, "state.dir %s: cannot create %s: %s", dir, path, strerror(errno));
        *p = '/';
    }
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
        return errf(err, cap, "state.dir %s: cannot create it: %s", dir, strerror(errno));
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return errf(err, cap, "state.dir %s: not a directory", dir);
    snprintf(path, sizeof path, "%s/.probe", dir);
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    if (fd < 0)
        return errf(err, cap, "state.dir %s: cannot create files there: %s", dir, strerror(errno));
    close(fd);
    unlink(path);
    return 0;
}

/* ---- writing --------------------------------------------------------------------------------- */

static void write_program(tl_ckw *w, const tl_program *p)
{
    tl_ckw_u32(w, p->ngroups);
    for (uint32_t g = 0; g < p->ngroups; g++) {
        const tl_group *grp = &p->groups[g];
        tl_ckw_u32(w, grp->nlabels);
        for (uint32_t i = 0; i < grp->nlabels; i++)
            tl_ckw_cstr(w, grp->label_names[i]);
        tl_ckw_u32(w, grp->nplans);
        for (uint32_t i = 0; i < grp->nplans; i++)
            tl_ckw_u32(w, grp->plans[i]);
        tl_ckw_u32(w, grp->nrules);
        for (uint32_t i = 0; i < grp->nrules; i++)
            tl_ckw_u32(w, grp->rules[i]);
    }
    tl_ckw_u32(w, p->nplans);
    for (uint32_t i = 0; i < p->nplans; i++) {
        tl_ckw_u64(w, tl_plan_sig(p, &p->plans[i]));
        tl_ckw_u8(w, (uint8_t)p->plans[i].kind);
    }
    tl_ckw_u32(w, p->nrules);
    for (uint32_t i = 0; i < p->nrules; i++) {
        tl_ckw_cstr(w, p->rules[i].name);
        tl_ckw_u64(w, p->rules[i].sig);
    }
}

/* The temporary file, buffered. NULL with err on failure. */
static FILE *open_tmp(const char *dir, char *tmp, size_t tmpcap, char *err, size_t cap)
{
    snprintf(tmp, tmpcap, "%s/%s", dir, TMP_NAME);
    /* no O_NOFOLLOW: the state directory is the operator's, and the fault test points the
     * temporary file at /dev/full to get a real ENOSPC */
    int fd = open(tmp, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        errf(err, cap, "%s: open: %s", tmp, strerror(errno));
        return NULL;
    }
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        int e = errno;
        close(fd);
        unlink(tmp);
        errf(err, cap, "%s: %s", tmp, strerror(e));
        return NULL;
    }
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    return f;
}

/* Flush, fsync, close and rename the temporary file over the checkpoint, then fsync the
 * directory; `e` is an error the writing already had (errno), which only cleans up. */
static int commit_tmp(const char *dir, const char *tmp, FILE *f, int e, char *err, size_t cap)
{
    char final[MAX_NAME];
    snprintf(final, sizeof final, "%s/%s", dir, FILE_NAME);
    const char *what = "write";
    if (!e && fflush(f) != 0)
        e = errno ? errno : EIO;
    if (!e && fsync(fileno(f)) != 0) {
        e = errno;
        what = "fsync";
    }
    if (fclose(f) != 0 && !e)
        e = errno ? errno : EIO;
    if (!e && rename(tmp, final) != 0) {
        e = errno;
        what = "rename";
    }
    if (e) {
        unlink(tmp);
        return errf(err, cap, "%s: %s: %s", tmp, what, strerror(e));
    }
    if (fsync_dir(dir) != 0) /* the rename itself must survive a power loss */
        return errf(err, cap, "%s: fsync of the directory: %s", dir, strerror(errno));
    return 0;
}

int tl_checkpoint_install(const char *dir, const void *bytes, size_t len, char *err, size_t cap)
{
    char tmp[MAX_NAME];
    FILE *f = open_tmp(dir, tmp, sizeof tmp, err, cap);
    if (!f)
        return -1;
    int e = fwrite(bytes, 1, len, f) == len ? 0 : (errno ? errno : EIO);
    return commit_tmp(dir, tmp, f, e, err, cap);
}

int tl_checkpoint_write(const char *dir, const tl_program *prog, tl_shard *const *shards, tl_traces *const *traces,
                        const tl_ckpt_section *section, uint32_t nshards, int64_t watermark, const tl_ckpt_offset *offs, size_t noffs, uint64_t *bytes, char *err,
                        size_t cap)
{
    char tmp[MAX_NAME];
    FILE *f = open_tmp(dir, tmp, sizeof tmp, err, cap);
    if (!f)
        return -1;
    tl_ckw w;
    if (tl_ckw_init(&w, f) < 0)
        return commit_tmp(dir, tmp, f, ENOMEM, err, cap);
    tl_ckw_bytes(&w, MAGIC, sizeof MAGIC);
    tl_ckw_u32(&w, TL_CHECKPOINT_VERSION);
    tl_ckw_u32(&w, 0);
    tl_ckw_i64(&w, wall_now_ms());
    tl_ckw_i64(&w, watermark);
    tl_ckw_u32(&w, (uint32_t)noffs);
    for (size_t i = 0; i < noffs; i++) {
        tl_ckw_cstr(&w, offs[i].topic);
        tl_ckw_i32(&w, offs[i].partition);
        tl_ckw_i64(&w, offs[i].offset);
        tl_ckw_u32(&w, offs[i].worker);
    }
    write_program(&w, prog);
    tl_ckw_u32(&w, nshards);
    for (uint32_t i = 0; i < nshards && !w.err; i++)
        tl_shard_save(shards[i], &w);
    tl_ckw_u32(&w, nshards);
    for (uint32_t i = 0; i < nshards && !w.err; i++) {
        const tl_traces *t = traces ? traces[i] : NULL;
        tl_ckw_u8(&w, t != NULL);
        if (t)
            tl_traces_save(t, &w);
    }
    int has_section = section && section->save;
    tl_ckw_u8(&w, (uint8_t)has_section);
    if (has_section && !w.err)
        section->save(section->ctx, &w);
    tl_ckw_bytes(&w, END, sizeof END);
    uint64_t digest = tl_ckw_digest(&w);
    tl_ckw_u64(&w, digest);
    int e = w.err;
    uint64_t total = w.bytes;
    tl_ckw_fini(&w);
    if (commit_tmp(dir, tmp, f, e, err, cap) < 0)
        return -1;
    if (bytes)
        *bytes = total;
    return 0;
}

/* ---- reading --------------------------------------------------------------------------------- */

void tl_ckpt_info_fini(tl_ckpt_info *info)
{
    for (size_t i = 0; i < info->noffs; i++)
        tl_free(info->offs[i].topic);
    tl_free(info->offs);
    memset(info, 0, sizeof *info);
}

static void map_fini(tl_ckmap *m)
{
    for (uint32_t g = 0; g < m->ngroups; g++) {
        if (m->group_plans)
            tl_free(m->group_plans[g]);
        if (m->group_rules)
            tl_free(m->group_rules[g]);
    }
    tl_free(m->group);
    tl_free(m->plan);
    tl_free(m->rule);
    tl_free(m->plan_kind);
    tl_free(m->group_nplans);
    tl_free(m->group_plans);
    tl_free(m->group_nrules);
    tl_free(m->group_rules);
    memset(m, 0, sizeof *m);
}

/* Read the checkpoint's program and map it onto the running one. -1 (reader bad) or -2 (OOM). */
static int read_program(tl_ckr *r, const tl_program *p, tl_ckmap *m)
{
    uint32_t ng = tl_ckr_u32(r);
    if (r->bad || ng > 1u << 16)
        return tl_ckr_fail(r, "implausible number of groups");
    m->ngroups = ng;
    m->group = tl_calloc(ng ? ng : 1, sizeof *m->group);
    m->group_nplans = tl_calloc(ng ? ng : 1, sizeof *m->group_nplans);
    m->group_plans = tl_calloc(ng ? ng : 1, sizeof *m->group_plans);
    m->group_nrules = tl_calloc(ng ? ng : 1, sizeof *m->group_nrules);
    m->group_rules = tl_calloc(ng ? ng : 1, sizeof *m->group_rules);
    if (!m->group || !m->group_nplans || !m->group_plans || !m->group_nrules || !m->group_rules)
        return -2;
    for (uint32_t g = 0; g < ng && !r->bad; g++) {
        uint32_t nl = tl_ckr_u32(r);
        if (nl > 64)
            return tl_ckr_fail(r, "implausible number of labels");
        const char *names[64];
        uint32_t lens[64];
        for (uint32_t i = 0; i < nl; i++)
            names[i] = tl_ckr_str(r, &lens[i], 4096);
        m->group[g] = -1;
        for (uint32_t k = 0; k < p->ngroups && m->group[g] < 0 && !r->bad; k++) {
            const tl_group *grp = &p->groups[k];
            int same = grp->nlabels == nl;
            for (uint32_t i = 0; same && i < nl; i++)
                same = strlen(grp->label_names[i]) == lens[i] && memcmp(grp->label_names[i], names[i], lens[i]) == 0;
            if (same)
                m->group[g] = (int32_t)k;
        }
        uint32_t npl = tl_ckr_u32(r);
        if (npl > 1u << 16)
            return tl_ckr_fail(r, "implausible number of plans in a group");
        m->group_nplans[g] = npl;
        if (!(m->group_plans[g] = tl_calloc(npl ? npl : 1, sizeof **m->group_plans)))
            return -2;
        for (uint32_t i = 0; i < npl; i++)
            m->group_plans[g][i] = tl_ckr_u32(r);
        uint32_t nru = tl_ckr_u32(r);
        if (nru > 1u << 16)
            return tl_ckr_fail(r, "implausible number of rules in a group");
        m->group_nrules[g] = nru;
        if (!(m->group_rules[g] = tl_calloc(nru ? nru : 1, sizeof **m->group_rules)))
            return -2;
        for (uint32_t i = 0; i < nru; i++)
            m->group_rules[g][i] = tl_ckr_u32(r);
    }
    uint32_t np = tl_ckr_u32(r);
    if (r->bad || np > 1u << 20)
        return tl_ckr_fail(r, "implausible number of plans");
    m->nplans = np;
    m->plan = tl_calloc(np ? np : 1, sizeof *m->plan);
    m->plan_kind = tl_calloc(np ? np : 1, 1);
    if (!m->plan || !m->plan_kind)
        return -2;
    /* checkpoint plan -> group, to match plans only within the matched group */
    int32_t *plan_group = tl_calloc(np ? np : 1, sizeof *plan_group);
    if (!plan_group)
        return -2;
    for (uint32_t i = 0; i < np; i++)
        plan_group[i] = -1;
    for (uint32_t g = 0; g < ng; g++)
        for (uint32_t i = 0; i < m->group_nplans[g]; i++) {
            if (m->group_plans[g][i] >= np) {
                tl_free(plan_group);
                return tl_ckr_fail(r, "plan id out of range");
            }
            plan_group[m->group_plans[g][i]] = (int32_t)g;
        }
    for (uint32_t i = 0; i < np && !r->bad; i++) {
        uint64_t sig = tl_ckr_u64(r);
        uint8_t kind = tl_ckr_u8(r);
        if (kind > TL_PLAN_DISTINCT) {
            tl_free(plan_group);
            return tl_ckr_fail(r, "unknown plan kind");
        }
        m->plan_kind[i] = kind;
        m->plan[i] = -1;
        int32_t g = plan_group[i] >= 0 ? m->group[plan_group[i]] : -1;
        for (uint32_t k = 0; g >= 0 && k < p->groups[g].nplans; k++) {
            uint32_t pid = p->groups[g].plans[k];
            if (p->plans[pid].kind == (tl_plan_kind)kind && tl_plan_sig(p, &p->plans[pid]) == sig) {
                m->plan[i] = (int32_t)pid;
                break;
            }
        }
    }
    uint32_t nr = tl_ckr_u32(r);
    if (r->bad || nr > 1u << 20) {
        tl_free(plan_group);
        return tl_ckr_fail(r, "implausible number of rules");
    }
    m->nrules = nr;
    if (!(m->rule = tl_calloc(nr ? nr : 1, sizeof *m->rule))) {
        tl_free(plan_group);
        return -2;
    }
    int32_t *rule_group = tl_calloc(nr ? nr : 1, sizeof *rule_group);
    if (!rule_group) {
        tl_free(plan_group);
        return -2;
    }
    for (uint32_t i = 0; i < nr; i++)
        rule_group[i] = -1;
    for (uint32_t g = 0; g < ng; g++)
        for (uint32_t i = 0; i < m->group_nrules[g]; i++)
            if (m->group_rules[g][i] < nr)
                rule_group[m->group_rules[g][i]] = (int32_t)g;
            else
                tl_ckr_fail(r, "rule id out of range");
    for (uint32_t i = 0; i < nr && !r->bad; i++) {
        uint32_t nlen;
        const char *name = tl_ckr_str(r, &nlen, 4096);
        uint64_t sig = tl_ckr_u64(r);
        m->rule[i] = -1;
        int32_t g = rule_group[i] >= 0 ? m->group[rule_group[i]] : -1;
        for (uint32_t k = 0; g >= 0 && k < p->nrules; k++) {
            const tl_rule *ru = &p->rules[k];
            if (ru->sig == sig && ru->group == (uint32_t)g && strlen(ru->name) == nlen && memcmp(ru->name, name, nlen) == 0) {
                m->rule[i] = (int32_t)k;
                break;
            }
        }
    }
    tl_free(plan_group);
    tl_free(rule_group);
    return r->bad ? -1 : 0;
}

static int read_file(const char *path, void **buf, size_t *len, char *err, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 1;
        return errf(err, cap, "%s: open: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return errf(err, cap, "%s: stat: %s", path, strerror(e));
    }
    *len = (size_t)st.st_size;
    if (*len == 0) {
        close(fd);
        *buf = NULL;
        return 0;
    }
    void *p = mmap(NULL, *len, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED)
        return errf(err, cap, "%s: mmap: %s", path, strerror(e));
    *buf = p;
    return 0;
}

int tl_checkpoint_load(const char *dir, const tl_program *prog, tl_shard **shards, tl_traces **traces,
                       const tl_ckpt_section *section, uint32_t nshards, tl_ckpt_info *info, char *err, size_t cap)
{
    memset(info, 0, sizeof *info);
    char path[MAX_NAME];
    snprintf(path, sizeof path, "%s/%s", dir, FILE_NAME);
    void *buf = NULL;
    size_t len = 0;
    int rc = read_file(path, &buf, &len, err, cap);
    if (rc != 0)
        return rc;
    tl_ckmap map = {0};
    const uint8_t *b = buf;
    rc = -1;
    if (len < sizeof MAGIC + 8 || memcmp(b, MAGIC, sizeof MAGIC) != 0) {
        errf(err, cap, "%s: not a tripline checkpoint (%zu bytes, no header)", path, len);
        goto out;
    }
    uint32_t version = (uint32_t)b[8] | (uint32_t)b[9] << 8 | (uint32_t)b[10] << 16 | (uint32_t)b[11] << 24;
    if (version < TL_CHECKPOINT_OLDEST || version > TL_CHECKPOINT_VERSION) {
        errf(err, cap, "%s: checkpoint format version %u; this build reads versions %d to %d", path, version,
             TL_CHECKPOINT_OLDEST, TL_CHECKPOINT_VERSION);
        goto out;
    }
    if (len < sizeof MAGIC + 8 + sizeof END + 8 || memcmp(b + len - 16, END, sizeof END) != 0) {
        errf(err, cap, "%s: truncated (%zu bytes, no end marker)", path, len);
        goto out;
    }
    uint64_t want = 0;
    for (int i = 0; i < 8; i++)
        want |= (uint64_t)b[len - 8 + (size_t)i] << (8 * i);
    if (XXH3_64bits(b, len - 8) != want) {
        errf(err, cap, "%s: checksum mismatch: the file is corrupt", path);
        goto out;
    }
    tl_ckr r;
    tl_ckr_init(&r, b, len - 16);
    tl_ckr_bytes(&r, sizeof MAGIC + 8);
    info->written_ms = tl_ckr_i64(&r);
    info->watermark = tl_ckr_i64(&r);
    info->bytes = len;
    uint32_t noffs = tl_ckr_u32(&r);
    if (noffs > 1u << 20) {
        errf(err, cap, "%s: implausible number of offsets (%u)", path, noffs);
        goto out;
    }
    info->offs = tl_calloc(noffs ? noffs : 1, sizeof *info->offs);
    if (!info->offs) {
        errf(err, cap, "%s: out of memory", path);
        goto out;
    }
    for (uint32_t i = 0; i < noffs && !r.bad; i++) {
        uint32_t n;
        const char *t = tl_ckr_str(&r, &n, 249);
        info->offs[i].topic = tl_strndup(t, n);
        info->offs[i].partition = tl_ckr_i32(&r);
        info->offs[i].offset = tl_ckr_i64(&r);
        info->offs[i].worker = tl_ckr_u32(&r);
        info->noffs++;
        if (!info->offs[i].topic) {
            errf(err, cap, "%s: out of memory", path);
            goto out;
        }
    }
    int prc = read_program(&r, prog, &map);
    if (prc == -2) {
        errf(err, cap, "%s: out of memory", path);
        goto out;
    }
    uint32_t nsh = r.bad ? 0 : tl_ckr_u32(&r);
    for (uint32_t i = 0; i < nsh && !r.bad; i++) {
        int src = tl_shard_load(shards, nshards, &map, &r, &info->dropped);
        if (src == -2) {
            errf(err, cap, "%s: out of memory while loading", path);
            goto out;
        }
    }
    uint32_t ntr = r.bad ? 0 : tl_ckr_u32(&r);
    for (uint32_t i = 0; i < ntr && !r.bad; i++) {
        if (!tl_ckr_u8(&r))
            continue;
        tl_traces *t = traces ? traces[i % nshards] : NULL;
        if (!t) { /* the running rules keep no per-trace state: read them into a scratch table */
            tl_traces *scratch = tl_traces_new(prog, 100000);
            if (!scratch) {
                errf(err, cap, "%s: out of memory", path);
                goto out;
            }
            tl_traces_load(scratch, &r);
            tl_traces_destroy(scratch);
        } else {
            tl_traces_load(t, &r);
        }
    }
    if (version >= 2 && !r.bad && tl_ckr_u8(&r)) {
        if (section && section->load)
            section->load(section->ctx, &r);
        else
            r.pos = r.n; /* nothing to load it into; it is the last section (and checksummed) */
    }
    if (!r.bad && r.pos != r.n)
        tl_ckr_fail(&r, "unexpected bytes after the last section");
    if (r.bad) {
        errf(err, cap, "%s: malformed at byte %zu: %s", path, r.bad_at, r.why ? r.why : "bad record");
        goto out;
    }
    for (uint32_t i = 0; i < nshards; i++)
        tl_shard_restore_done(shards[i], info->watermark);
    rc = 0;
out:
    map_fini(&map);
    if (rc != 0)
        tl_ckpt_info_fini(info);
    if (buf)
        munmap(buf, len);
    return rc;
}

void tl_checkpoint_path(const char *dir, char *buf, size_t cap) { snprintf(buf, cap, "%s/%s", dir, FILE_NAME); }

int tl_checkpoint_set_aside(const char *dir, char *err, size_t cap)
{
    char from[MAX_NAME], to[MAX_NAME];
    snprintf(from, sizeof from, "%s/%s", dir, FILE_NAME);
    snprintf(to, sizeof to, "%s/%s.refused-%lld", dir, FILE_NAME, (long long)wall_now_ms());
    if (rename(from, to) != 0)
        return errf(err, cap, "%s: cannot move it aside: %s", from, strerror(errno));
    return 0;
}
