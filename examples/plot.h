/* Pictures for the example programs, as PNG files: line plots and
 * heatmaps are drawn by gnuplot (run through popen, data sent inline),
 * image grids by gnuplot too, with libpng writing a bare grid when
 * gnuplot is missing.
 *
 * Every function returns 0 on success and -1 on failure with the reason in
 * ex_last_error() (gnuplot missing, its error message, a file that cannot
 * be written). A failed picture should be reported as a warning: the
 * training results still count.
 *
 *     if (ex_plot_learning_curves(path, "LeNet-5 on Fashion-MNIST", hist, n) != 0)
 *         fprintf(stderr, "warning: %s\n", ex_last_error());
 */
#ifndef EX_PLOT_H
#define EX_PLOT_H

#include <stdbool.h>
#include "common.h"

/** Whether gnuplot can be run (checked once, then remembered). */
bool ex_plot_available(void);

/* ------------------------------------------------------------ line plots */

/** One line: y[i] against x[i] (x NULL: against 1..n). NAN values leave a
 *  gap; a series whose values are all NAN is left out. */
typedef struct ex_series {
    const char *name;  /**< legend entry */
    const double *x;   /**< n x values, or NULL for 1, 2, ..., n */
    const double *y;   /**< n y values */
    int n;
    bool dashed;       /**< draw dashed (e.g. validation next to training) */
    int color;         /**< index into a fixed 10-colour palette; -1 = by position */
} ex_series;

/** One plot of several series sharing the axes. */
typedef struct ex_panel {
    const char *title;         /**< above the panel (NULL: none) */
    const char *ylabel;        /**< y axis label */
    const ex_series *series;
    int n_series;
    bool percent;              /**< y values are fractions: shown as 0-100 % */
    bool log_y;                /**< logarithmic y axis (for losses spanning decades) */
    bool key_below;            /**< the legend under the plot, in columns (many series) */
} ex_panel;

/** Draws n_panels panels side by side (each about 600 x 480 pixels, taller
 *  when a legend is below) with a common title and x label (e.g. "epoch")
 *  into a PNG file. */
int ex_plot_panels(const char *png, const char *title, const char *xlabel,
                   const ex_panel *panels, int n_panels);

/** Learning curves of one run: loss (left) and accuracy in % (right),
 *  training solid and validation dashed, against the epoch. */
int ex_plot_learning_curves(const char *png, const char *title, const ex_epoch_metrics *m, int n);

/* ------------------------------------------------------------ contours and paths */

/** A path drawn over a contour plot: points (x[i], y[i]), i < n, joined in
 *  order; its start is marked with a circle and its end with a cross. */
typedef struct ex_path {
    const char *name;  /**< legend entry */
    const double *x, *y;
    int n;
    int color;         /**< palette index; -1 = by position */
} ex_path;

/** A function of two variables drawn as a shaded map with contour lines
 *  (z[j * nx + i] at x = x0 + i (x1 - x0) / (nx - 1), y = y0 + j (y1 - y0)
 *  / (ny - 1)), `levels` contour levels spaced evenly in log(z - min z)
 *  so that both the valley and the slopes show, and paths over it (e.g.
 *  of gradient descent). `zlabel` names the shading's colour bar. */
int ex_plot_contour_paths(const char *png, const char *title, const char *xlabel,
                          const char *ylabel, const char *zlabel, const double *z, int nx, int ny,
                          double x0, double x1, double y0, double y1, int levels,
                          const ex_path *paths, int n_paths);

/* ------------------------------------------------------------ confusion matrix */

/** A k x k confusion matrix (row = true class, column = predicted class) as
 *  a heatmap: each cell is coloured by its share of the true class (so the
 *  diagonal shows each class's recall) and shows its count; class names on
 *  both axes (NULL: numbers); the title gets a second line with the
 *  accuracy. */
int ex_plot_confusion(const char *png, const char *title, const int *matrix, int k,
                      const char *const *names);

/* ------------------------------------------------------------ image grids */

/** How tile values map to colours. */
typedef enum ex_colormap {
    EX_CMAP_GRAY,     /**< low black, high white (images) */
    EX_CMAP_GRAY_INV, /**< low white, high black (ink on paper) */
    EX_CMAP_DIVERGING /**< negative blue, zero white, positive red (weights) */
} ex_colormap;

/** Which values span the colour range. */
typedef enum ex_scaling {
    EX_SCALE_TILE,  /**< each tile on its own: min..max, or +-max|v| if diverging */
    EX_SCALE_ALL,   /**< one range for all tiles, from all their values */
    EX_SCALE_FIXED  /**< lo..hi as given (diverging: +-max(|lo|, |hi|)) */
} ex_scaling;

/** Layout and labels of an image grid; zero-initialise, then set fields. */
typedef struct ex_grid_style {
    const char *title;              /**< top line (NULL: none) */
    const char *subtitle;           /**< a smaller line under it, e.g. what the colours mean */
    int cols;                       /**< tiles per row (0: about twice as wide as tall) */
    ex_colormap colormap;
    ex_scaling scaling;
    double lo, hi;                  /**< range for EX_SCALE_FIXED */
    const char *const *captions;    /**< NULL, or one short text under each tile (NULL entries allowed) */
    const char *const *row_labels;  /**< NULL, or one text left of each row */
    int tile_pixels;                /**< on-screen size of a tile's longer side (0: automatic) */
    const char *bar_label;          /**< beside the colour bar, e.g. "pixel value" (NULL: a
                                         default that says how the tiles are scaled) */
} ex_grid_style;

/** Draws `n` images of height x width values each (row-major, one after
 *  another in `images`) as a grid, with a colour bar explaining the scale.
 *  Without gnuplot, writes the bare grid (no text) with libpng and still
 *  returns -1 to say that the labels are missing. */
int ex_plot_image_grid(const char *png, const wg_real *images, int n, int height, int width,
                       const ex_grid_style *style);

/* ------------------------------------------------------------ raw PNG */

/** Writes 8-bit pixels (channels 1 = gray, 3 = RGB; row-major, w x h) to
 *  a PNG file with libpng. */
int ex_png_write(const char *path, const unsigned char *pixels, int w, int h, int channels);

#endif
