/* IDX files (the MNIST format), plain or gzip-compressed. A header is only
 * a claim: every size in it is checked against the bytes the file really
 * holds, and memory grows as data arrives rather than as the header asks,
 * so a lying or hostile file costs little and always gives a clear error. */
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define IDX_MAGIC_IMAGES 0x00000803u
#define IDX_MAGIC_LABELS 0x00000801u
/* No real IDX file comes near this; without a cap a few kilobytes of gzip
 * could claim, and inflate to, any size. */
#define IDX_MAX_BYTES ((uint64_t)1 << 32)
/* The first payload allocation; it doubles while data keeps coming. */
#define IDX_FIRST_CHUNK ((size_t)1 << 20)
/* How far past the payload trailing data is counted for the message. */
#define IDX_TRAILING_SCAN ((uint64_t)1 << 20)

/* A byte source over a plain or gzip file. The first block is read before
 * the kind is known, so the source never needs to seek (pipes work). */
typedef struct {
    const char *path;
    FILE *f;
    bool gz;
    bool z_live;        /* inflateInit2 succeeded: inflateEnd is owed */
    bool z_end;         /* the current gzip member is complete */
    bool eof;           /* the file has no more bytes */
    z_stream zs;
    unsigned char *next; /* plain: buffered bytes not yet handed out */
    size_t avail;
    unsigned char buf[1 << 15];
} src;

/* What one IDX file declares: images (count x rows x cols) or labels. */
typedef struct {
    bool images;
    uint32_t dim[3];
    uint64_t bytes;
} idx_header;

/* zlib allocates through the library's hook like everything else. */
static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    if (size && items > SIZE_MAX / size)
        return Z_NULL;
    return wg_malloc((size_t)items * size);
}

static void z_free(voidpf opaque, voidpf p)
{
    (void)opaque;
    wg_free(p);
}

static wg_status fill(src *s, size_t *len)
{
    errno = 0;
    *len = fread(s->buf, 1, sizeof s->buf, s->f);
    if (*len == 0) {
        if (ferror(s->f))
            return wg_set_last_error(WG_EIO, "%s: read error: %s", s->path,
                                     strerror(errno ? errno : EIO));
        s->eof = true;
    }
    return WG_OK;
}

static void src_close(src *s)
{
    if (s->z_live)
        inflateEnd(&s->zs);
    if (s->f)
        fclose(s->f);
    s->z_live = false;
    s->f = NULL;
}

static wg_status src_open(src *s, const char *path)
{
    s->path = path;
    s->gz = s->z_live = s->z_end = s->eof = false;
    s->next = s->buf;
    s->avail = 0;
    s->f = fopen(path, "rb");
    if (!s->f)
        return wg_set_last_error(WG_EIO, "%s: cannot open: %s", path, strerror(errno));
    size_t len;
    wg_status st = fill(s, &len);
    if (st != WG_OK)
        return st;
    if (len == 0)
        return wg_set_last_error(WG_EFORMAT, "%s: empty file", path);
    s->gz = len >= 2 && s->buf[0] == 0x1f && s->buf[1] == 0x8b;
    if (!s->gz) {
        s->avail = len;
        return WG_OK;
    }
    memset(&s->zs, 0, sizeof s->zs);
    s->zs.zalloc = z_alloc;
    s->zs.zfree = z_free;
    s->zs.next_in = s->buf;
    s->zs.avail_in = (uInt)len;
    int r = inflateInit2(&s->zs, 16 + MAX_WBITS); /* 16: gzip wrapper only */
    if (r != Z_OK)
        return wg_set_last_error(r == Z_MEM_ERROR ? WG_ENOMEM : WG_EIO,
                                 "%s: cannot start zlib: %s", path,
                                 r == Z_MEM_ERROR ? "out of memory" : zError(r));
    s->z_live = true;
    return WG_OK;
}

static wg_status plain_read(src *s, unsigned char *out, size_t n, size_t *got)
{
    size_t k = s->avail < n ? s->avail : n;
    if (k)
        memcpy(out, s->next, k);
    s->next += k;
    s->avail -= k;
    *got = k;
    if (k == n || s->eof)
        return WG_OK;
    /* large reads go straight into the caller's buffer */
    errno = 0;
    size_t r = fread(out + k, 1, n - k, s->f);
    *got += r;
    if (r < n - k) {
        if (ferror(s->f))
            return wg_set_last_error(WG_EIO, "%s: read error: %s", s->path,
                                     strerror(errno ? errno : EIO));
        s->eof = true;
    }
    return WG_OK;
}

/* After a complete member, either the file ends, or another member follows
 * (as `cat a.gz b.gz` makes one), or what follows is garbage. */
static wg_status next_member(src *s, bool *done)
{
    *done = s->zs.avail_in == 0; /* the caller refilled: empty means end of file */
    if (*done)
        return WG_OK;
    if (s->zs.next_in[0] != 0x1f)
        return wg_set_last_error(WG_EFORMAT, "%s: corrupt gzip file: data after the end of "
                                 "the gzip stream", s->path);
    if (inflateReset(&s->zs) != Z_OK)
        return wg_set_last_error(WG_EFORMAT, "%s: corrupt gzip file", s->path);
    s->z_end = false;
    return WG_OK;
}

static wg_status inflate_error(src *s, int r)
{
    if (r == Z_MEM_ERROR)
        return wg_set_last_error(WG_ENOMEM, "%s: out of memory in zlib", s->path);
    if (r == Z_BUF_ERROR && s->eof && s->zs.avail_in == 0)
        return wg_set_last_error(WG_EFORMAT, "%s: truncated gzip stream: the file ends "
                                 "inside it", s->path);
    return wg_set_last_error(WG_EFORMAT, "%s: corrupt gzip stream: %s", s->path,
                             s->zs.msg ? s->zs.msg : zError(r));
}

static wg_status gz_read(src *s, unsigned char *out, size_t n, size_t *got)
{
    *got = 0;
    while (*got < n) {
        if (s->zs.avail_in == 0 && !s->eof) {
            size_t len;
            wg_status st = fill(s, &len);
            if (st != WG_OK)
                return st;
            s->zs.next_in = s->buf;
            s->zs.avail_in = (uInt)len;
        }
        if (s->z_end) {
            bool done;
            wg_status st = next_member(s, &done);
            if (st != WG_OK || done)
                return st;
        }
        size_t want = n - *got < UINT_MAX ? n - *got : UINT_MAX;
        s->zs.next_out = out + *got;
        s->zs.avail_out = (uInt)want;
        int r = inflate(&s->zs, Z_NO_FLUSH);
        *got += want - s->zs.avail_out;
        if (r == Z_STREAM_END)
            s->z_end = true;
        else if (r != Z_OK)
            return inflate_error(s, r);
    }
    return WG_OK;
}

/* Up to n bytes; fewer only where the data ends. */
static wg_status src_read(src *s, unsigned char *out, size_t n, size_t *got)
{
    return s->gz ? gz_read(s, out, n, got) : plain_read(s, out, n, got);
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* "10000 images of 28x28" or "10000 labels", for messages. */
static const char *describe(const idx_header *h, char *buf, size_t cap)
{
    if (h->images)
        snprintf(buf, cap, "%lu images of %lux%lu", (unsigned long)h->dim[0],
                 (unsigned long)h->dim[1], (unsigned long)h->dim[2]);
    else
        snprintf(buf, cap, "%lu labels", (unsigned long)h->dim[0]);
    return buf;
}

static const char *idx_type_name(unsigned t)
{
    switch (t) {
    case 0x08: return "uint8";
    case 0x09: return "int8";
    case 0x0b: return "int16";
    case 0x0c: return "int32";
    case 0x0d: return "float32";
    case 0x0e: return "float64";
    }
    return NULL;
}

static wg_status bad_magic(const src *s, uint32_t magic, uint32_t want)
{
    const char *what = want == IDX_MAGIC_IMAGES ? "uint8 images N x rows x cols"
                                                : "uint8 labels N";
    const char *type = idx_type_name((magic >> 8) & 0xff);
    char found[80] = "";
    if (magic >> 16 == 0 && type)
        snprintf(found, sizeof found, ", which is a %u-dimensional IDX file of %s",
                 (unsigned)(magic & 0xff), type);
    return wg_set_last_error(WG_EFORMAT, "%s: wrong magic number 0x%08lx%s; expected 0x%08lx "
                             "(IDX %s)", s->path, (unsigned long)magic, found,
                             (unsigned long)want, what);
}

/* The payload size the dimensions imply, refusing zeros and absurd sizes. */
static wg_status check_dims(const src *s, idx_header *h, int ndims)
{
    char d[80];
    uint64_t bytes = 1;
    for (int i = 0; i < ndims; i++)
        if (h->dim[i] == 0)
            return wg_set_last_error(WG_EFORMAT, "%s: zero dimension in the header: %s",
                                     s->path, describe(h, d, sizeof d));
    for (int i = 0; i < ndims; i++) {
        if (h->dim[i] > IDX_MAX_BYTES / bytes)
            return wg_set_last_error(WG_EFORMAT, "%s: header says %s, more than the %llu "
                                     "bytes allowed", s->path, describe(h, d, sizeof d),
                                     (unsigned long long)IDX_MAX_BYTES);
        bytes *= h->dim[i];
    }
    /* rows and cols become ints; the byte cap alone does not bound them */
    if (h->images && (h->dim[1] > INT_MAX || h->dim[2] > INT_MAX))
        return wg_set_last_error(WG_EFORMAT, "%s: header says %s: image too large", s->path,
                                 describe(h, d, sizeof d));
    if (bytes > SIZE_MAX)
        return wg_set_last_error(WG_EFORMAT, "%s: %llu bytes do not fit in memory here",
                                 s->path, (unsigned long long)bytes);
    h->bytes = bytes;
    return WG_OK;
}

static wg_status read_header(src *s, uint32_t want, idx_header *h)
{
    unsigned char b[12];
    int ndims = want == IDX_MAGIC_IMAGES ? 3 : 1;
    size_t got;
    memset(h, 0, sizeof *h);
    h->images = want == IDX_MAGIC_IMAGES;
    /* the magic alone first, so a short foreign file is called foreign */
    wg_status st = src_read(s, b, 4, &got);
    if (st != WG_OK)
        return st;
    if (got < 4)
        return wg_set_last_error(WG_EFORMAT, "%s: truncated header: %zu bytes, not an IDX "
                                 "file", s->path, got);
    uint32_t magic = be32(b);
    if (magic != want)
        return bad_magic(s, magic, want);
    st = src_read(s, b, 4 * (size_t)ndims, &got);
    if (st != WG_OK)
        return st;
    if (got < 4 * (size_t)ndims)
        return wg_set_last_error(WG_EFORMAT, "%s: truncated header: %zu of its %d bytes",
                                 s->path, 4 + got, 4 + 4 * ndims);
    for (int i = 0; i < ndims; i++)
        h->dim[i] = be32(b + 4 * i);
    return check_dims(s, h, ndims);
}

/* Reads up to `size` bytes into a buffer that grows only as the data
 * arrives; *have tells how many there were. */
static wg_status read_payload(src *s, uint64_t size, unsigned char **out, uint64_t *have)
{
    size_t cap = size < IDX_FIRST_CHUNK ? (size_t)size : IDX_FIRST_CHUNK;
    size_t n = 0;
    unsigned char *p = wg_malloc(cap);
    *out = NULL;
    *have = 0;
    if (!p)
        return wg_set_last_error(WG_ENOMEM, "%s: out of memory", s->path);
    for (;;) {
        size_t got;
        wg_status st = src_read(s, p + n, cap - n, &got);
        n += got;
        if (st != WG_OK) {
            wg_free(p);
            return st;
        }
        if (n < cap || n == size)
            break;
        size_t grown = cap > size / 2 ? (size_t)size : 2 * cap;
        unsigned char *q = wg_realloc(p, grown);
        if (!q) {
            wg_free(p);
            return wg_set_last_error(WG_ENOMEM, "%s: out of memory", s->path);
        }
        p = q;
        cap = grown;
    }
    wg_advise_huge(p, n);
    *out = p;
    *have = n;
    return WG_OK;
}

/* Counts what follows the payload. Reading to the end also makes zlib
 * check the gzip trailer's CRC and length. */
static wg_status count_trailing(src *s, uint64_t *extra)
{
    unsigned char scratch[4096];
    *extra = 0;
    while (*extra <= IDX_TRAILING_SCAN) {
        size_t got;
        wg_status st = src_read(s, scratch, sizeof scratch, &got);
        if (st != WG_OK)
            return st;
        if (got == 0)
            break;
        *extra += got;
    }
    return WG_OK;
}

static wg_status check_payload(const src *s, const idx_header *h, uint64_t have, uint64_t extra)
{
    char d[80];
    const char *after = s->gz ? " after decompression" : "";
    if (have < h->bytes)
        return wg_set_last_error(WG_EFORMAT, "%s: truncated: header says %s (%llu bytes), "
                                 "file has %llu%s", s->path, describe(h, d, sizeof d),
                                 (unsigned long long)h->bytes, (unsigned long long)have,
                                 after);
    if (extra)
        return wg_set_last_error(WG_EFORMAT, "%s: trailing bytes: header says %s (%llu "
                                 "bytes), file has %s%llu%s", s->path,
                                 describe(h, d, sizeof d), (unsigned long long)h->bytes,
                                 extra > IDX_TRAILING_SCAN ? "more than " : "",
                                 (unsigned long long)(h->bytes + extra), after);
    return WG_OK;
}

/* One whole IDX file, checked from magic number to the last byte. */
static wg_status load_file(const char *path, uint32_t magic, idx_header *h,
                           unsigned char **data)
{
    src *s = wg_malloc(sizeof *s);
    *data = NULL;
    if (!s)
        return wg_set_last_error(WG_ENOMEM, "%s: out of memory", path);
    uint64_t have = 0, extra = 0;
    wg_status st = src_open(s, path);
    if (st == WG_OK)
        st = read_header(s, magic, h);
    if (st == WG_OK)
        st = read_payload(s, h->bytes, data, &have);
    if (st == WG_OK && have == h->bytes)
        st = count_trailing(s, &extra);
    if (st == WG_OK)
        st = check_payload(s, h, have, extra);
    src_close(s);
    wg_free(s);
    if (st != WG_OK) {
        wg_free(*data);
        *data = NULL;
    }
    return st;
}

/* Widens the label bytes and sets the class count. */
static wg_status take_labels(const char *path, const unsigned char *bytes, wg_dataset *d)
{
    d->labels = wg_calloc((size_t)d->count, sizeof *d->labels);
    if (!d->labels)
        return wg_set_last_error(WG_ENOMEM, "%s: out of memory", path);
    int max = 0;
    for (int64_t i = 0; i < d->count; i++) {
        d->labels[i] = bytes[i];
        if (bytes[i] > max)
            max = bytes[i];
    }
    d->classes = max + 1;
    return WG_OK;
}

wg_status wg_idx_load(const char *images_path, const char *labels_path, wg_dataset *out)
{
    if (!out)
        return wg_set_last_error(WG_EINVAL, "idx_load: NULL output");
    memset(out, 0, sizeof *out);
    if (!images_path)
        return wg_set_last_error(WG_EINVAL, "idx_load: NULL images path");
    wg_dataset d = { 0 };
    idx_header hi, hl;
    unsigned char *label_bytes = NULL;
    wg_status st = load_file(images_path, IDX_MAGIC_IMAGES, &hi, &d.images);
    if (st == WG_OK && labels_path)
        st = load_file(labels_path, IDX_MAGIC_LABELS, &hl, &label_bytes);
    if (st == WG_OK && labels_path && hl.dim[0] != hi.dim[0])
        st = wg_set_last_error(WG_EFORMAT, "%s: %lu labels for the %lu images of %s",
                               labels_path, (unsigned long)hl.dim[0],
                               (unsigned long)hi.dim[0], images_path);
    if (st == WG_OK) {
        d.count = hi.dim[0];
        d.channels = 1;
        d.rows = (int)hi.dim[1];
        d.cols = (int)hi.dim[2];
        d.owned = true;
        if (labels_path)
            st = take_labels(labels_path, label_bytes, &d);
    }
    wg_free(label_bytes);
    if (st != WG_OK) {
        wg_free(d.images);
        wg_free(d.labels);
        return st;
    }
    *out = d;
    return WG_OK;
}

const char *wg_data_dir(const char *dir)
{
    if (dir)
        return dir;
    const char *env = getenv("WG_DATA_DIR");
    /* an empty value would name the root directory: treat it as unset */
    if (env && *env)
        return env;
    return "/usr/share/datasets/fashion-mnist";
}

/* dir/stem.gz if it exists, else dir/stem; the caller frees the result. */
static wg_status find_part(const char *dir, const char *stem, char **path)
{
    size_t n = strlen(dir) + strlen(stem) + sizeof "/.gz";
    char *p = wg_malloc(n);
    struct stat st;
    *path = NULL;
    if (!p)
        return wg_set_last_error(WG_ENOMEM, "mnist_load: out of memory");
    snprintf(p, n, "%s/%s.gz", dir, stem);
    if (stat(p, &st) == 0) {
        *path = p;
        return WG_OK;
    }
    snprintf(p, n, "%s/%s", dir, stem);
    if (stat(p, &st) == 0) {
        *path = p;
        return WG_OK;
    }
    int err = errno;
    wg_free(p);
    return wg_set_last_error(WG_EIO, "%s/%s[.gz]: cannot open: %s", dir, stem, strerror(err));
}

wg_status wg_mnist_load(const char *dir, bool train, wg_dataset *out)
{
    if (!out)
        return wg_set_last_error(WG_EINVAL, "mnist_load: NULL output");
    memset(out, 0, sizeof *out);
    const char *d = wg_data_dir(dir);
    char *images = NULL, *labels = NULL;
    wg_status st = find_part(d, train ? "train-images-idx3-ubyte" : "t10k-images-idx3-ubyte",
                             &images);
    if (st == WG_OK)
        st = find_part(d, train ? "train-labels-idx1-ubyte" : "t10k-labels-idx1-ubyte",
                       &labels);
    if (st == WG_OK)
        st = wg_idx_load(images, labels, out);
    wg_free(images);
    wg_free(labels);
    return st;
}
