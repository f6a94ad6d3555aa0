/**
 * @file wengert.h
 * @brief wengert: tensors, a tape, and reverse-mode differentiation in C.
 *
 * Every op computes its result at once and appends a node to a tape (the
 * Wengert list). One call to wg_backward() walks the tape backwards and adds
 * the gradient of a scalar loss into every parameter that needs one.
 *
 * A complete program (make check compiles and runs exactly this text):
 * @code
 * #include <stdio.h>
 * #include <wengert.h>
 *
 * int main(void)
 * {
 *     wg_params *P = wg_params_new();
 *     wg_tensor *W = wg_param(P, "fc.weight", WG_SHAPE(2, 3));
 *     wg_tensor *b = wg_param(P, "fc.bias", WG_SHAPE(2));
 *     wg_rng rng = wg_rng_seed(42);
 *     wg_params_uniform(P, &rng, -0.5, 0.5);
 *
 *     const wg_real x_data[4 * 3] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
 *     const int32_t labels[4] = {0, 1, 1, 0};
 *     wg_tape *tape = wg_tape_new();
 *     wg_tensor *x = wg_input(tape, x_data, WG_SHAPE(4, 3));
 *     wg_tensor *logits = wg_add(tape, wg_matmul_nt(tape, x, W), b);   // x W^T + b
 *     wg_tensor *loss = wg_softmax_cross_entropy(tape, logits, labels);
 *     if (wg_backward(tape, loss) != WG_OK) {
 *         fprintf(stderr, "%s\n", wg_tape_error(tape));
 *         return 1;
 *     }
 *     printf("loss %.4f, d loss / d fc.bias[0] = %.4f\n",
 *            (double)wg_item(loss), (double)wg_grad(b)[0]);
 *     wg_tape_free(tape);
 *     wg_params_free(P);
 *     return 0;
 * }
 * @endcode
 *
 * @par Precision
 * wg_real is float in libwengert (pkg-config module `wengert`) and double in
 * libwengert-double (`wengert-double`, which defines WG_DOUBLE). The same
 * source compiles against either. Linking a program compiled for one
 * precision against the other library fails at link time instead of
 * computing garbage, because the double library's symbols carry a suffix.
 *
 * @par Errors
 * Calls that can fail return a ::wg_status. Ops never return NULL for a
 * non-NULL tape: once a tape has failed, every further op on it returns a
 * poisoned tensor and does nothing, so checking the tape once after the
 * forward pass (or the result of wg_backward()) is enough. The message,
 * from wg_tape_error(), names the op and the shapes, e.g.
 * `matmul: [64 x 784] @ [785 x 128]: inner dimensions differ`.
 * Constructors that return NULL leave their reason in wg_last_error().
 * The library never prints, aborts or exits on bad input.
 *
 * @par Memory
 * Every `_new` has a `_free`. A tape owns the activations and their
 * gradients in an arena that wg_tape_reset() keeps: once a step at a given
 * batch shape has run, the same step again makes no heap allocation.
 * Parameters live outside tapes, in a ::wg_params store whose values and
 * gradients each sit in one contiguous block.
 *
 * @par Threads
 * Process-wide settings: the allocator (wg_set_allocator()), the thread
 * count (wg_set_num_threads()) and the log callback (wg_set_log()); set them
 * before creating objects, from one thread. Everything else lives in
 * objects: separate tapes and parameter stores may be used from separate
 * threads at once; one object must not be used from two threads at once.
 * Results are bitwise identical whatever the thread count: work is split
 * into pieces that do not depend on it, BLAS runs single-threaded on each
 * piece, and partial sums are reduced in a fixed order.
 */
#ifndef WENGERT_H
#define WENGERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @cond INTERNAL */
#if defined(__GNUC__)
#define WG_API __attribute__((visibility("default")))
#else
#define WG_API
#endif
/* The double library gives every public function a distinct symbol, so a
 * program compiled for one precision cannot link against the other. */
#ifdef WG_DOUBLE
#define WG_SYM(name) name##_double
#else
#define WG_SYM(name) name
#endif
/** @endcond */

/** The real type of tensors: float, or double when WG_DOUBLE is defined. */
#ifdef WG_DOUBLE
typedef double wg_real;
#else
typedef float wg_real;
#endif

/** Most dimensions a tensor may have. */
#define WG_MAX_DIMS 6

/** A shape: its rank and up to ::WG_MAX_DIMS extents. */
typedef struct wg_shape {
    int ndim;                   /**< number of dimensions, 0 for a scalar */
    int64_t dim[WG_MAX_DIMS];   /**< extents, outermost first (row-major) */
} wg_shape;

/** Builds a ::wg_shape from its extents: `WG_SHAPE(64, 1, 28, 28)`. */
#define WG_SHAPE(...)                                                          \
    ((wg_shape){ (int)(sizeof((int64_t[]){ __VA_ARGS__ }) / sizeof(int64_t)),  \
                 { __VA_ARGS__ } })
/** The shape of a scalar (rank 0, one element). */
#define WG_SCALAR ((wg_shape){ 0, { 0 } })

/** Status codes. Zero is success; every other value is an error. */
typedef enum wg_status {
    WG_OK = 0,       /**< success */
    WG_EINVAL = 1,   /**< invalid argument: NULL, bad hyperparameter, ... */
    WG_ESHAPE = 2,   /**< shapes do not fit the op */
    WG_ENOMEM = 3,   /**< out of memory */
    WG_ERANGE = 4,   /**< a value out of range, e.g. a class label */
    WG_ENONFINITE = 5, /**< a NaN or infinity where a finite number is required */
    WG_EIO = 6,      /**< a file could not be read or written */
    WG_EFORMAT = 7,  /**< a file or buffer is not in the expected format */
    WG_ESTATE = 8,   /**< the call does not fit the object's state */
    WG_EGRAD = 9,    /**< a gradient check found a mismatch */
} wg_status;

/** A short constant description of a status code. */
WG_API const char *WG_SYM(wg_strerror)(wg_status s);
#define wg_strerror WG_SYM(wg_strerror)

/** The message of the last failure of a call that has no object to hold it
 *  (constructors returning NULL), for the calling thread. */
WG_API const char *WG_SYM(wg_last_error)(void);
#define wg_last_error WG_SYM(wg_last_error)

/** The library version, "MAJOR.MINOR.PATCH". */
WG_API const char *WG_SYM(wg_version)(void);
#define wg_version WG_SYM(wg_version)

/** A one-line description of the build: precision, BLAS library and the
 *  build of it actually loaded (OpenBLAS: threading model, core type), the
 *  vector instructions the hand-vectorised kernels use ("vector math AVX-512
 *  (own tanh + SLEEF exp)", "AVX2 (...)" or "libm": chosen from the CPU once
 *  per process;
 *  the environment variable WG_CPU=avx2 or WG_CPU=generic caps the choice),
 *  OpenMP, the number of MPI ranks when there are several, thread count
 *  (per rank). */
WG_API const char *WG_SYM(wg_build_info)(void);
#define wg_build_info WG_SYM(wg_build_info)

/* ------------------------------------------------------------------------ */
/** @name Process-wide settings */
/**@{*/

/** Sets the number of threads for wengert's own parallel loops (default:
 *  OMP_NUM_THREADS, else the number of processors). BLAS is always called
 *  single-threaded, on pieces fixed independently of this number, so the
 *  results do not depend on it. Returns WG_EINVAL for n < 1. */
WG_API wg_status WG_SYM(wg_set_num_threads)(int n);
#define wg_set_num_threads WG_SYM(wg_set_num_threads)
/** The thread count in force. */
WG_API int WG_SYM(wg_get_num_threads)(void);
#define wg_get_num_threads WG_SYM(wg_get_num_threads)

/** Allocator functions; `ctx` is passed back unchanged. */
typedef struct wg_allocator {
    void *(*malloc)(size_t size, void *ctx);    /**< like malloc */
    void *(*realloc)(void *p, size_t size, void *ctx); /**< like realloc */
    void (*free)(void *p, void *ctx);            /**< like free */
    void *ctx;                                   /**< user data */
} wg_allocator;

/** Routes every heap allocation the library makes through `a` (NULL
 *  restores the C library's). Set it before creating any object, and free
 *  every object before changing it again. A failing allocation makes the
 *  call that needed it return WG_ENOMEM. */
WG_API void WG_SYM(wg_set_allocator)(const wg_allocator *a);
#define wg_set_allocator WG_SYM(wg_set_allocator)

/** Anomaly mode, off by default: every op's output and every gradient
 *  backward computes is checked for NaN and infinity, and the first op
 *  (by name and position on the tape) that produced one fails the tape
 *  with WG_ENONFINITE. Costs a pass over each tensor; off, it costs
 *  nothing. Also switched on by the environment variable WG_ANOMALY=1. */
WG_API void WG_SYM(wg_set_anomaly)(bool on);
#define wg_set_anomaly WG_SYM(wg_set_anomaly)
/** Whether anomaly mode is on. */
WG_API bool WG_SYM(wg_anomaly)(void);
#define wg_anomaly WG_SYM(wg_anomaly)

/** Log levels. */
typedef enum wg_log_level { WG_LOG_ERROR, WG_LOG_WARN, WG_LOG_INFO } wg_log_level;
/** Receives the library's messages. Without one the library prints nothing. */
typedef void (*wg_log_fn)(wg_log_level level, const char *msg, void *ctx);
/** Installs a log callback (NULL removes it). Every error that is stored on
 *  a tape or in wg_last_error() is also sent here at WG_LOG_ERROR. */
WG_API void WG_SYM(wg_set_log)(wg_log_fn fn, void *ctx);
#define wg_set_log WG_SYM(wg_set_log)

/**@}*/
/* ------------------------------------------------------------------------ */
/** @name Random numbers
 *  A small seeded generator (xoshiro256**), passed explicitly wherever
 *  randomness is used, so the same seed gives the same numbers. */
/**@{*/

/** Generator state; copy it to fork a stream, store it to resume one. */
typedef struct wg_rng { uint64_t s[4]; } wg_rng;
/** @var wg_rng::s
 *  the 256 bits of xoshiro256** state */
/** A generator seeded from a 64-bit seed (expanded with splitmix64). */
WG_API wg_rng WG_SYM(wg_rng_seed)(uint64_t seed);
#define wg_rng_seed WG_SYM(wg_rng_seed)
/** The next 64 random bits. */
WG_API uint64_t WG_SYM(wg_rng_next)(wg_rng *r);
#define wg_rng_next WG_SYM(wg_rng_next)
/** A double uniform in [0, 1). */
WG_API double WG_SYM(wg_rng_uniform)(wg_rng *r);
#define wg_rng_uniform WG_SYM(wg_rng_uniform)
/** A standard normal double. */
WG_API double WG_SYM(wg_rng_normal)(wg_rng *r);
#define wg_rng_normal WG_SYM(wg_rng_normal)
/** An integer uniform in [0, n), without modulo bias; 0 if n is 0. */
WG_API uint64_t WG_SYM(wg_rng_below)(wg_rng *r, uint64_t n);
#define wg_rng_below WG_SYM(wg_rng_below)

/**@}*/
/* ------------------------------------------------------------------------ */
/** @name Tensors
 *  A tensor is row-major with up to ::WG_MAX_DIMS dimensions. Tensors made
 *  by ops belong to their tape and live until its reset or free; parameters
 *  belong to their ::wg_params store. */
/**@{*/

/** A tensor (opaque). */
typedef struct wg_tensor wg_tensor;

/** Its shape. */
WG_API wg_shape WG_SYM(wg_shape_of)(const wg_tensor *t);
#define wg_shape_of WG_SYM(wg_shape_of)
/** Its number of dimensions. */
WG_API int WG_SYM(wg_ndim)(const wg_tensor *t);
#define wg_ndim WG_SYM(wg_ndim)
/** Extent of dimension `i`; negative `i` counts from the end. 0 if out of range. */
WG_API int64_t WG_SYM(wg_dim)(const wg_tensor *t, int i);
#define wg_dim WG_SYM(wg_dim)
/** Its number of elements. */
WG_API int64_t WG_SYM(wg_numel)(const wg_tensor *t);
#define wg_numel WG_SYM(wg_numel)
/** Its values, row-major. Writable for parameters and inputs. */
WG_API wg_real *WG_SYM(wg_data)(const wg_tensor *t);
#define wg_data WG_SYM(wg_data)
/** Its gradient (same layout as the values), or NULL while it has none:
 *  tensors that need no gradient (inputs, frozen parameters) have none,
 *  and an activation's gradient exists only after wg_backward(). */
WG_API wg_real *WG_SYM(wg_grad)(const wg_tensor *t);
#define wg_grad WG_SYM(wg_grad)
/** The value of a one-element tensor (NaN if it has more). */
WG_API wg_real WG_SYM(wg_item)(const wg_tensor *t);
#define wg_item WG_SYM(wg_item)
/** Its name, or NULL: a parameter's full name, or the name given to an
 *  activation with wg_set_name(). */
WG_API const char *WG_SYM(wg_name)(const wg_tensor *t);
#define wg_name WG_SYM(wg_name)
/** Whether a gradient flows into this tensor. */
WG_API bool WG_SYM(wg_requires_grad)(const wg_tensor *t);
#define wg_requires_grad WG_SYM(wg_requires_grad)
/** Writes "[64 x 1 x 28 x 28]" into buf (always terminated). */
WG_API const char *WG_SYM(wg_shape_str)(wg_shape s, char *buf, size_t size);
#define wg_shape_str WG_SYM(wg_shape_str)

/**@}*/
/* ------------------------------------------------------------------------ */
/** @name Parameters
 *  A store of named parameters. Values and gradients each sit in one
 *  contiguous block, in the order the parameters were added (the order of
 *  a PyTorch state_dict when the names follow it). Adding a parameter may
 *  move the blocks: take data pointers after the last wg_param(). */
/**@{*/

/** A parameter store (opaque). */
typedef struct wg_params wg_params;

/** An empty store; NULL (see wg_last_error()) on failure. */
WG_API wg_params *WG_SYM(wg_params_new)(void);
#define wg_params_new WG_SYM(wg_params_new)
/** Frees the store and its parameters. NULL is fine. */
WG_API void WG_SYM(wg_params_free)(wg_params *p);
#define wg_params_free WG_SYM(wg_params_free)
/** Adds a zero-filled parameter named `name` (copied; e.g. "conv1.weight").
 *  NULL on a duplicate or empty name, a bad shape or no memory (see
 *  wg_last_error()); the store is unchanged then. */
WG_API wg_tensor *WG_SYM(wg_param)(wg_params *p, const char *name, wg_shape shape);
#define wg_param WG_SYM(wg_param)
/** Number of parameters. */
WG_API int WG_SYM(wg_params_count)(const wg_params *p);
#define wg_params_count WG_SYM(wg_params_count)
/** The i-th parameter in insertion order, or NULL. */
WG_API wg_tensor *WG_SYM(wg_params_at)(const wg_params *p, int i);
#define wg_params_at WG_SYM(wg_params_at)
/** The parameter with this exact name, or NULL. */
WG_API wg_tensor *WG_SYM(wg_params_find)(const wg_params *p, const char *name);
#define wg_params_find WG_SYM(wg_params_find)
/** Total number of scalar values over all parameters. */
WG_API int64_t WG_SYM(wg_params_numel)(const wg_params *p);
#define wg_params_numel WG_SYM(wg_params_numel)
/** The contiguous block of all values (wg_params_numel() of them). */
WG_API wg_real *WG_SYM(wg_params_values)(const wg_params *p);
#define wg_params_values WG_SYM(wg_params_values)
/** The contiguous block of all gradients, in the same order. */
WG_API wg_real *WG_SYM(wg_params_grads)(const wg_params *p);
#define wg_params_grads WG_SYM(wg_params_grads)
/** Sets every gradient to zero (gradients accumulate across backward calls). */
WG_API void WG_SYM(wg_params_zero_grad)(wg_params *p);
#define wg_params_zero_grad WG_SYM(wg_params_zero_grad)
/** Fills every value uniformly in [lo, hi) from `rng`. */
WG_API void WG_SYM(wg_params_uniform)(wg_params *p, wg_rng *rng, double lo, double hi);
#define wg_params_uniform WG_SYM(wg_params_uniform)
/** Freezes (true) or unfreezes the parameters whose name starts with
 *  `prefix` ("" matches all): a frozen parameter gets no gradient and the
 *  optimizers skip it. Returns how many matched. */
WG_API int WG_SYM(wg_params_freeze)(wg_params *p, const char *prefix, bool frozen);
#define wg_params_freeze WG_SYM(wg_params_freeze)

/** A standalone tensor owned by the caller, e.g. an input whose gradient
 *  is wanted, or a buffer for gradient checks; zero-filled. NULL (see
 *  wg_last_error()) on a bad shape or no memory. */
WG_API wg_tensor *WG_SYM(wg_tensor_new)(wg_shape shape, bool requires_grad);
#define wg_tensor_new WG_SYM(wg_tensor_new)
/** Frees a tensor from wg_tensor_new(). NULL is fine; tensors of tapes and
 *  stores are not to be freed this way (it does nothing for them). */
WG_API void WG_SYM(wg_tensor_free)(wg_tensor *t);
#define wg_tensor_free WG_SYM(wg_tensor_free)
/** Sets every gradient value of a standalone tensor or parameter to zero. */
WG_API void WG_SYM(wg_zero_grad)(wg_tensor *t);
#define wg_zero_grad WG_SYM(wg_zero_grad)

/**@}*/
/* ------------------------------------------------------------------------ */
/** @name The tape */
/**@{*/

/** A tape (opaque): the record of ops and the memory of their results. */
typedef struct wg_tape wg_tape;

/** A new, empty tape; NULL (see wg_last_error()) without memory. */
WG_API wg_tape *WG_SYM(wg_tape_new)(void);
#define wg_tape_new WG_SYM(wg_tape_new)
/** Frees the tape and every tensor it made. NULL is fine. */
WG_API void WG_SYM(wg_tape_free)(wg_tape *t);
#define wg_tape_free WG_SYM(wg_tape_free)
/** Forgets every node and tensor and clears the error, keeping the memory
 *  (grown, if the last step needed more, to hold it in one piece). */
WG_API void WG_SYM(wg_tape_reset)(wg_tape *t);
#define wg_tape_reset WG_SYM(wg_tape_reset)
/** WG_OK, or the first error an op or backward met on this tape. */
WG_API wg_status WG_SYM(wg_tape_status)(const wg_tape *t);
#define wg_tape_status WG_SYM(wg_tape_status)
/** The message of that error ("" when none). */
WG_API const char *WG_SYM(wg_tape_error)(const wg_tape *t);
#define wg_tape_error WG_SYM(wg_tape_error)
/** Turns recording for backward on (the default) or off. Off is inference
 *  mode: ops compute their outputs but save nothing for backward and mark
 *  no output as needing a gradient. Returns the previous setting. */
WG_API bool WG_SYM(wg_tape_set_grad)(wg_tape *t, bool enabled);
#define wg_tape_set_grad WG_SYM(wg_tape_set_grad)
/** Declares that the batches on this tape are rows `first` to
 *  `first + n - 1` of global batches of `total` rows (data-parallel
 *  training: wg_dist_shard()); `total` 0 removes the declaration. Ops that
 *  draw random numbers per element (dropout) then draw the generator's
 *  stream for the whole global batch and keep their rows, so each image's
 *  mask is the one a single process would draw at its position in the
 *  global batch, and the generators of all ranks end in the same state.
 *  Kept across resets. WG_EINVAL for negative values or first > total. */
WG_API wg_status WG_SYM(wg_tape_set_batch_slice)(wg_tape *t, int64_t first, int64_t total);
#define wg_tape_set_batch_slice WG_SYM(wg_tape_set_batch_slice)
/** Number of nodes recorded since the last reset. */
WG_API int WG_SYM(wg_tape_size)(const wg_tape *t);
#define wg_tape_size WG_SYM(wg_tape_size)
/** Bytes the tape holds now and the most it has held. */
WG_API void WG_SYM(wg_tape_memory)(const wg_tape *t, size_t *held, size_t *peak);
#define wg_tape_memory WG_SYM(wg_tape_memory)

/** A tensor on the tape holding a copy of `data` (numel of `shape` values),
 *  needing no gradient. */
WG_API wg_tensor *WG_SYM(wg_input)(wg_tape *t, const wg_real *data, wg_shape shape);
#define wg_input WG_SYM(wg_input)
/** Names the tensor and the node that made it (e.g. the layer "conv1");
 *  the name is copied. Returns `x`, so calls nest. */
WG_API wg_tensor *WG_SYM(wg_set_name)(wg_tensor *x, const char *name);
#define wg_set_name WG_SYM(wg_set_name)

/** Walks the tape backwards from the one-element tensor `loss`, whose
 *  gradient is seeded with 1, and adds d loss / d x into the gradient of
 *  every parameter and tensor x that requires one. Gradients accumulate:
 *  zero them between steps (optimizers do). Returns the tape's error if
 *  the forward pass failed, WG_ENONFINITE naming the op if the loss is NaN
 *  or infinite, WG_ESHAPE if `loss` has more than one element. */
WG_API wg_status WG_SYM(wg_backward)(wg_tape *t, wg_tensor *loss);
#define wg_backward WG_SYM(wg_backward)
/** Like wg_backward() for a tensor `y` of any shape, seeding its gradient
 *  with `dy` (numel(y) values): a vector-Jacobian product. */
WG_API wg_status WG_SYM(wg_backward_from)(wg_tape *t, wg_tensor *y, const wg_real *dy);
#define wg_backward_from WG_SYM(wg_backward_from)

/**@}*/
/* ------------------------------------------------------------------------ */
/** @name Ops
 *  Each computes its result now and records a node for backward. Shapes
 *  follow PyTorch: NCHW activations, OIHW convolution weights. */
/**@{*/

/** a @ b: [M x K] @ [K x N] -> [M x N]. */
WG_API wg_tensor *WG_SYM(wg_matmul)(wg_tape *t, wg_tensor *a, wg_tensor *b);
#define wg_matmul WG_SYM(wg_matmul)
/** a @ bᵀ: [M x K] @ [N x K]ᵀ -> [M x N]; a linear layer is
 *  wg_add(t, wg_matmul_nt(t, x, W), b) with W [out x in]. */
WG_API wg_tensor *WG_SYM(wg_matmul_nt)(wg_tape *t, wg_tensor *a, wg_tensor *b);
#define wg_matmul_nt WG_SYM(wg_matmul_nt)
/** aᵀ @ b: [K x M]ᵀ @ [K x N] -> [M x N]. */
WG_API wg_tensor *WG_SYM(wg_matmul_tn)(wg_tape *t, wg_tensor *a, wg_tensor *b);
#define wg_matmul_tn WG_SYM(wg_matmul_tn)

/** a + b, element-wise, with broadcasting: shapes are aligned from the
 *  right and each pair of extents must be equal or one of them 1, as in
 *  PyTorch. A bias over rows is [C] with [N x C]; over the channels of an
 *  NCHW tensor it is [C x 1 x 1]. */
WG_API wg_tensor *WG_SYM(wg_add)(wg_tape *t, wg_tensor *a, wg_tensor *b);
#define wg_add WG_SYM(wg_add)
/** a - b, element-wise, broadcasting as wg_add(). */
WG_API wg_tensor *WG_SYM(wg_sub)(wg_tape *t, wg_tensor *a, wg_tensor *b);
#define wg_sub WG_SYM(wg_sub)
/** a * b, element-wise, broadcasting as wg_add(). */
WG_API wg_tensor *WG_SYM(wg_mul)(wg_tape *t, wg_tensor *a, wg_tensor *b);
#define wg_mul WG_SYM(wg_mul)

/** The sum of all elements, as a scalar. */
WG_API wg_tensor *WG_SYM(wg_sum)(wg_tape *t, wg_tensor *x);
#define wg_sum WG_SYM(wg_sum)
/** The mean of all elements, as a scalar. */
WG_API wg_tensor *WG_SYM(wg_mean)(wg_tape *t, wg_tensor *x);
#define wg_mean WG_SYM(wg_mean)

/** 1 / (1 + e^-x), element-wise. */
WG_API wg_tensor *WG_SYM(wg_sigmoid)(wg_tape *t, wg_tensor *x);
#define wg_sigmoid WG_SYM(wg_sigmoid)
/** tanh(x), element-wise. */
WG_API wg_tensor *WG_SYM(wg_tanh)(wg_tape *t, wg_tensor *x);
#define wg_tanh WG_SYM(wg_tanh)
/** max(x, 0), element-wise; its gradient at 0 is 0. */
WG_API wg_tensor *WG_SYM(wg_relu)(wg_tape *t, wg_tensor *x);
#define wg_relu WG_SYM(wg_relu)

/** max(x, 0) + slope min(x, 0), element-wise, as PyTorch's leaky_relu; its
 *  gradient is 1 for x > 0, else `slope`. */
WG_API wg_tensor *WG_SYM(wg_leaky_relu)(wg_tape *t, wg_tensor *x, double slope);
#define wg_leaky_relu WG_SYM(wg_leaky_relu)

/** Inverted dropout: in training, each element is zeroed with probability
 *  `p` and the others scaled by 1 / (1 - p), the mask drawn from `rng` and
 *  kept for backward; not in training (or p = 0) it returns x unchanged.
 *  p must be in [0, 1). */
WG_API wg_tensor *WG_SYM(wg_dropout)(wg_tape *t, wg_tensor *x, double p, bool training,
                                     wg_rng *rng);
#define wg_dropout WG_SYM(wg_dropout)

/** Convolution settings: stride per dimension and zero padding per side. */
typedef struct wg_conv2d_opts {
    int stride_h, stride_w;                 /**< >= 1 */
    int pad_top, pad_bottom, pad_left, pad_right; /**< >= 0 */
} wg_conv2d_opts;
/** @var wg_conv2d_opts::stride_h
 *  vertical stride, >= 1 (stride_w: horizontal) */
/** @var wg_conv2d_opts::pad_top
 *  zero rows above the input, >= 0 */
/** @var wg_conv2d_opts::pad_bottom
 *  zero rows below the input, >= 0 */
/** @var wg_conv2d_opts::pad_left
 *  zero columns left of the input, >= 0 (pad_right: right of it) */
/** 2-D cross-correlation, as PyTorch's conv2d: x [N x C x H x W], weight
 *  [O x C x KH x KW], bias [O] or NULL -> [N x O x OH x OW] with
 *  OH = (H + pad_top + pad_bottom - KH) / stride_h + 1 (floor), likewise OW. */
WG_API wg_tensor *WG_SYM(wg_conv2d_ex)(wg_tape *t, wg_tensor *x, wg_tensor *weight,
                                       wg_tensor *bias, wg_conv2d_opts opts);
#define wg_conv2d_ex WG_SYM(wg_conv2d_ex)
/** wg_conv2d_ex() with the same stride and the same padding everywhere. */
WG_API wg_tensor *WG_SYM(wg_conv2d)(wg_tape *t, wg_tensor *x, wg_tensor *weight,
                                    wg_tensor *bias, int stride, int padding);
#define wg_conv2d WG_SYM(wg_conv2d)

/** 2-D max pooling without padding, as PyTorch's max_pool2d: x [N x C x H x W]
 *  -> [N x C x OH x OW], OH = (H - kh) / stride_h + 1 (floor). Ties go to
 *  the first maximum in row-major window order; a NaN propagates. */
WG_API wg_tensor *WG_SYM(wg_maxpool2d_ex)(wg_tape *t, wg_tensor *x, int kh, int kw,
                                          int stride_h, int stride_w);
#define wg_maxpool2d_ex WG_SYM(wg_maxpool2d_ex)
/** wg_maxpool2d_ex() with a square kernel and stride. */
WG_API wg_tensor *WG_SYM(wg_maxpool2d)(wg_tape *t, wg_tensor *x, int kernel, int stride);
#define wg_maxpool2d WG_SYM(wg_maxpool2d)

/** Softmax over each row of `logits` [N x C] followed by the cross-entropy
 *  with class `labels` (N values in [0, C)), averaged over the batch: a
 *  scalar. Fused and numerically stable; its gradient is (p - onehot) / N.
 *  Labels out of range fail with WG_ERANGE naming the row and the label. */
WG_API wg_tensor *WG_SYM(wg_softmax_cross_entropy)(wg_tape *t, wg_tensor *logits,
                                                   const int32_t *labels);
#define wg_softmax_cross_entropy WG_SYM(wg_softmax_cross_entropy)
/** The softmax probabilities [N x C] computed by the
 *  wg_softmax_cross_entropy() that produced `loss`, or NULL. */
WG_API wg_tensor *WG_SYM(wg_softmax_cross_entropy_probs)(const wg_tensor *loss);
#define wg_softmax_cross_entropy_probs WG_SYM(wg_softmax_cross_entropy_probs)

/** Mean squared error over all elements: mean((pred - target)^2), a scalar.
 *  Both must have the same shape; both may need gradients. */
WG_API wg_tensor *WG_SYM(wg_mse)(wg_tape *t, wg_tensor *pred, wg_tensor *target);
#define wg_mse WG_SYM(wg_mse)

/** The same values under another shape with the same number of elements;
 *  one extent may be -1, to be inferred. */
WG_API wg_tensor *WG_SYM(wg_reshape)(wg_tape *t, wg_tensor *x, wg_shape shape);
#define wg_reshape WG_SYM(wg_reshape)
/** [N x ...] -> [N x rest]: keeps the first dimension, joins the others. */
WG_API wg_tensor *WG_SYM(wg_flatten)(wg_tape *t, wg_tensor *x);
#define wg_flatten WG_SYM(wg_flatten)

/** Number of built-in op kinds (each with a forward and a backward). */
WG_API int WG_SYM(wg_op_count)(void);
#define wg_op_count WG_SYM(wg_op_count)
/** The name of op kind `i` in [0, wg_op_count()), as used in messages. */
WG_API const char *WG_SYM(wg_op_name)(int i);
#define wg_op_name WG_SYM(wg_op_name)

/**@}*/
/* ------------------------------------------------------------------------ */
/** @name Ops of your own
 *  A custom op is recorded and differentiated like a built-in one. */
/**@{*/

/** A user-defined op. Both callbacks receive the inputs, the output and
 *  the `ctx` given to wg_custom(). */
typedef struct wg_custom_op {
    /** Name used in error messages and tape listings. */
    const char *name;
    /** Fills wg_data(out) from the inputs' values. Returns WG_OK or an error
     *  that fails the tape. */
    wg_status (*forward)(wg_tensor *const *in, int n_in, wg_tensor *out, void *ctx);
    /** Adds d loss / d in[i] into wg_grad(in[i]) for each input whose
     *  wg_grad() is not NULL, from wg_grad(out) and the saved values.
     *  May be NULL if the op is never differentiated. */
    wg_status (*backward)(wg_tensor *const *in, int n_in, wg_tensor *out, void *ctx);
} wg_custom_op;

/** Records a custom op with inputs `in[0..n_in)` (at most 8) and an output
 *  of shape `out_shape`. `op` and `ctx` must outlive the tape's next reset. */
WG_API wg_tensor *WG_SYM(wg_custom)(wg_tape *t, const wg_custom_op *op, wg_tensor *const *in,
                                    int n_in, wg_shape out_shape, void *ctx);
#define wg_custom WG_SYM(wg_custom)

/**@}*/
/* ------------------------------------------------------------------------ */
/** @name Gradient check */
/**@{*/

/** Builds a result from `inputs` on `tape`; called many times by
 *  wg_gradcheck() with perturbed input values. Returns any tensor. */
typedef wg_tensor *(*wg_check_fn)(wg_tape *tape, wg_tensor *const *inputs, int n, void *ctx);

/** Settings of wg_gradcheck(); zero fields take the defaults. */
typedef struct wg_gradcheck_opts {
    double eps;    /**< central-difference step (default 1e-6 double, 1e-2 float) */
    double rtol;   /**< relative tolerance (default 1e-6 double, 2e-2 float) */
    double atol;   /**< absolute tolerance (default 1e-8 double, 1e-3 float) */
    uint64_t seed; /**< seed of the random projection (default 1) */
    int max_checks;/**< elements checked per input at most, spread evenly (0: all) */
} wg_gradcheck_opts;

/** Where a gradient check found its worst element. */
typedef struct wg_gradcheck_report {
    int checked;        /**< elements compared */
    int worst_input;    /**< index into `inputs` of the worst element */
    int64_t worst_index;/**< its flat index */
    double analytic;    /**< the tape's gradient there */
    double numeric;     /**< the central difference there */
    double worst_ratio; /**< |analytic - numeric| / (atol + rtol * max(|a|,|n|)); > 1 fails */
    char message[256];  /**< a sentence describing the worst element */
} wg_gradcheck_report;

/** Compares the tape's gradients with central differences of
 *  s = sum(fn(inputs) * R), R a fixed random projection drawn from
 *  opts->seed, for every element of every input that requires a gradient
 *  (standalone tensors or parameters, whose values are perturbed and
 *  restored). Returns WG_OK if every element is within tolerance,
 *  WG_EGRAD if not (report says where), or the error fn's tape met.
 *  `opts` and `report` may be NULL. */
WG_API wg_status WG_SYM(wg_gradcheck)(wg_check_fn fn, void *ctx, wg_tensor *const *inputs, int n,
                                      const wg_gradcheck_opts *opts, wg_gradcheck_report *report);
#define wg_gradcheck WG_SYM(wg_gradcheck)

/**@}*/

/* ------------------------------------------------------------------------ */
/** @name Layers
 *  A layer creates its parameters in a store under PyTorch's names
 *  (`<name>.weight`, `<name>.bias`) and layouts, initialised like
 *  PyTorch's defaults, and applies them on a tape. Its output tensor is
 *  named after the layer, so it can be found on the tape. */
/**@{*/

/** How a layer's parameters start. */
typedef enum wg_init {
    /** PyTorch's default: weights kaiming-uniform with a = √5, that is
     *  U(±1/√fan_in), biases U(±1/√fan_in). */
    WG_INIT_DEFAULT = 0,
    /** Xavier/Glorot uniform weights, U(±√(6/(fan_in + fan_out))); zero biases. */
    WG_INIT_XAVIER = 1,
} wg_init;

/** A fully connected layer: y = x Wᵀ + b, W [out x in], b [out]. */
typedef struct wg_linear {
    wg_tensor *weight;  /**< [out x in] */
    wg_tensor *bias;    /**< [out], or NULL without bias */
    char name[64];      /**< the layer's name, e.g. "fc1" */
} wg_linear;

/** Creates `<name>.weight` and (if `bias`) `<name>.bias` in `p`, drawn from
 *  `rng`. Returns WG_OK, or an error (see wg_last_error()) leaving `p`
 *  without the layer's parameters if the weight could not be added. */
WG_API wg_status WG_SYM(wg_linear_init)(wg_linear *l, wg_params *p, const char *name, int in,
                                        int out, bool bias, wg_init init, wg_rng *rng);
#define wg_linear_init WG_SYM(wg_linear_init)
/** x [N x in] -> x Wᵀ + b [N x out], named after the layer. */
WG_API wg_tensor *WG_SYM(wg_linear_apply)(wg_tape *t, const wg_linear *l, wg_tensor *x);
#define wg_linear_apply WG_SYM(wg_linear_apply)

/** A convolution layer: weight [out x in x k x k], bias [out]. */
typedef struct wg_conv2d_layer {
    wg_tensor *weight;  /**< [out x in x kernel x kernel] (OIHW) */
    wg_tensor *bias;    /**< [out], or NULL */
    int stride, padding;
    char name[64];      /**< the layer's name, e.g. "conv1" */
} wg_conv2d_layer;
/** @var wg_conv2d_layer::stride
 *  the stride in both dimensions */
/** @var wg_conv2d_layer::padding
 *  zero padding on each side */

/** Creates `<name>.weight` and (if `bias`) `<name>.bias` in `p`. */
WG_API wg_status WG_SYM(wg_conv2d_layer_init)(wg_conv2d_layer *l, wg_params *p, const char *name,
                                              int in, int out, int kernel, int stride,
                                              int padding, bool bias, wg_init init, wg_rng *rng);
#define wg_conv2d_layer_init WG_SYM(wg_conv2d_layer_init)
/** x [N x in x H x W] -> the convolution, named after the layer. */
WG_API wg_tensor *WG_SYM(wg_conv2d_layer_apply)(wg_tape *t, const wg_conv2d_layer *l,
                                                wg_tensor *x);
#define wg_conv2d_layer_apply WG_SYM(wg_conv2d_layer_apply)

/** Element-wise activations a model can be built with. */
typedef enum wg_activation {
    WG_ACT_SIGMOID, WG_ACT_TANH, WG_ACT_RELU, WG_ACT_NONE
} wg_activation;
/** Applies `a` to x and names the result `<layer>.<activation>` (e.g.
 *  "fc1.sigmoid"); WG_ACT_NONE returns x. */
WG_API wg_tensor *WG_SYM(wg_activate)(wg_tape *t, wg_activation a, wg_tensor *x, const char *layer);
#define wg_activate WG_SYM(wg_activate)
/** "sigmoid", "tanh", "relu" or "none". */
WG_API const char *WG_SYM(wg_activation_name)(wg_activation a);
#define wg_activation_name WG_SYM(wg_activation_name)
/** Parses an activation name; WG_EINVAL if unknown. */
WG_API wg_status WG_SYM(wg_activation_parse)(const char *name, wg_activation *a);
#define wg_activation_parse WG_SYM(wg_activation_parse)

/**@}*/
/* ------------------------------------------------------------------------ */
/** @name Models
 *  A model is an ordered store of named parameters, a forward function
 *  written as plain C, and the description needed to rebuild it (its kind
 *  and hyperparameters). The built-in models are in models/ and are short
 *  files meant to be copied as templates. */
/**@{*/

/** A model (opaque). */
typedef struct wg_model wg_model;

/** A model's forward pass: from input x to the output (logits for
 *  classifiers, the reconstruction for autoencoders). `state` is the
 *  pointer given to wg_model_new(). */
typedef wg_tensor *(*wg_forward_fn)(wg_model *m, wg_tape *t, wg_tensor *x, void *state);

/** A new, empty model of kind `kind` (e.g. "lenet5", or your own name)
 *  with a generator seeded from `seed`. `state` is handed to `forward`;
 *  if `free_state` is not NULL, wg_model_free() calls it on `state`.
 *  NULL (see wg_last_error()) on failure. */
WG_API wg_model *WG_SYM(wg_model_new)(const char *kind, wg_forward_fn forward, void *state,
                                      void (*free_state)(void *), uint64_t seed);
#define wg_model_new WG_SYM(wg_model_new)
/** Frees the model, its parameters and its state. NULL is fine. */
WG_API void WG_SYM(wg_model_free)(wg_model *m);
#define wg_model_free WG_SYM(wg_model_free)
/** Its parameter store. */
WG_API wg_params *WG_SYM(wg_model_params)(const wg_model *m);
#define wg_model_params WG_SYM(wg_model_params)
/** Its generator, for initialisation and anything random in training. */
WG_API wg_rng *WG_SYM(wg_model_rng)(wg_model *m);
#define wg_model_rng WG_SYM(wg_model_rng)
/** Its kind: "mlp", "lenet5", "autoencoder", "softmax", or a user's. */
WG_API const char *WG_SYM(wg_model_kind)(const wg_model *m);
#define wg_model_kind WG_SYM(wg_model_kind)
/** Records a hyperparameter needed to rebuild the model (stored in
 *  checkpoints): an integer or a string. Returns WG_OK or WG_ENOMEM. */
WG_API wg_status WG_SYM(wg_model_set_int)(wg_model *m, const char *key, int64_t value);
#define wg_model_set_int WG_SYM(wg_model_set_int)
/** Records a string hyperparameter, as wg_model_set_int(); the value is
 *  copied and must need no JSON escaping (WG_EINVAL otherwise). */
WG_API wg_status WG_SYM(wg_model_set_str)(wg_model *m, const char *key, const char *value);
#define wg_model_set_str WG_SYM(wg_model_set_str)
/** A recorded hyperparameter, or `fallback` / NULL when absent. */
WG_API int64_t WG_SYM(wg_model_get_int)(const wg_model *m, const char *key, int64_t fallback);
#define wg_model_get_int WG_SYM(wg_model_get_int)
/** A recorded string hyperparameter, or NULL when absent (or an integer). */
WG_API const char *WG_SYM(wg_model_get_str)(const wg_model *m, const char *key);
#define wg_model_get_str WG_SYM(wg_model_get_str)
/** The kind and hyperparameters as a JSON object, e.g.
 *  {"kind":"mlp","in":784,"hidden":128,"out":10,"activation":"sigmoid"}.
 *  Valid until the model changes or is freed. */
WG_API const char *WG_SYM(wg_model_arch_json)(wg_model *m);
#define wg_model_arch_json WG_SYM(wg_model_arch_json)
/** Sets training mode (the default) or evaluation mode, as PyTorch's
 *  model.train() / model.eval(): dropout is active only in training. */
WG_API void WG_SYM(wg_model_set_training)(wg_model *m, bool training);
#define wg_model_set_training WG_SYM(wg_model_set_training)
/** Whether the model is in training mode. */
WG_API bool WG_SYM(wg_model_training)(const wg_model *m);
#define wg_model_training WG_SYM(wg_model_training)

/** Runs the forward pass on `t`. */
WG_API wg_tensor *WG_SYM(wg_model_forward)(wg_model *m, wg_tape *t, wg_tensor *x);
#define wg_model_forward WG_SYM(wg_model_forward)

/** The two-layer perceptron: fc1 (in -> hidden), activation, fc2
 *  (hidden -> out). Kind "mlp". */
WG_API wg_model *WG_SYM(wg_mlp)(int in, int hidden, int out, wg_activation act, wg_init init,
                                uint64_t seed);
#define wg_mlp WG_SYM(wg_mlp)
/** LeNet-5 for 1x28x28 input: conv1 (6 5x5, padding 2), tanh, maxpool 2;
 *  conv2 (16 5x5), tanh, maxpool 2; fc1 400->120, tanh; fc2 120->84, tanh;
 *  fc3 84->classes. 61,706 parameters for 10 classes. Kind "lenet5". */
WG_API wg_model *WG_SYM(wg_lenet5)(int classes, wg_init init, uint64_t seed);
#define wg_lenet5 WG_SYM(wg_lenet5)
/** The four-layer autoencoder: fc1 in->h1, relu, fc2 h1->h2, relu,
 *  fc3 h2->h3, relu, fc4 h3->in, sigmoid. Kind "autoencoder". */
WG_API wg_model *WG_SYM(wg_autoencoder)(int in, int h1, int h2, int h3, wg_init init,
                                        uint64_t seed);
#define wg_autoencoder WG_SYM(wg_autoencoder)
/** Softmax regression: one linear layer fc (in -> classes). Kind "softmax". */
WG_API wg_model *WG_SYM(wg_softmax_regression)(int in, int classes, wg_init init, uint64_t seed);
#define wg_softmax_regression WG_SYM(wg_softmax_regression)
/** Rebuilds a built-in model from its kind and hyperparameters as
 *  wg_model_arch_json() writes them, with fresh parameters from `seed`. */
WG_API wg_model *WG_SYM(wg_model_from_json)(const char *json, uint64_t seed);
#define wg_model_from_json WG_SYM(wg_model_from_json)

/**@}*/
/* ------------------------------------------------------------------------ */
/** @name Optimizers
 *  An optimizer updates the parameters of a store from their gradients,
 *  skipping frozen ones, then zeroes the gradients. The update rules are
 *  torch.optim's (1.13), step for step, with one difference: the state
 *  (SGD's momentum buffer, Adam's moments) is flushed to zero where it
 *  falls below the smallest normal number, because arithmetic on
 *  subnormals is two orders of magnitude slower on x86 and a buffer whose
 *  gradient stopped decays into that range (the update of the parameter
 *  it drops is below the parameter's own resolution unless it is near 0). */
/**@{*/

/** An optimizer (opaque). */
typedef struct wg_optim wg_optim;

/** SGD settings, as torch.optim.SGD. */
typedef struct wg_sgd_opts {
    double lr;            /**< learning rate (> 0) */
    double momentum;      /**< 0 for none */
    double dampening;     /**< damping of the momentum's new term */
    double weight_decay;  /**< L2 penalty added to the gradient */
    bool nesterov;        /**< Nesterov momentum (needs momentum > 0, dampening 0) */
} wg_sgd_opts;
/** Adam settings, as torch.optim.Adam / AdamW. Zero fields take the
 *  defaults betas (0.9, 0.999), eps 1e-8. */
typedef struct wg_adam_opts {
    double lr;            /**< learning rate (> 0) */
    double beta1, beta2;  /**< moment decay rates, in [0, 1) */
    double eps;           /**< added to the denominator */
    double weight_decay;  /**< Adam: L2 added to the gradient; AdamW: decoupled decay */
} wg_adam_opts;
/** @var wg_adam_opts::beta1
 *  decay rate of the first moment, in [0, 1) (beta2: of the second) */

/** SGD over the parameters of `p`. NULL (see wg_last_error()) on bad settings. */
WG_API wg_optim *WG_SYM(wg_sgd)(wg_params *p, wg_sgd_opts opts);
#define wg_sgd WG_SYM(wg_sgd)
/** Adam over the parameters of `p`. */
WG_API wg_optim *WG_SYM(wg_adam)(wg_params *p, wg_adam_opts opts);
#define wg_adam WG_SYM(wg_adam)
/** AdamW (decoupled weight decay) over the parameters of `p`. */
WG_API wg_optim *WG_SYM(wg_adamw)(wg_params *p, wg_adam_opts opts);
#define wg_adamw WG_SYM(wg_adamw)
/** Frees the optimizer (not the parameters). NULL is fine. */
WG_API void WG_SYM(wg_optim_free)(wg_optim *o);
#define wg_optim_free WG_SYM(wg_optim_free)
/** One update of every trainable parameter, then zeroes all gradients.
 *  WG_ESTATE if parameters were added to the store after the optimizer
 *  was created; WG_ENONFINITE (parameters unchanged) if a gradient is NaN
 *  or infinite. */
WG_API wg_status WG_SYM(wg_optim_step)(wg_optim *o);
#define wg_optim_step WG_SYM(wg_optim_step)
/** The learning rate in force / sets it (schedules call this). */
WG_API double WG_SYM(wg_optim_lr)(const wg_optim *o);
#define wg_optim_lr WG_SYM(wg_optim_lr)
/** Sets the learning rate of the next steps (schedules call this). */
WG_API void WG_SYM(wg_optim_set_lr)(wg_optim *o, double lr);
#define wg_optim_set_lr WG_SYM(wg_optim_set_lr)
/** Number of steps taken. */
WG_API int64_t WG_SYM(wg_optim_steps)(const wg_optim *o);
#define wg_optim_steps WG_SYM(wg_optim_steps)
/** "sgd", "adam" or "adamw". */
WG_API const char *WG_SYM(wg_optim_kind)(const wg_optim *o);
#define wg_optim_kind WG_SYM(wg_optim_kind)

/** Scales all gradients of `p` so that their global L2 norm is at most
 *  `max_norm`, as torch.nn.utils.clip_grad_norm_; returns the norm before
 *  clipping (NaN if a gradient is not finite, gradients then unchanged). */
WG_API double WG_SYM(wg_clip_grad_norm)(wg_params *p, double max_norm);
#define wg_clip_grad_norm WG_SYM(wg_clip_grad_norm)

/** A learning-rate schedule: a factor of the base rate per epoch (or per
 *  step: the caller decides what `t` counts). */
typedef struct wg_schedule {
    enum { WG_SCHED_CONSTANT, WG_SCHED_STEP, WG_SCHED_COSINE } kind; /**< the shape */
    int step_size;      /**< STEP: multiply by gamma every step_size units */
    double gamma;       /**< STEP: the factor */
    int t_max;          /**< COSINE: units from base rate to min_lr (past it the rate
                             rises again along the cosine, as in PyTorch) */
    double min_lr;      /**< COSINE: the rate reached at t_max */
    int warmup;         /**< linear warm-up over this many units first (0: none) */
    double warmup_start;/**< factor at t = 0 of the warm-up (default 0 means 1/warmup) */
} wg_schedule;
/** The learning rate at `t` for base rate `base`: warm-up factor
 *  min(1, start + (1 - start) t / warmup) times the schedule's value,
 *  matching torch.optim.lr_scheduler's StepLR, CosineAnnealingLR and
 *  LinearLR chained. */
WG_API double WG_SYM(wg_schedule_lr)(const wg_schedule *s, double base, int64_t t);
#define wg_schedule_lr WG_SYM(wg_schedule_lr)

/**@}*/

/* ------------------------------------------------------------------------ */
/** @name Data
 *  Image data sets kept as bytes (uint8 pixels), converted per batch to
 *  pixel / 255 in [0, 1] (no mean/std normalisation, the convention of the
 *  whole library and of its PyTorch tools). */
/**@{*/

/** An image data set. Loaders fill every field; a view made by
 *  wg_dataset_split() shares its parent's bytes. */
typedef struct wg_dataset {
    int64_t count;      /**< number of images */
    int channels;       /**< 1 for IDX files */
    int rows, cols;     /**< image size */
    uint8_t *images;    /**< count x channels x rows x cols bytes, row-major */
    int32_t *labels;    /**< count labels in [0, classes), or NULL */
    int classes;        /**< 1 + the largest label (0 without labels) */
    bool owned;         /**< whether wg_dataset_free() frees the arrays */
} wg_dataset;
/** @var wg_dataset::rows
 *  image height (cols: image width) */

/** Loads an IDX image file (magic 0x00000803, uint8, N x rows x cols) and,
 *  if `labels_path` is not NULL, its IDX label file (0x00000801), plain or
 *  gzip-compressed (detected from the content). Validates magic numbers,
 *  dimensions, sizes, counts and labels; on failure returns WG_EIO or
 *  WG_EFORMAT (WG_ENOMEM, WG_EINVAL for NULL arguments) with a message
 *  naming the file and the problem in wg_last_error(), and `out` is left
 *  empty. */
WG_API wg_status WG_SYM(wg_idx_load)(const char *images_path, const char *labels_path,
                                     wg_dataset *out);
#define wg_idx_load WG_SYM(wg_idx_load)
/** Loads an HDF5 file with a uint8 dataset `images` (N x H x W or
 *  N x C x H x W) and optionally an integer dataset `labels` (N, values in
 *  [0, 65535]), validated like wg_idx_load(). libhdf5's own allocations do
 *  not go through the allocator hook. */
WG_API wg_status WG_SYM(wg_h5_dataset_load)(const char *path, wg_dataset *out);
#define wg_h5_dataset_load WG_SYM(wg_h5_dataset_load)
/** The directory of Fashion-MNIST: `dir` if not NULL, else the environment
 *  variable WG_DATA_DIR if set, else Debian's dataset-fashion-mnist
 *  location, /usr/share/datasets/fashion-mnist. */
WG_API const char *WG_SYM(wg_data_dir)(const char *dir);
#define wg_data_dir WG_SYM(wg_data_dir)
/** Loads the training (60,000) or test (10,000) part of an MNIST-format
 *  directory: train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz],
 *  or t10k-... for the test part. `dir` as for wg_data_dir(). */
WG_API wg_status WG_SYM(wg_mnist_load)(const char *dir, bool train, wg_dataset *out);
#define wg_mnist_load WG_SYM(wg_mnist_load)
/** Frees the arrays of a loaded data set (not of a view) and empties it. */
WG_API void WG_SYM(wg_dataset_free)(wg_dataset *d);
#define wg_dataset_free WG_SYM(wg_dataset_free)
/** Shuffles `d` in place with `seed` and returns as views its first
 *  count - n_val images (`train`) and its last n_val (`val`). Views stay
 *  valid while `d` lives. WG_EINVAL if n_val is not in [0, count]. */
WG_API wg_status WG_SYM(wg_dataset_split)(wg_dataset *d, int64_t n_val, uint64_t seed,
                                          wg_dataset *train, wg_dataset *val);
#define wg_dataset_split WG_SYM(wg_dataset_split)
/** A view of images [start, start + count) of `d`. */
WG_API wg_status WG_SYM(wg_dataset_view)(const wg_dataset *d, int64_t start, int64_t count,
                                         wg_dataset *view);
#define wg_dataset_view WG_SYM(wg_dataset_view)
/** Writes images index[0..n) (NULL: images 0..n) as wg_real pixel / 255
 *  into `x` (n x channels x rows x cols values) and their labels into `y`
 *  (if not NULL). An index out of range gives a black image and label -1,
 *  as does a data set without labels. */
WG_API void WG_SYM(wg_dataset_batch)(const wg_dataset *d, const int64_t *index, int n,
                                     wg_real *x, int32_t *y);
#define wg_dataset_batch WG_SYM(wg_dataset_batch)

/** Iterates over a data set in batches, in a new seeded order each epoch. */
typedef struct wg_batcher wg_batcher;
/** A batcher over `d` (which must outlive it) with batches of `batch`
 *  images (the last of an epoch may be smaller), shuffled if `shuffle`.
 *  Epoch e's order depends only on (seed, e), so a run resumes exactly
 *  from an epoch and a position. NULL (see wg_last_error()) on failure. */
WG_API wg_batcher *WG_SYM(wg_batcher_new)(const wg_dataset *d, int batch, bool shuffle,
                                          uint64_t seed);
#define wg_batcher_new WG_SYM(wg_batcher_new)
/** Frees the batcher (not its data set). NULL is fine. */
WG_API void WG_SYM(wg_batcher_free)(wg_batcher *b);
#define wg_batcher_free WG_SYM(wg_batcher_free)
/** Fills the next batch: x gets n x channels x rows x cols pixels / 255,
 *  y gets n labels (if not NULL). Returns n, or 0 at the end of the epoch
 *  (the next call then starts the next epoch); 0 too for NULL arguments,
 *  with the reason in wg_last_error(). */
WG_API int WG_SYM(wg_batcher_next)(wg_batcher *b, wg_real *x, int32_t *y);
#define wg_batcher_next WG_SYM(wg_batcher_next)
/** The epoch (from 0) and the number of images already served in it. */
WG_API void WG_SYM(wg_batcher_position)(const wg_batcher *b, int64_t *epoch, int64_t *served);
#define wg_batcher_position WG_SYM(wg_batcher_position)
/** Moves to `served` images into epoch `epoch` (as a resumed run does). */
WG_API wg_status WG_SYM(wg_batcher_seek)(wg_batcher *b, int64_t epoch, int64_t served);
#define wg_batcher_seek WG_SYM(wg_batcher_seek)
/** Batches per epoch. */
WG_API int64_t WG_SYM(wg_batcher_batches)(const wg_batcher *b);
#define wg_batcher_batches WG_SYM(wg_batcher_batches)

/**@}*/

/* ------------------------------------------------------------------------ */
/** @name Checkpoints
 *  HDF5 files in the documented `wengert-checkpoint` format
 *  (docs/checkpoint-format.md): the model's parameters under PyTorch's
 *  names and layouts, optionally the optimizer's state and the training
 *  position, and a whole-file CRC. Saving is crash-safe (a temporary file
 *  renamed over the target); loading validates everything before it
 *  changes anything. */
/**@{*/

/** Where training stands, saved with a checkpoint so a run resumes exactly. */
typedef struct wg_train_state {
    int64_t epoch;        /**< epochs completed */
    int64_t global_step;  /**< optimizer steps taken */
    int64_t position;     /**< images already served in the current epoch */
    uint64_t data_seed;   /**< the batcher's seed (epoch e's order depends on it and e) */
    wg_rng rng;           /**< the model's generator (saved from and restored into the
                               model by the checkpoint calls) */
    double base_lr;       /**< the schedule's base learning rate */
    int64_t best_epoch;   /**< early stopping: the best epoch so far (-1: none) */
    double best_val_loss; /**< and its validation loss */
} wg_train_state;

/** What a load matched. Names are listed in `detail`, comma-separated. */
typedef struct wg_load_report {
    int loaded;         /**< parameters loaded */
    int missing;        /**< model parameters absent from the file */
    int unexpected;     /**< file parameters the model does not have */
    int mismatched;     /**< present in both with different shapes */
    char detail[2048];  /**< e.g. "missing: fc3.bias; mismatched: fc3.weight [5 x 84] vs [10 x 84]" */
} wg_load_report;

/** Saves the model's parameters and, when not NULL, the optimizer's state
 *  and the training state to `path`: written to a temporary file in the
 *  same directory, flushed to disk, then renamed over `path`, so a crash at
 *  any instant leaves the previous file intact. Temporary files left by an
 *  earlier killed save of the same path are removed. WG_EIO with the path
 *  and the reason on failure (missing or read-only directory, disk full). */
WG_API wg_status WG_SYM(wg_checkpoint_save)(const char *path, wg_model *m, const wg_optim *opt,
                                            const wg_train_state *ts);
#define wg_checkpoint_save WG_SYM(wg_checkpoint_save)

/** Loads `path` into `m` and, when not NULL, `opt` and `ts`. Everything is
 *  validated first (CRC, format name and version, names, shapes, finite
 *  values, the optimizer's kind); on any error nothing is changed and the
 *  message names the file and the problem. `strict` requires the names to
 *  match exactly; otherwise the parameters that match are loaded and the
 *  others reported (how a classifier's head is replaced for fine-tuning).
 *  `report` may be NULL. */
WG_API wg_status WG_SYM(wg_checkpoint_load)(const char *path, wg_model *m, wg_optim *opt,
                                            wg_train_state *ts, bool strict,
                                            wg_load_report *report);
#define wg_checkpoint_load WG_SYM(wg_checkpoint_load)

/** Builds the built-in model a checkpoint describes (its architecture
 *  string) and loads its parameters strictly. NULL (see wg_last_error())
 *  on failure. */
WG_API wg_model *WG_SYM(wg_checkpoint_load_model)(const char *path);
#define wg_checkpoint_load_model WG_SYM(wg_checkpoint_load_model)

/** Lists a checkpoint's parameters without loading them: calls `fn` with
 *  each name and shape in state_dict order, and copies the architecture
 *  string into `arch` (if not NULL, at most `cap` bytes). */
WG_API wg_status WG_SYM(wg_checkpoint_inspect)(const char *path,
                                               void (*fn)(const char *name, wg_shape shape,
                                                          void *ctx),
                                               void *ctx, char *arch, size_t cap);
#define wg_checkpoint_inspect WG_SYM(wg_checkpoint_inspect)

/**@}*/

/* ------------------------------------------------------------------------ */
/** @name Distributed training
 *  Data-parallel training over MPI (docs/distributed.md): every process
 *  (rank) holds the whole model, takes its shard of each global batch
 *  (wg_dist_shard()), computes the gradient of its shard, and
 *  wg_dist_allreduce_grads() combines the gradients of all ranks, weighted
 *  by shard size, in one MPI_Allreduce over the contiguous gradient block.
 *  Every rank then takes the same optimizer step on the same gradients,
 *  so the parameters stay bitwise identical on all ranks.
 *
 *  These calls exist in every build. In a build without MPI (the default;
 *  `./configure --with-mpi` enables it), and in an MPI build started
 *  without a launcher (mpirun, mpiexec, srun), the program is rank 0 of a
 *  world of 1 and the calls cost nothing, so the same program runs either
 *  way. Collective calls must be made by every rank in the same order;
 *  each one also carries failures, so that an error on one rank stops
 *  all of them instead of leaving the others waiting. */
/**@{*/

/** Most extra sums wg_dist_allreduce_grads() carries with the gradients. */
#define WG_DIST_MAX_SUMS 8

/** Joins the MPI job when the program was started by an MPI launcher
 *  (it calls MPI_Init unless the program already did); otherwise, or
 *  without MPI support, does nothing. `argc` and `argv` may be NULL. Call
 *  it first, before any other wg_dist_ call. Unless OMP_NUM_THREADS is
 *  set, it divides the default thread count (the processors) by the
 *  number of ranks on this machine; wg_set_num_threads() afterwards still
 *  rules. WG_EIO if MPI fails. */
WG_API wg_status WG_SYM(wg_dist_init)(int *argc, char ***argv);
#define wg_dist_init WG_SYM(wg_dist_init)
/** Leaves the MPI job (MPI_Finalize, if wg_dist_init() called MPI_Init).
 *  Every rank must call it, after its last collective call; safe to call
 *  more than once, and without wg_dist_init(). */
WG_API void WG_SYM(wg_dist_finalize)(void);
#define wg_dist_finalize WG_SYM(wg_dist_finalize)
/** This process's rank, 0 to wg_dist_size() - 1 (0 in a world of 1).
 *  By convention rank 0 alone prints and writes files. */
WG_API int WG_SYM(wg_dist_rank)(void);
#define wg_dist_rank WG_SYM(wg_dist_rank)
/** The number of ranks (1 without MPI). */
WG_API int WG_SYM(wg_dist_size)(void);
#define wg_dist_size WG_SYM(wg_dist_size)
/** Whether MPI is in use: built with it and started by a launcher. */
WG_API bool WG_SYM(wg_dist_mpi)(void);
#define wg_dist_mpi WG_SYM(wg_dist_mpi)

/** This rank's contiguous slice of a global batch of `n` images: images
 *  `*first` to `*first + *count - 1`. Ranks in order cover the batch
 *  exactly, and their counts differ by at most 1 (the lower ranks take
 *  the extra images); a rank's count may be 0 when n < wg_dist_size().
 *  Either pointer may be NULL. */
WG_API void WG_SYM(wg_dist_shard)(int64_t n, int64_t *first, int64_t *count);
#define wg_dist_shard WG_SYM(wg_dist_shard)

/** Collective: turns each rank's gradient of its shard into the gradient
 *  of the global batch, on every rank. Call it after wg_backward() and
 *  before the optimizer step, with `local_n` the images of this rank's
 *  shard (its loss being their mean; 0 if it has none: it still must
 *  call) and `global_n` those of the whole batch. Each rank's gradients
 *  are scaled by local_n / global_n and summed over ranks in one
 *  MPI_Allreduce over the contiguous gradient block. `sums` (n_sums of
 *  them, at most ::WG_DIST_MAX_SUMS; NULL when n_sums is 0), e.g. the
 *  shard's summed loss and its correct predictions, are summed over ranks
 *  in the same message and replaced by the totals (carried as ::wg_real).
 *
 *  `status` is this rank's outcome of the step so far (e.g. what
 *  wg_backward() returned). If it is not WG_OK on any rank, no rank may
 *  take the step: this rank gets its own status back, the others
 *  WG_ESTATE ("the step failed on 1 of 2 ranks"), and the gradients are
 *  undefined. WG_EINVAL for a NULL store (without communicating: the
 *  other ranks would wait), for bad counts or sums (this rank's step
 *  fails, and so the others'), and when the shards do not add up to
 *  global_n; WG_EIO if MPI fails. In a world of 1 it only checks its
 *  arguments (local_n must equal global_n) and returns `status`. */
WG_API wg_status WG_SYM(wg_dist_allreduce_grads)(wg_params *p, int64_t local_n,
                                                 int64_t global_n, double *sums, int n_sums,
                                                 wg_status status);
#define wg_dist_allreduce_grads WG_SYM(wg_dist_allreduce_grads)

/** Collective: copies `bytes` bytes at `buf` from rank 0 to every rank. */
WG_API wg_status WG_SYM(wg_dist_broadcast)(void *buf, size_t bytes);
#define wg_dist_broadcast WG_SYM(wg_dist_broadcast)
/** Collective: copies rank 0's parameter values to every rank. Call it at
 *  the start of training and after loading a checkpoint. */
WG_API wg_status WG_SYM(wg_dist_broadcast_params)(wg_params *p);
#define wg_dist_broadcast_params WG_SYM(wg_dist_broadcast_params)
/** Collective: replaces v[0..n) by its sum over all ranks (in double), the
 *  same on every rank; e.g. an evaluation's counts over sharded data. */
WG_API wg_status WG_SYM(wg_dist_sum)(double *v, int n);
#define wg_dist_sum WG_SYM(wg_dist_sum)
/** Collective: whether every rank succeeded. Returns `status` if it is an
 *  error, WG_ESTATE ("failed on 1 of 2 ranks") if another rank's was, else
 *  WG_OK. Call it after anything that can fail on one rank alone (reading
 *  a file, writing one on rank 0) so that all ranks stop together. */
WG_API wg_status WG_SYM(wg_dist_agree)(wg_status status);
#define wg_dist_agree WG_SYM(wg_dist_agree)
/** Collective: WG_OK if the parameter values are bitwise identical on all
 *  ranks (compared through a 64-bit hash of their bytes), else WG_ESTATE.
 *  A cheap guard: the MPI standard does not promise that an Allreduce
 *  gives every rank the same bits (OpenMPI's algorithms do). */
WG_API wg_status WG_SYM(wg_dist_params_equal)(const wg_params *p);
#define wg_dist_params_equal WG_SYM(wg_dist_params_equal)

/**@}*/

/* ------------------------------------------------------------------------ */
/** @name Seeing inside
 *  A model's layers as a table, a recorded tape as a Graphviz picture,
 *  activations fetched by name, and the memory training holds
 *  (docs/inspect.md). A "layer" is a tensor named with wg_set_name(), as
 *  the built-in layers name their outputs ("conv1", "conv1.tanh", "pool1",
 *  ...). Only recorded ops can be seen: a tape in inference mode
 *  (wg_tape_set_grad() off) records nothing, and neither does an op none
 *  of whose inputs needs a gradient. */
/**@{*/

/** The tensor named `name` on the tape: the output of the most recently
 *  recorded op of that name, else an input of a recorded op with that
 *  name (a named input, a parameter), else NULL. After a model's forward
 *  pass this is what a PyTorch forward hook on the module sees: "conv1" is
 *  the convolution's output before its activation, "conv1.tanh" the
 *  activation's. Valid until the tape's next reset. */
WG_API wg_tensor *WG_SYM(wg_tape_find)(const wg_tape *t, const char *name);
#define wg_tape_find WG_SYM(wg_tape_find)

/** Writes the ops recorded on `t` to `path` as a Graphviz DOT graph, data
 *  flowing downwards: one box per op (its position on the tape, its name,
 *  the layer name if its output has one, the output shape), coloured by
 *  kind; parameters as yellow ellipses beside the op that first reads them
 *  (grey and dashed when frozen) and inputs as green parallelograms; the ops and parameters of each layer
 *  with parameters in a box named after it; the final result with a double
 *  border. `title` (NULL: none) goes on top. With `grad_norms`, each op
 *  and parameter that has a gradient also shows its L2 norm: call it after
 *  wg_backward() and before the optimizer zeroes the gradients. Render
 *  with `dot -Tpng file.dot -o file.png`. WG_ESTATE (see wg_last_error())
 *  if nothing is recorded, WG_EIO if the file cannot be written. */
WG_API wg_status WG_SYM(wg_tape_to_dot)(const wg_tape *t, const char *path, const char *title,
                                        bool grad_norms);
#define wg_tape_to_dot WG_SYM(wg_tape_to_dot)

/** One row of a model summary (wg_model_layers()). */
typedef struct wg_layer_info {
    char name[96];   /**< the layer's name; "" for an unnamed op; "input" for the input row */
    char kind[32];   /**< "input", "conv2d", "linear", "maxpool2d", "tanh", "flatten", ... */
    wg_shape shape;  /**< the output shape */
    int64_t params;  /**< parameter values attributed to the layer */
    int64_t macs;    /**< multiply-accumulates of the forward pass */
} wg_layer_info;

/** The layers of `m` for an input of shape `input` (include the batch
 *  dimension; with batch 1 the figures are per image). Runs the forward
 *  pass once on a scratch tape with a zero input that requires a gradient
 *  (so every op is recorded; no backward is run) in the model's current
 *  mode, restoring the model's generator afterwards. Rows: the input,
 *  then one per named tensor and per unnamed conv2d, maxpool2d,
 *  activation, dropout or custom op, in tape order; any other unnamed op
 *  (matmul, add, reshape, ...) counts towards the next row. A layer's kind
 *  is "conv2d" or "linear" (a matmul, with or without a bias add) if its
 *  ops include one, else the op that made it. Parameters go to the row
 *  whose name, followed by '.', starts theirs (the longest such name:
 *  "conv1.weight" to "conv1"), else to the row whose ops first use them;
 *  parameters the forward does not use are in no row. MACs: conv2d
 *  output elements x C_in x KH x KW; a matmul [M x K] @ [K x N] M x N x K;
 *  every other op 0 (pooling comparisons, activations, bias adds are not
 *  multiply-accumulates). Fills at most `cap` rows of `layers` and sets
 *  `*count` to the number of rows there are; WG_ERANGE if more than `cap`,
 *  the forward's error if it fails (message in wg_last_error()). */
WG_API wg_status WG_SYM(wg_model_layers)(wg_model *m, wg_shape input, wg_layer_info *layers,
                                         int cap, int *count);
#define wg_model_layers WG_SYM(wg_model_layers)

/** wg_model_layers() as a text table (name, kind, output shape, parameters,
 *  MACs) with the totals and the trainable and frozen counts, written to
 *  `buf` (always terminated when cap > 0; NULL is fine when cap is 0).
 *  `*len` (if not NULL) gets the length of the whole text; WG_ERANGE if it
 *  did not fit in `cap` bytes (the text is cut), so a caller can retry with
 *  len + 1 bytes. */
WG_API wg_status WG_SYM(wg_model_summary)(wg_model *m, wg_shape input, char *buf, size_t cap,
                                          size_t *len);
#define wg_model_summary WG_SYM(wg_model_summary)

/** Bytes held on the heap by an optimizer: its state (SGD's momentum
 *  buffer when momentum > 0; Adam's two moment buffers) and its
 *  bookkeeping. 0 for NULL. */
WG_API size_t WG_SYM(wg_optim_memory)(const wg_optim *o);
#define wg_optim_memory WG_SYM(wg_optim_memory)

/** Memory held for training, in bytes (see wg_memory_usage()). */
typedef struct wg_memory_info {
    size_t params;     /**< parameter values: wg_params_numel() x sizeof(wg_real) */
    size_t grads;      /**< parameter gradients, the same (frozen ones included) */
    size_t optim;      /**< wg_optim_memory() */
    size_t tape_held;  /**< the tape's arena now (wg_tape_memory()) */
    size_t tape_peak;  /**< the most the arena handed out between two resets */
} wg_memory_info;

/** The memory held by a parameter store, an optimizer and a tape; any of
 *  them may be NULL (its fields are then 0). */
WG_API wg_memory_info WG_SYM(wg_memory_usage)(const wg_params *p, const wg_optim *o,
                                              const wg_tape *t);
#define wg_memory_usage WG_SYM(wg_memory_usage)

/**@}*/

#ifdef __cplusplus
}
#endif
#endif /* WENGERT_H */
