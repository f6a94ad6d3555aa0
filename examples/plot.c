/* Pictures for the example programs: see plot.h. */
#define _POSIX_C_SOURCE 200809L
#include "plot.h"

#include <errno.h>
#include <math.h>
#include <png.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------ gnuplot */

/* A colour-blind-friendly palette (Tableau 10), indexed by ex_series.color. */
static const char *const colors[10] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                       "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

static int gp_state = -1;         /* -1 unknown, 0 missing, 1 available */
static const char *gp_terminal;   /* "pngcairo" or "png" */

bool ex_plot_available(void)
{
    if (gp_state < 0) {
        gp_state = system("gnuplot -e 'set terminal png' >/dev/null 2>&1") == 0;
        gp_terminal = system("gnuplot -e 'set terminal pngcairo' >/dev/null 2>&1") == 0
                          ? "pngcairo" : "png";
    }
    return gp_state == 1;
}

/* A gnuplot process writing one PNG file. */
typedef struct gp {
    FILE *f;
    char err[512];          /* file receiving gnuplot's stderr */
    const char *png;
    struct sigaction old_pipe;
} gp;

/* Writes s as a gnuplot double-quoted string (the terminal is noenhanced,
 * so only backslash, quote and newline need care); tic labels are formats,
 * where % must be doubled. */
static void gp_str_fmt(FILE *f, const char *s, bool format)
{
    fputc('"', f);
    for (; s && *s; s++) {
        if (format && *s == '%')
            fputs("%%", f);
        else if (*s == '\n')
            fputs("\\n", f);
        else {
            if (*s == '"' || *s == '\\')
                fputc('\\', f);
            fputc(*s, f);
        }
    }
    fputc('"', f);
}

static void gp_str(FILE *f, const char *s) { gp_str_fmt(f, s, false); }

/* Starts gnuplot drawing a w x h pixel PNG into png. */
static int gp_open(gp *g, const char *png, int w, int h)
{
    if (!ex_plot_available())
        return ex_fail("%s: gnuplot not found (install gnuplot-nox to get pictures)", png);
    const char *tmp = getenv("TMPDIR");
    snprintf(g->err, sizeof g->err, "%s/ex_gnuplot_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(g->err);
    if (fd < 0)
        return ex_fail("%s: cannot create a temporary file: %s", png, strerror(errno));
    close(fd);
    /* a clear reason for an unwritable path (gnuplot would draw to stdout) */
    FILE *probe = fopen(png, "wb");
    if (!probe) {
        int e = errno;
        unlink(g->err);
        return ex_fail("cannot open '%s' for writing: %s", png, strerror(e));
    }
    fclose(probe);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "gnuplot >/dev/null 2>'%s'", g->err);
    /* if gnuplot dies early, writes to the pipe must fail, not kill us */
    struct sigaction ign = {0};
    ign.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ign, &g->old_pipe);
    g->f = popen(cmd, "w");
    if (!g->f) {
        sigaction(SIGPIPE, &g->old_pipe, NULL);
        unlink(g->err);
        return ex_fail("%s: cannot run gnuplot: %s", png, strerror(errno));
    }
    g->png = png;
    fprintf(g->f, "set terminal %s noenhanced size %d,%d font \"Sans,%d\"%s\n", gp_terminal, w, h,
            strcmp(gp_terminal, "pngcairo") == 0 ? 11 : 10,
            strcmp(gp_terminal, "pngcairo") == 0 ? " linewidth 1.5" : "");
    fputs("set output ", g->f);
    gp_str(g->f, png);
    fputs("\nset encoding utf8\n", g->f);
    return 0;
}

/* Waits for gnuplot; on failure reports its first error line. */
static int gp_close(gp *g)
{
    fputs("unset output\nexit\n", g->f);
    int status = pclose(g->f);
    sigaction(SIGPIPE, &g->old_pipe, NULL);
    char line[512] = "", first[512] = "";
    FILE *e = fopen(g->err, "r");
    while (e && fgets(line, sizeof line, e)) {
        line[strcspn(line, "\n")] = '\0';
        /* gnuplot echoes the bad command, then a caret, then "line N: why" */
        char *why = strstr(line, "line ");
        if (why && strchr(why, ':') && !first[0]) {
            why = strchr(why, ':') + 1;
            while (*why == ' ')
                why++;
            snprintf(first, sizeof first, "%s", why);
        }
    }
    if (e)
        fclose(e);
    unlink(g->err);
    struct stat st;
    if (status != 0 || stat(g->png, &st) != 0 || st.st_size == 0) {
        remove(g->png);
        return ex_fail("%s: gnuplot failed%s%s", g->png, first[0] ? ": " : "", first);
    }
    return 0;
}

/* ------------------------------------------------------------ line plots */

static bool all_nan(const ex_series *s)
{
    for (int i = 0; i < s->n; i++)
        if (!isnan(s->y[i]))
            return false;
    return true;
}

/* The extent of the finite data of a panel; false if there is none. */
static bool panel_extent(const ex_panel *p, double *x0, double *x1, double *y0, double *y1)
{
    bool any = false;
    for (int s = 0; s < p->n_series; s++)
        for (int i = 0; i < p->series[s].n; i++) {
            const ex_series *se = &p->series[s];
            double x = se->x ? se->x[i] : i + 1, y = se->y[i];
            if (isnan(y) || (p->log_y && y <= 0))
                continue;
            y = p->log_y ? log(y) : y;
            if (!any) {
                *x0 = *x1 = x;
                *y0 = *y1 = y;
            }
            any = true;
            *x0 = fmin(*x0, x), *x1 = fmax(*x1, x), *y0 = fmin(*y0, y), *y1 = fmax(*y1, y);
        }
    return any;
}

/* Puts the legend where the curves are not: bottom right if the points in
 * the right third of the plot lie mostly in its upper half (rising curves). */
static const char *key_position(const ex_panel *p, double x0, double x1, double y0, double y1)
{
    double sum = 0;
    int n = 0;
    for (int s = 0; s < p->n_series; s++)
        for (int i = 0; i < p->series[s].n; i++) {
            const ex_series *se = &p->series[s];
            double x = se->x ? se->x[i] : i + 1, y = se->y[i];
            if (isnan(y) || (p->log_y && y <= 0) || x < x1 - (x1 - x0) / 3)
                continue;
            y = p->log_y ? log(y) : y;
            sum += y1 > y0 ? (y - y0) / (y1 - y0) : 0.5;
            n++;
        }
    return n && sum / n > 0.5 ? "bottom right" : "top right";
}

/* The y range with 5% room (y0, y1 are logarithms for a log axis), and
 * for a log axis tics at 1, 2, 5 (or more) times powers of ten. */
static void y_axis(FILE *f, const ex_panel *p, double y0, double y1)
{
    double scale = p->percent ? 100 : 1;
    double pad = y1 > y0 ? 0.05 * (y1 - y0) : p->log_y ? 0.1 : 0.05 * fmax(fabs(y0), 1e-3);
    if (!p->log_y) {
        fprintf(f, "set yrange [%.10g:%.10g]\nset ytics autofreq\n", (y0 - pad) * scale,
                (y1 + pad) * scale);
        return;
    }
    double lo = exp(y0 - pad), hi = exp(y1 + pad);
    fprintf(f, "set yrange [%.10g:%.10g]\n", lo * scale, hi * scale);
    double decades = log10(hi / lo);
    static const double dense[] = {1, 1.5, 2, 3, 4, 5, 6, 7, 8}, mid[] = {1, 2, 5}, sparse[] = {1};
    const double *m = decades < 1 ? dense : decades < 3 ? mid : sparse;
    int nm = decades < 1 ? 9 : decades < 3 ? 3 : 1;
    fputs("set ytics (", f);
    bool first = true;
    for (int e = (int)floor(log10(lo * scale)) - 1; e <= (int)ceil(log10(hi * scale)); e++)
        for (int i = 0; i < nm; i++) {
            double v = m[i] * pow(10, e);
            if (v < lo * scale || v > hi * scale)
                continue;
            fprintf(f, "%s%.10g", first ? "" : ", ", v);
            first = false;
        }
    fputs(first ? "1)\n" : ")\n", f);
}

static void panel_commands(FILE *f, const ex_panel *p, const char *xlabel)
{
    fputs("set title ", f);
    gp_str(f, p->title ? p->title : "");
    fputs(" font 'Sans,12'\nset xlabel ", f);
    gp_str(f, xlabel ? xlabel : "");
    /* clear of a legend below the plot */
    fputs(p->key_below ? " offset 0,0.7\nset ylabel " : " offset 0,0\nset ylabel ", f);
    gp_str(f, p->ylabel ? p->ylabel : "");
    fputc('\n', f);
    fprintf(f, "%s\n", p->log_y ? "set logscale y" : "unset logscale y");
    double x0 = 0, x1 = 1, y0 = 0, y1 = 1;
    if (panel_extent(p, &x0, &x1, &y0, &y1)) {
        /* a little room around the points; whole-number tics for few epochs */
        double pad = x1 > x0 ? 0.04 * (x1 - x0) : 0.5;
        fprintf(f, "set xrange [%.10g:%.10g]\n", x0 - pad, x1 + pad);
        fputs(x1 - x0 <= 12 ? "set xtics 1\n" : "set xtics autofreq\n", f);
        fprintf(f, "set key %s\n", p->key_below ? "below left Left reverse spacing 1.1 height 1"
                                                  : key_position(p, x0, x1, y0, y1));
        y_axis(f, p, y0, y1);
    }
    int max_n = 0;
    for (int s = 0; s < p->n_series; s++)
        max_n = p->series[s].n > max_n ? p->series[s].n : max_n;

    bool any = false;
    for (int s = 0; s < p->n_series; s++) {
        const ex_series *se = &p->series[s];
        if (all_nan(se))
            continue;
        int c = se->color >= 0 && se->color < 10 ? se->color : s % 10;
        fputs(any ? ", " : "plot ", f);
        fprintf(f, "'-' using 1:2 with linespoints lc rgb '%s' lw 2 dt %d pt 7 ps %.1f title ",
                colors[c], se->dashed ? 2 : 1, max_n <= 30 ? 0.8 : 0.0);
        gp_str(f, se->name ? se->name : "");
        any = true;
    }
    if (!any) {
        fputs("unset key\nset label 1 'no data' at graph 0.5, 0.5 center\n"
              "plot [0:1][0:1] NaN notitle\n"
              "unset label 1\n", f);
        return;
    }
    fputc('\n', f);
    for (int s = 0; s < p->n_series; s++) {
        const ex_series *se = &p->series[s];
        if (all_nan(se))
            continue;
        for (int i = 0; i < se->n; i++) {
            double x = se->x ? se->x[i] : i + 1, y = se->y[i] * (p->percent ? 100 : 1);
            if (isnan(y) || (p->log_y && y <= 0))
                fputc('\n', f); /* a blank line breaks the line */
            else
                fprintf(f, "%.10g %.10g\n", x, y);
        }
        fputs("e\n", f);
    }
}

int ex_plot_panels(const char *png, const char *title, const char *xlabel,
                   const ex_panel *panels, int n_panels)
{
    if (!ex_writes_files())
        return 0; /* rank 0 draws for all (docs/distributed.md) */
    if (n_panels < 1)
        return ex_fail("%s: no panels to plot", png);
    gp g;
    int top = title ? 40 : 0, below = 0;
    for (int i = 0; i < n_panels; i++)
        if (panels[i].key_below) {
            int named = 0;
            for (int s = 0; s < panels[i].n_series; s++)
                named += panels[i].series[s].name != NULL;
            below = below > 20 * named + 40 ? below : 20 * named + 40;
        }
    if (gp_open(&g, png, 600 * n_panels, 480 + top + below) != 0)
        return -1;
    FILE *f = g.f;
    fputs("set grid lc rgb '#dddddd' lt 1\n"
          "set key box opaque samplen 3 spacing 1.2\n"
          "set border lc rgb '#444444'\nset tics nomirror\n", f);
    fprintf(f, "set multiplot layout 1,%d", n_panels);
    if (title) {
        fputs(" title ", f);
        gp_str(f, title);
        fputs(" font 'Sans,14'", f);
    }
    fputc('\n', f);
    for (int i = 0; i < n_panels; i++)
        panel_commands(f, &panels[i], xlabel);
    fputs("unset multiplot\n", f);
    return gp_close(&g);
}

int ex_plot_learning_curves(const char *png, const char *title, const ex_epoch_metrics *m, int n)
{
    if (n < 1)
        return ex_fail("%s: no epochs to plot", png);
    double *v = malloc(sizeof *v * 5 * (size_t)n);
    if (!v)
        return ex_fail("out of memory");
    double *x = v, *tl = v + n, *vl = v + 2 * n, *ta = v + 3 * n, *va = v + 4 * n;
    for (int i = 0; i < n; i++) {
        x[i] = m[i].epoch;
        tl[i] = m[i].train_loss;
        vl[i] = m[i].val_loss;
        ta[i] = m[i].train_acc;
        va[i] = m[i].val_acc;
    }
    const ex_series loss[2] = {{"training", x, tl, n, false, 0}, {"validation", x, vl, n, true, 1}};
    const ex_series acc[2] = {{"training", x, ta, n, false, 0}, {"validation", x, va, n, true, 1}};
    const ex_panel p[2] = {{"loss", "mean cross-entropy", loss, 2, false, false, false},
                           {"accuracy", "accuracy (%)", acc, 2, true, false, false}};
    int rc = ex_plot_panels(png, title, "epoch", p, 2);
    free(v);
    return rc;
}

/* ------------------------------------------------------------ contours and paths */

int ex_plot_contour_paths(const char *png, const char *title, const char *xlabel,
                          const char *ylabel, const char *zlabel, const double *z, int nx, int ny,
                          double x0, double x1, double y0, double y1, int levels,
                          const ex_path *paths, int n_paths)
{
    if (!ex_writes_files())
        return 0; /* rank 0 draws for all (docs/distributed.md) */
    if (nx < 2 || ny < 2)
        return ex_fail("%s: a contour grid needs at least 2 x 2 points", png);
    double zmin = INFINITY, zmax = -INFINITY;
    for (int i = 0; i < nx * ny; i++)
        if (isfinite(z[i]))
            zmin = fmin(zmin, z[i]), zmax = fmax(zmax, z[i]);
    if (!(zmax > zmin))
        return ex_fail("%s: the surface is flat or not finite", png);
    gp g;
    if (gp_open(&g, png, 900, 760) != 0)
        return -1;
    FILE *f = g.f;
    fputs("$grid << EOD\n", f);
    for (int j = 0; j < ny; j++) {
        for (int i = 0; i < nx; i++)
            fprintf(f, "%.9g %.9g %.9g\n", x0 + i * (x1 - x0) / (nx - 1),
                    y0 + j * (y1 - y0) / (ny - 1), z[j * nx + i]);
        fputc('\n', f);
    }
    fputs("EOD\n", f);
    /* levels: min + (max - min) * r^k, r < 1, denser near the minimum */
    if (levels < 2)
        levels = 2;
    fputs("set contour base\nunset surface\nset cntrparam levels discrete ", f);
    double span = zmax - zmin;
    for (int k = 0; k < levels; k++) {
        double frac = pow(1e-3, (double)k / (levels - 1)); /* 1 .. 0.001 of the span */
        fprintf(f, "%s%.9g", k ? "," : "", zmin + span * frac * 0.98);
    }
    fputs("\nset table $cont\nsplot $grid using 1:2:3 with lines\nunset table\n"
          "unset contour\nset surface\n", f);
    fprintf(f, "set xrange [%.9g:%.9g]\nset yrange [%.9g:%.9g]\n", x0, x1, y0, y1);
    if (title) {
        fputs("set title ", f);
        gp_str(f, title);
        fputs(" font 'Sans,13'\n", f);
    }
    fputs("set xlabel ", f);
    gp_str(f, xlabel ? xlabel : "x");
    fputs("\nset ylabel ", f);
    gp_str(f, ylabel ? ylabel : "y");
    fputs("\nset cblabel ", f);
    gp_str(f, zlabel ? zlabel : "z");
    fputs("\nset palette defined (0 '#f7fbff', 0.5 '#c6dbef', 1 '#6baed6')\n"
          "set key top right box opaque samplen 3 spacing 1.3\n"
          "set border lc rgb '#444444'\nset tics nomirror out\n", f);
    fputs("plot $grid using 1:2:3 with image notitle, "
          "$cont using 1:2 with lines lc rgb '#777777' lw 0.7 notitle", f);
    for (int p = 0; p < n_paths; p++) {
        const char *c = colors[(paths[p].color >= 0 ? paths[p].color : p) % 10];
        fprintf(f, ", '-' using 1:2 with linespoints lc rgb '%s' lw 1.6 pt 7 ps 0.35 title ", c);
        gp_str(f, paths[p].name ? paths[p].name : "");
        fprintf(f, ", '-' using 1:2 with points lc rgb '%s' pt 6 ps 1.8 notitle", c);
        fprintf(f, ", '-' using 1:2 with points lc rgb '%s' pt 2 ps 1.8 lw 2 notitle", c);
    }
    fputc('\n', f);
    for (int p = 0; p < n_paths; p++) {
        const ex_path *q = &paths[p];
        for (int i = 0; i < q->n; i++)
            fprintf(f, "%.9g %.9g\n", q->x[i], q->y[i]);
        fputs("e\n", f);
        if (q->n > 0) {
            fprintf(f, "%.9g %.9g\ne\n", q->x[0], q->y[0]);
            fprintf(f, "%.9g %.9g\ne\n", q->x[q->n - 1], q->y[q->n - 1]);
        } else {
            fputs("e\ne\n", f);
        }
    }
    return gp_close(&g);
}

/* ------------------------------------------------------------ confusion matrix */

int ex_plot_confusion(const char *png, const char *title, const int *matrix, int k,
                      const char *const *names)
{
    if (!ex_writes_files())
        return 0; /* rank 0 draws for all (docs/distributed.md) */
    if (k < 1)
        return ex_fail("%s: empty confusion matrix", png);
    long total = 0, correct = 0;
    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++) {
            total += matrix[i * k + j];
            correct += i == j ? matrix[i * k + j] : 0;
        }
    /* pixel layout: square cells, room for the names, title and colour bar */
    int cell = k <= 7 ? 440 / k : k <= 10 ? 64 : k <= 20 ? 40 : 24, name_w = 2;
    for (int i = 0; names && i < k; i++)
        name_w = (int)strlen(names[i]) > name_w ? (int)strlen(names[i]) : name_w;
    int side = cell * k, left = 60 + 8 * name_w, right = 140, top = 80;
    int bottom = 70 + (int)(6.2 * name_w); /* names under the matrix, slanted */
    int W = left + side + right, H = top + side + bottom;
    gp g;
    if (gp_open(&g, png, W, H) != 0)
        return -1;
    FILE *f = g.f;
    fprintf(f, "set lmargin at screen %.6f\nset rmargin at screen %.6f\n"
               "set tmargin at screen %.6f\nset bmargin at screen %.6f\n",
            (double)left / W, (double)(left + side) / W, 1 - (double)top / H,
            (double)bottom / H);
    fprintf(f, "set colorbox user origin screen %.6f, %.6f size screen %.6f, %.6f\n",
            (left + side + 24.0) / W, (double)bottom / H, 20.0 / W, (double)side / H);
    char t[512];
    snprintf(t, sizeof t, "%s%saccuracy %.2f%% (%ld of %ld correct)", title ? title : "",
             title ? "\n" : "", total ? 100.0 * (double)correct / (double)total : 0.0, correct, total);
    fputs("set title ", f);
    gp_str(f, t);
    fputs(" font 'Sans,14'\n", f);
    /* colour = square root of the share, so that small confusions show */
    fprintf(f, "unset key\nset tics scale 0\nset border lw 0.5\n"
               "set xrange [-0.5:%d.5]\nset yrange [%d.5:-0.5]\n"
               "set xlabel 'predicted class' font 'Sans,12'\n"
               "set ylabel 'true class' font 'Sans,12'\n"
               "set palette defined (0 '#ffffff', 0.25 '#c6dbef', 0.5 '#6baed6', 0.75 '#2171b5', 1 '#08306b')\n"
               "set cbrange [0:1]\nset cblabel 'share of the true class (square-root scale)'\n"
               "set cbtics ('0%%%%' 0, '1%%%%' 0.1, '5%%%%' sqrt(0.05), '10%%%%' sqrt(0.1), "
               "'25%%%%' 0.5, '50%%%%' sqrt(0.5), '100%%%%' 1)\n",
            k - 1, k - 1);
    for (int axis = 0; axis < 2; axis++) {
        fputs(axis ? "set ytics (" : names ? "set xtics rotate by 40 right (" : "set xtics (", f);
        for (int i = 0; i < k; i++) {
            char label[128];
            snprintf(label, sizeof label, "%s", names ? names[i] : "");
            if (!names)
                snprintf(label, sizeof label, "%d", i);
            gp_str_fmt(f, label, true);
            fprintf(f, " %d%s", i, i + 1 < k ? ", " : ")\n");
        }
    }
    /* the cells, then their counts in dark or white ink (zeros in gray) */
    int font = cell >= 64 ? 11 : cell >= 40 ? 9 : 7;
    fprintf(f, "plot '-' using 1:2:3 with image, '-' using 1:2:3:4 with labels "
               "tc rgb variable font 'Sans,%d'\n", font);
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < k; i++) {
            long row = 0;
            for (int j = 0; j < k; j++)
                row += matrix[i * k + j];
            for (int j = 0; j < k; j++) {
                int c = matrix[i * k + j];
                double shade = row ? sqrt((double)c / (double)row) : 0;
                if (pass == 0)
                    fprintf(f, "%d %d %.6f\n", j, i, shade);
                else
                    fprintf(f, "%d %d \"%d\" %d\n", j, i, c,
                            shade > 0.62 ? 0xffffff : c == 0 ? 0xb0b0b0 : 0x202020);
            }
            if (pass == 0)
                fputc('\n', f);
        }
        fputs("e\n", f);
    }
    return gp_close(&g);
}

/* ------------------------------------------------------------ raw PNG */

int ex_png_write(const char *path, const unsigned char *pixels, int w, int h, int channels)
{
    if (!ex_writes_files())
        return 0; /* rank 0 draws for all (docs/distributed.md) */
    if (w < 1 || h < 1 || (channels != 1 && channels != 3))
        return ex_fail("%s: bad image size %d x %d x %d", path, w, h, channels);
    FILE *f = fopen(path, "wb");
    if (!f)
        return ex_fail("cannot open '%s' for writing: %s", path, strerror(errno));
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, info ? &info : NULL);
        fclose(f);
        return ex_fail("%s: libpng failed to write the image", path);
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8,
                 channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++)
        png_write_row(png, (png_const_bytep)(pixels + (size_t)y * w * channels));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    if (fclose(f) != 0)
        return ex_fail("cannot write '%s': %s", path, strerror(errno));
    return 0;
}

/* ------------------------------------------------------------ image grids */

/* Maps the values of tile t to [0, 1] (gray) or [-1, 1] (diverging) into out. */
static void normalise(const wg_real *img, int size, const ex_grid_style *s, double lo, double hi,
                      double *out)
{
    bool div = s->colormap == EX_CMAP_DIVERGING;
    if (s->scaling == EX_SCALE_TILE) {
        lo = hi = img[0];
        for (int i = 1; i < size; i++) {
            lo = img[i] < lo ? img[i] : lo;
            hi = img[i] > hi ? img[i] : hi;
        }
    }
    double m = fmax(fabs(lo), fabs(hi));
    for (int i = 0; i < size; i++) {
        double v;
        if (div)
            v = m > 0 ? img[i] / m : 0;
        else
            v = hi > lo ? (img[i] - lo) / (hi - lo) : 0.5;
        out[i] = fmin(fmax(v, div ? -1 : 0), 1);
    }
}

/* The colour of a normalised value, as used by the libpng fallback. */
static void color_of(double v, ex_colormap cm, unsigned char rgb[3])
{
    if (cm != EX_CMAP_DIVERGING) {
        unsigned char g = (unsigned char)lround(255 * (cm == EX_CMAP_GRAY ? v : 1 - v));
        rgb[0] = rgb[1] = rgb[2] = g;
        return;
    }
    static const double stops[5][3] = {{33, 102, 172}, {103, 169, 207}, {247, 247, 247},
                                       {239, 138, 98}, {178, 24, 43}};
    double p = (v + 1) * 2; /* 0..4 */
    int i = p >= 4 ? 3 : (int)p;
    double t = p - i;
    for (int c = 0; c < 3; c++)
        rgb[c] = (unsigned char)lround(stops[i][c] * (1 - t) + stops[i + 1][c] * t);
}

/* Writes the grid without any text through libpng (gnuplot missing). */
static int bare_grid(const char *png, const double *norm, int n, int h, int w, int cols,
                     int scale, ex_colormap cm)
{
    int rows = (n + cols - 1) / cols, gap = 2;
    int W = cols * (w * scale + gap) + gap, H = rows * (h * scale + gap) + gap;
    unsigned char *px = malloc((size_t)W * H * 3);
    if (!px)
        return ex_fail("out of memory");
    memset(px, 200, (size_t)W * H * 3);
    for (int t = 0; t < n; t++) {
        int x0 = gap + t % cols * (w * scale + gap), y0 = gap + t / cols * (h * scale + gap);
        for (int y = 0; y < h * scale; y++)
            for (int x = 0; x < w * scale; x++)
                color_of(norm[(size_t)t * h * w + y / scale * w + x / scale], cm,
                         px + ((size_t)(y0 + y) * W + x0 + x) * 3);
    }
    int rc = ex_png_write(png, px, W, H, 3);
    free(px);
    return rc;
}

/* The text beside the colour bar. */
static const char *bar_label(const ex_grid_style *s)
{
    if (s->bar_label || s->scaling != EX_SCALE_TILE)
        return s->bar_label ? s->bar_label : "";
    return s->colormap == EX_CMAP_DIVERGING ? "each tile scaled to its own max |v|"
                                            : "each tile scaled to its own range";
}

/* The colour bar at pixel (x, y) (from the bottom left), bar_h tall on a
 * W x H canvas: range, tic labels, and its label written beside them. */
static void colorbar_commands(FILE *f, const ex_grid_style *s, double lo, double hi, double x,
                              double y, double bar_h, int W, int H)
{
    bool div = s->colormap == EX_CMAP_DIVERGING;
    if (div)
        fputs("set palette defined (-1 '#2166ac', -0.5 '#67a9cf', 0 '#f7f7f7', 0.5 '#ef8a62', "
              "1 '#b2182b')\nset cbrange [-1:1]\n", f);
    else
        fprintf(f, "set palette defined (0 '%s', 1 '%s')\nset cbrange [0:1]\n",
                s->colormap == EX_CMAP_GRAY ? "black" : "white",
                s->colormap == EX_CMAP_GRAY ? "white" : "black");
    char t[3][32];
    double at[3];
    int nt = 3;
    double m = fmax(fabs(lo), fabs(hi));
    if (s->scaling == EX_SCALE_TILE && div) {
        snprintf(t[0], 32, "-max |v|"), snprintf(t[1], 32, "0"), snprintf(t[2], 32, "+max |v|");
        at[0] = -1, at[1] = 0, at[2] = 1;
    } else if (s->scaling == EX_SCALE_TILE) {
        snprintf(t[0], 32, "min"), snprintf(t[1], 32, "max");
        at[0] = 0, at[1] = 1, nt = 2;
    } else if (div) {
        snprintf(t[0], 32, "%.3g", -m), snprintf(t[1], 32, "0"), snprintf(t[2], 32, "%.3g", m);
        at[0] = -1, at[1] = 0, at[2] = 1;
    } else {
        snprintf(t[0], 32, "%.3g", lo), snprintf(t[1], 32, "%.3g", (lo + hi) / 2);
        snprintf(t[2], 32, "%.3g", hi);
        at[0] = 0, at[1] = 0.5, at[2] = 1;
    }
    size_t widest = 0;
    fputs("set cbtics (", f);
    for (int i = 0; i < nt; i++) {
        gp_str_fmt(f, t[i], true);
        fprintf(f, " %g%s", at[i], i + 1 < nt ? ", " : ")\n");
        widest = strlen(t[i]) > widest ? strlen(t[i]) : widest;
    }
    fprintf(f, "set colorbox user origin screen %.6f, %.6f size screen %.6f, %.6f\n", x / W,
            y / H, 16.0 / W, bar_h / H);
    fputs("set label 1003 ", f);
    gp_str(f, bar_label(s));
    fprintf(f, " at screen %.6f, screen %.6f center rotate by 90 font 'Sans,10'\n",
            (x + 16 + 12 + 7.5 * (double)widest + 12) / W, (y + bar_h / 2) / H);
}

int ex_plot_image_grid(const char *png, const wg_real *images, int n, int h, int w,
                       const ex_grid_style *style)
{
    if (!ex_writes_files())
        return 0; /* rank 0 draws for all (docs/distributed.md) */
    ex_grid_style s = style ? *style : (ex_grid_style){0};
    if (n < 1 || h < 1 || w < 1)
        return ex_fail("%s: no images to draw (%d of %d x %d)", png, n, h, w);
    int cols = s.cols > 0 ? s.cols : (int)ceil(sqrt(2.0 * n));
    cols = cols > n ? n : cols;
    int rows = (n + cols - 1) / cols;

    /* the colour range for EX_SCALE_ALL / FIXED, then every value normalised */
    size_t size = (size_t)h * w;
    double lo = s.lo, hi = s.hi;
    if (s.scaling == EX_SCALE_ALL) {
        lo = hi = images[0];
        for (size_t i = 1; i < size * n; i++) {
            lo = images[i] < lo ? images[i] : lo;
            hi = images[i] > hi ? images[i] : hi;
        }
    }
    double *norm = malloc(sizeof *norm * size * n);
    if (!norm)
        return ex_fail("out of memory");
    for (int t = 0; t < n; t++)
        normalise(images + t * size, (int)size, &s, lo, hi, norm + t * size);

    /* pixels per image value: tiles of about tile_pixels, the grid <= ~1200 wide */
    int longer = h > w ? h : w;
    int tile = 1100 / cols;
    tile = s.tile_pixels > 0 ? s.tile_pixels : tile > 200 ? 200 : tile < 28 ? 28 : tile;
    int scale = tile / longer > 0 ? tile / longer : 1;

    if (!ex_plot_available()) {
        int rc = bare_grid(png, norm, n, h, w, cols, scale, s.colormap);
        free(norm);
        if (rc != 0)
            return rc;
        return ex_fail("%s: gnuplot not found: wrote the bare grid without title, captions "
                       "or colour scale (install gnuplot-nox)", png);
    }

    /* layout in image-value units (1 unit = `scale` screen pixels): gaps
     * between tiles, and room under a row for captions if it has any */
    const int font = 11;
    double gap = fmax(2, ceil(6.0 / scale)), cap = ceil((font * 1.9 + 4) / scale);
    double *row_y = malloc(sizeof *row_y * (rows + 1));
    if (!row_y) {
        free(norm);
        return ex_fail("out of memory");
    }
    row_y[0] = 0;
    for (int r = 0; r < rows; r++) {
        bool captioned = false;
        for (int t = r * cols; s.captions && t < n && t < (r + 1) * cols; t++)
            captioned |= s.captions[t] && s.captions[t][0];
        row_y[r + 1] = row_y[r] + h + gap + (captioned ? cap : 0);
    }
    double cell_w = w + gap, plot_w = cols * cell_w - gap, plot_h = row_y[rows] - gap;

    /* screen margins in pixels: row labels left, colour bar right, titles on top */
    int label_w = 0;
    for (int r = 0; s.row_labels && r < rows; r++) {
        int l = s.row_labels[r] ? (int)strlen(s.row_labels[r]) : 0;
        label_w = l > label_w ? l : label_w;
    }
    int left = 20 + (label_w ? label_w * 8 + 16 : 0), right = 160;
    int top = 16 + (s.title ? 30 : 0) + (s.subtitle ? 22 : 0), bottom = 16;
    int pw = (int)lround(plot_w * scale), ph = (int)lround(plot_h * scale);
    /* the colour bar: as tall as the grid, 140 to 260 pixels, and as long as its label */
    double bar_h = fmax(fmin(ph, 260), fmax(140, 7.5 * (double)strlen(bar_label(&s)) + 16));
    if (ph < bar_h + 10) { /* grow the margins to make room for it */
        int extra = (int)(bar_h + 10) - ph;
        bottom += extra / 2;
        top += extra - extra / 2;
    }
    int W = left + pw + right, H = top + ph + bottom;
    if (W < 480) { /* room for the title */
        left += (480 - W) / 2;
        W = 480;
    }
    double bar_y = H - top - ph / 2.0 - bar_h / 2;

    gp g;
    if (gp_open(&g, png, W, H) != 0) {
        free(norm);
        free(row_y);
        return -1;
    }
    FILE *f = g.f;
    fprintf(f, "set lmargin at screen %.6f\nset rmargin at screen %.6f\n"
               "set tmargin at screen %.6f\nset bmargin at screen %.6f\n",
            (double)left / W, (double)(left + pw) / W, 1 - (double)top / H,
            1 - (double)(top + ph) / H);
    fprintf(f, "set xrange [-0.5:%.2f]\nset yrange [%.2f:-0.5]\n", plot_w - 0.5, plot_h - 0.5);
    fputs("unset xtics\nunset ytics\nunset border\nunset key\n", f);
colorbar_commands(f, &s, lo, hi, left + pw + 28.0, bar_y, bar_h, W, H);
    if (s.title) {
        fputs("set label 1001 ", f);
        gp_str(f, s.title);
        fprintf(f, " at screen 0.5, screen %.6f center font 'Sans,14'\n", 1 - 22.0 / H);
    }
    if (s.subtitle) {
        fputs("set label 1002 ", f);
        gp_str(f, s.subtitle);
        fprintf(f, " at screen 0.5, screen %.6f center font 'Sans,10' tc rgb '#444444'\n",
                1 - (s.title ? 46.0 : 22.0) / H);
    }
    int label = 1;
    for (int t = 0; t < n; t++) {
        double x0 = t % cols * cell_w, y0 = row_y[t / cols];
        /* a thin frame, so that tiles stand out from the white page */
        fprintf(f, "set object %d rect from %.2f,%.2f to %.2f,%.2f fs empty "
                   "border lc rgb '#999999' lw 0.5 front\n",
                t + 1, x0 - 0.5, y0 - 0.5, x0 + w - 0.5, y0 + h - 0.5);
        if (s.captions && s.captions[t] && s.captions[t][0]) {
            fprintf(f, "set label %d ", label++);
            gp_str(f, s.captions[t]);
            fprintf(f, " at %.2f,%.2f center font 'Sans,%d'\n", x0 + (w - 1) / 2.0,
                    y0 + h - 0.5 + cap / 2, font);
        }
    }
    for (int r = 0; s.row_labels && r < rows; r++) {
        if (!s.row_labels[r])
            continue;
        fprintf(f, "set label %d ", label++);
        gp_str(f, s.row_labels[r]);
        fprintf(f, " at %.2f,%.2f right font 'Sans,12'\n", -0.5 - 12.0 / scale,
                row_y[r] + (h - 1) / 2.0);
    }
    fputs("plot ", f);
    for (int t = 0; t < n; t++)
        fprintf(f, "%s'-' matrix using ($1+%.2f):($2+%.2f):3 with image", t ? ", " : "",
                t % cols * cell_w, row_y[t / cols]);
    fputc('\n', f);
    for (int t = 0; t < n; t++) {
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                fprintf(f, "%.4f%c", norm[t * size + y * w + x], x + 1 < w ? ' ' : '\n');
        fputs("e\n", f);
    }
    free(norm);
    free(row_y);
    return gp_close(&g);
}
