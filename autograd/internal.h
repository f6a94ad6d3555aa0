/* Internal declarations shared by the library's sources; never installed. */
#ifndef WG_INTERNAL_H
#define WG_INTERNAL_H

#include "config.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <wengert.h>

#define WG_INTERNAL __attribute__((visibility("hidden")))
#define WG_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* --- allocation (alloc.c) ---------------------------------------------- */
/* Every heap allocation of the library goes through these, so the
 * allocator hook sees all of them (tests count and fail them). */
WG_INTERNAL void *wg_malloc(size_t n);
WG_INTERNAL void *wg_calloc(size_t count, size_t size);
WG_INTERNAL void *wg_realloc(void *p, size_t n);
WG_INTERNAL void wg_free(void *p);
WG_INTERNAL char *wg_strdup(const char *s);
/* Asks the kernel to back the block (written already) with 2 MB pages
 * where it can: a data set is read at random image by image,
 * and with 4 KB pages every image cost a TLB miss and a page walk (about
 * 2% of an MLP step). Best effort and harmless where unsupported. */
WG_INTERNAL void wg_advise_huge(void *p, size_t n);

/* --- errors (error.c) --------------------------------------------------- */
/* Stores a message for wg_last_error() and sends it to the log; returns s. */
WG_INTERNAL wg_status wg_set_last_error(wg_status s, const char *fmt, ...) WG_PRINTF(2, 3);
WG_INTERNAL void wg_log(wg_log_level level, const char *fmt, ...) WG_PRINTF(2, 3);
WG_INTERNAL void wg_vlog(wg_log_level level, const char *fmt, va_list ap);

/* --- parameters (params.c) --------------------------------------------- */
/* Spare elements after the last gradient of a store's block: a
 * distributed step reduces its status and statistics in the same message
 * as the gradients (dist/dist.c). */
#define WG_GRAD_TAIL (3 + WG_DIST_MAX_SUMS)

/* --- arena (arena.c) ---------------------------------------------------- */
typedef struct wg_chunk wg_chunk;
typedef struct wg_arena {
    wg_chunk *head;     /* newest chunk first */
    size_t used;        /* bytes handed out since the last reset */
    size_t held;        /* bytes of all chunks */
    size_t peak;        /* most bytes ever handed out between resets */
} wg_arena;

WG_INTERNAL void *wg_arena_alloc(wg_arena *a, size_t bytes);
/* Forgets every allocation; if the last cycle needed several chunks,
 * replaces them by one that holds them all, so the next cycle of the same
 * size needs no allocation. */
WG_INTERNAL void wg_arena_reset(wg_arena *a);
WG_INTERNAL void wg_arena_free(wg_arena *a);

/* --- tensors ------------------------------------------------------------ */
enum {
    WG_F_REQ_GRAD = 1u << 0, /* a gradient flows into it */
    WG_F_PARAM = 1u << 1,    /* lives in a wg_params store */
    WG_F_OWNED = 1u << 2,    /* standalone, from wg_tensor_new() */
    WG_F_POISON = 1u << 3,   /* the poisoned result of a failed tape */
    WG_F_FROZEN = 1u << 4,   /* a parameter excluded from training */
};

typedef struct wg_node wg_node;

struct wg_tensor {
    wg_real *data;
    wg_real *grad;      /* NULL until a gradient exists */
    wg_shape shape;
    int64_t numel;
    unsigned flags;
    char *name;
    wg_node *node;      /* the node that made it, if recorded */
    wg_tape *tape;      /* owner tape, or NULL */
    wg_tensor *aux;     /* an op's companion result (softmax probabilities) */
    const char *op;     /* the op that made it (a static string), or NULL */
};

/* numel of a shape, or -1 if a dimension is negative, the rank is out of
 * range, or the product overflows. */
WG_INTERNAL int64_t wg_shape_numel(const wg_shape *s);
WG_INTERNAL bool wg_shape_eq(const wg_shape *a, const wg_shape *b);
/* "[2 x 3]" into a small rotating static-free buffer owned by the caller */
typedef struct { char s[96]; } wg_shape_buf;
WG_INTERNAL const char *wg_shp(const wg_tensor *t, wg_shape_buf *b);
WG_INTERNAL bool wg_needs_grad(const wg_tensor *t);

/* --- nodes and op descriptors -------------------------------------------- */
#define WG_MAX_INPUTS 8
#define WG_MAX_HP 8

typedef wg_status (*wg_backward_fn)(wg_tape *t, wg_node *n);

/* One per op, listed in ops/op_table.c. */
typedef struct wg_op_desc {
    const char *name;
    int arity;                   /* number of tensor inputs; -1: variable */
    wg_backward_fn backward;
} wg_op_desc;

struct wg_node {
    const wg_op_desc *op;
    wg_node *prev;               /* the node recorded before this one */
    wg_tensor *out;
    wg_tensor *in[WG_MAX_INPUTS];
    int n_in;
    int index;                   /* position on the tape, from 0 */
    int64_t hp[WG_MAX_HP];       /* integer hyperparameters (stride, ...) */
    void *saved;                 /* op-private data in the tape's arena */
    const void *user_op;         /* custom ops: the wg_custom_op */
    void *user_ctx;
};

/* --- the tape (tape.c) ---------------------------------------------------- */
struct wg_tape {
    wg_arena arena;
    wg_node *last;
    int n_nodes;
    bool grad_enabled;
    int64_t slice_first, slice_total; /* wg_tape_set_batch_slice(); total 0: none */
    wg_status status;
    char msg[512];
    wg_tensor poison;
    wg_real poison_data[1];
};

/* Fails the tape (the first error wins) with "op: message". Returns the
 * poisoned tensor, so an op can `return wg_fail(...)`. */
WG_INTERNAL wg_tensor *wg_fail(wg_tape *t, wg_status s, const char *op, const char *fmt, ...)
    WG_PRINTF(4, 5);
WG_INTERNAL wg_tensor *wg_poison(wg_tape *t);
/* Starts an op: false (and the caller returns wg_poison(t)) if the tape has
 * failed, or fails it if an input is NULL or poisoned. */
WG_INTERNAL bool wg_op_begin(wg_tape *t, const char *op, wg_tensor *const *in, int n);
/* Arena memory for the tape; NULL fails the tape with WG_ENOMEM. */
WG_INTERNAL void *wg_tape_alloc(wg_tape *t, const char *op, size_t bytes);
WG_INTERNAL void *wg_tape_calloc(wg_tape *t, const char *op, size_t bytes);
/* A tensor of the given (valid) shape on the tape, values uninitialised. */
WG_INTERNAL wg_tensor *wg_op_output(wg_tape *t, const char *op, wg_shape shape);
/* Whether the op being built must be recorded for backward. */
WG_INTERNAL bool wg_op_recording(const wg_tape *t, wg_tensor *const *in, int n);
/* Records a node making `out` from `in` if any input needs a gradient (and
 * grad mode is on); marks `out` as needing one. Returns the node or NULL
 * when nothing was recorded (or the arena failed, which fails the tape). */
WG_INTERNAL wg_node *wg_op_record(wg_tape *t, const wg_op_desc *d, wg_tensor *out,
                                  wg_tensor *const *in, int n);
/* The input's gradient buffer if it needs one (allocated zeroed on first
 * use during backward), else NULL. */
WG_INTERNAL wg_real *wg_in_grad(wg_tape *t, wg_node *n, int i);
/* The same buffer for an op that writes it completely: on first use it is
 * allocated but not zeroed, and *acc says false, so the op stores its
 * gradient instead of adding it (no zeroing pass, one stream fewer: on
 * wide activations these passes are memory-bound). *acc is true when an
 * earlier consumer (or the tensor's birth, for parameters) filled it. The
 * op must write before it asks for another input's buffer, which may be
 * the same tensor. */
WG_INTERNAL wg_real *wg_in_grad_dst(wg_tape *t, wg_node *n, int i, bool *acc);

/* --- threads and BLAS (threads.c, blas.c) ---------------------------------- */
WG_INTERNAL void wg_lib_init(void);
WG_INTERNAL int wg_threads(void);
/* Index of the first NaN or infinity among n values, or -1. */
WG_INTERNAL int64_t wg_first_nonfinite(const wg_real *v, int64_t n);
/* Whether all n values are finite: a vectorised pass, for the common case. */
WG_INTERNAL bool wg_all_finite(const wg_real *v, int64_t n);
/* Threads for a loop of `work` units: 1 when small, so tiny tensors stay
 * serial. Never affects results: every loop writes disjoint outputs. */
WG_INTERNAL int wg_threads_for(int64_t work);

/* C = alpha op(A) op(B) + beta C, row-major, split into pieces that depend
 * only on the shape, each computed by single-threaded BLAS, in parallel
 * when it pays. */
WG_INTERNAL void wg_gemm(bool trans_a, bool trans_b, int m, int n, int k, wg_real alpha,
                         const wg_real *a, int lda, const wg_real *b, int ldb, wg_real beta,
                         wg_real *c, int ldc);

/* --- vector math (vmath.c) ------------------------------------------------- */
/* The vector instructions the hand-vectorised kernels may use (cpu.c). */
enum { WG_CPU_GENERIC = 0, WG_CPU_AVX2 = 1, WG_CPU_AVX512 = 2 };
WG_INTERNAL int wg_cpu_level(void);

WG_INTERNAL void wg_vtanh(int64_t n, const wg_real *x, wg_real *y);
WG_INTERNAL void wg_vsigmoid(int64_t n, const wg_real *x, wg_real *y);
WG_INTERNAL void wg_vexp(int64_t n, const wg_real *x, wg_real *y);
/* "AVX2 (...)", "AVX-512 (...)" or "libm": which path the functions above take here */
WG_INTERNAL const char *wg_vmath_name(void);

#endif
