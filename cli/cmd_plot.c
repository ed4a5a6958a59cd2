/*  cmd_plot.c: `meshdl plot FILE.jsonl... -o FIG.png`: curves from the JSON lines meshdl
    writes (--metrics of sim and agent; summaries too), drawn by gnuplot.

    Every FILE is read as JSON lines (jsonflat.h: a summary's inner keys count as its
    own); a line that lacks a panel's keys is left out of that panel. A series is one
    file's points of one run (the "run" key, when metrics carry one) and, per agent, of
    one agent ("agent"); --average instead averages the agents of a run evaluation by
    evaluation (the k-th line of every agent is point k: mean x, mean y). A series of a
    single point (a summary) is a labelled point: accuracy against bytes of several
    runs is then a scatter plot. A string x (a codec, a configuration) is a category.

    gnuplot draws into FIG.png.tmp, renamed over FIG.png only when it succeeded: a
    failed plot leaves an older figure as it was. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "meshdl.h"
#include "jsonflat.h"

#define S_PANELS 6
#define S_YS 4
#define S_SERIES 512
#define S_CATS 64

static const char *s_usage =
    "usage: meshdl plot FILE.jsonl[=LABEL]... -o FIG.png [--panel Y:X[:logx][:logy]]...\n"
    "                   [--average | --per-agent] [--title TEXT] [--xlabel TEXT] [--ylabel TEXT]\n"
    "                   [--size W,H] [--yrange LO:HI] [--legend]\n\n"
    "Draws the JSON lines of --metrics files (meshdl sim, meshdl agent) with gnuplot, one\n"
    "panel per --panel Y:X, side by side. Default panels: acc:time acc:bytes consensus:time.\n"
    "X: time (elapsed_s), bytes (bytes_sent, MB per agent), step, epoch, or any key. Y: acc\n"
    "(per agent: its own model's test_acc; averaged: in sim the averaged model's avg_test_acc),\n"
    "consensus\n"
    "(consensus_distance in sim; the agents' local estimate 'disagreement' otherwise; log\n"
    "scale), loss (test_loss), train-loss, or any key; Y1+Y2 draws several. A series per\n"
    "file, run and agent (--per-agent, the default for one file) or per file and run with\n"
    "the agents averaged evaluation by evaluation (--average, the default for several).\n"
    "Summary lines ({\"summary\": ...}) are points labelled by their file: --panel\n"
    "test_acc:bytes_sent over the summaries of several runs is a scatter plot. A string X\n"
    "is a category. LABEL names a file's series (default: the file name). --xlabel and\n"
    "--ylabel name every panel's axes (default: the alias' name, or the key). --legend: a\n"
    "scatter's points in a key, and points (scatter or categories) each series its own open\n"
    "shape, so that points on one spot stay visible.\n"
    "Exit 0, or 2 (bad input, nothing to plot, gnuplot missing or failing; FIG untouched).";

typedef struct {
    char ykeys[S_YS][48]; /* resolved per line: first of the alias' keys present */
    int ny;
    char yname[S_YS][48]; /* as given */
    char xname[48];
    char xlabel[64], ylabel[64];
    bool logx, logy;
    double xscale;
} s_panel_t;

typedef struct {
    int file;
    char run[96], agent[96];
    size_t count;        /* points so far (the ordinal of the next one) */
} s_key_t;

/* One point of one panel: of series key, ordinal k, x (or category), y per y-key. */
typedef struct {
    int panel, series;
    size_t k;
    double x;
    int cat;             /* >= 0: category index of a string x */
    double y[S_YS];
} s_pt_t;

typedef struct {
    s_panel_t panels[S_PANELS];
    int npanels;
    const char *files[S_SERIES];
    char labels[S_SERIES][128];
    int nfiles;
    s_key_t keys[S_SERIES];
    int nkeys;
    s_pt_t *pts;
    size_t npts, cap;
    char cats[S_CATS][96];
    int ncats;
    bool average;
    bool legend; /* --legend: summary points in a key, not labelled beside them */
} s_plot_t;

/* The keys an alias may stand for, in order of preference (NULL-terminated). */
static const char *const *
s_alias (const char *name, const char **label, bool *logy, double *scale)
{
    static const char *const acc[] = { "avg_test_acc", "test_acc", NULL };
    static const char *const cons[] = { "consensus_distance", "disagreement", NULL };
    static const char *const loss[] = { "test_loss", NULL };
    static const char *const tloss[] = { "train_loss", NULL };
    static const char *const time[] = { "elapsed_s", NULL };
    static const char *const bytes[] = { "bytes_sent", NULL };
    *scale = 1;
    if (!strcmp (name, "acc"))
        return *label = "test accuracy", acc;
    if (!strcmp (name, "consensus"))
        return *label = "consensus distance", *logy = true, cons;
    if (!strcmp (name, "loss"))
        return *label = "test loss", loss;
    if (!strcmp (name, "train-loss"))
        return *label = "training loss", tloss;
    if (!strcmp (name, "time"))
        return *label = "time (s)", time;
    if (!strcmp (name, "bytes"))
        return *label = "MB sent per agent", *scale = 1e-6, bytes;
    *label = name;
    return NULL;
}

/* The first key of name's alias present in o (or name itself). Per agent, acc is the
   agent's own model's (test_acc) before the averaged model's. */
static const mdl_jsonflat_kv_t *
s_lookup (const mdl_jsonflat_t *o, const char *name, bool average)
{
    if (!average && !strcmp (name, "acc") && mdl_jsonflat_get (o, "test_acc"))
        return mdl_jsonflat_get (o, "test_acc");
    const char *label;
    bool logy = false;
    double scale;
    const char *const *keys = s_alias (name, &label, &logy, &scale);
    if (!keys)
        return mdl_jsonflat_get (o, name);
    for (; *keys; keys++) {
        const mdl_jsonflat_kv_t *kv = mdl_jsonflat_get (o, *keys);
        if (kv)
            return kv;
    }
    return mdl_jsonflat_get (o, name); /* a key of that very name */
}

static int
s_panel_parse (s_plot_t *pl, const char *spec, char *err, size_t errlen)
{
    if (pl->npanels == S_PANELS) {
        snprintf (err, errlen, "meshdl plot: at most %d panels", S_PANELS);
        return MDL_EINVAL;
    }
    s_panel_t *p = &pl->panels[pl->npanels];
    memset (p, 0, sizeof *p);
    /* Y:X, then optional :logx and :logy */
    const char *colon = strchr (spec, ':');
    const char *xs = colon ? colon + 1 : NULL, *xe = xs ? strchr (xs, ':') : NULL;
    if (!xe && xs)
        xe = xs + strlen (xs);
    bool flags_ok = true;
    for (const char *f = xe; f && *f;) {
        const char *next = strchr (f + 1, ':');
        size_t fl = next ? (size_t) (next - f - 1) : strlen (f + 1);
        if (fl == 4 && !strncmp (f + 1, "logx", 4))
            p->logx = true;
        else if (fl == 4 && !strncmp (f + 1, "logy", 4))
            p->logy = true;
        else
            flags_ok = false;
        f = next ? next : f + 1 + fl;
    }
    if (!colon || colon == spec || xe == xs || (size_t) (xe - xs) >= sizeof p->xname || !flags_ok) {
        snprintf (err, errlen, "meshdl plot: --panel '%s' must be Y:X[:logx][:logy], e.g. acc:time, consensus:step, "
                  "test_acc:bytes_sent:logx", spec);
        return MDL_EINVAL;
    }
    memcpy (p->xname, xs, (size_t) (xe - xs));
    p->xname[xe - xs] = '\0';
    const char *lab;
    bool ignore = false;
    s_alias (p->xname, &lab, &ignore, &p->xscale);
    snprintf (p->xlabel, sizeof p->xlabel, "%s", lab);
    const char *y = spec;
    while (y < colon) {
        const char *plus = memchr (y, '+', (size_t) (colon - y));
        size_t len = (size_t) ((plus ? plus : colon) - y);
        if (len == 0 || len >= sizeof p->yname[0] || p->ny == S_YS) {
            snprintf (err, errlen, "meshdl plot: --panel '%s': Y must be 1 to %d keys joined by '+'", spec, S_YS);
            return MDL_EINVAL;
        }
        memcpy (p->yname[p->ny], y, len);
        p->yname[p->ny][len] = '\0';
        double sc;
        s_alias (p->yname[p->ny], &lab, &p->logy, &sc);
        if (p->ny == 0)
            snprintf (p->ylabel, sizeof p->ylabel, "%s", lab);
        else
            p->ylabel[0] = '\0'; /* several: the key names them */
        p->ny++;
        y += len + (plus ? 1 : 0);
    }
    pl->npanels++;
    return 0;
}

static int
s_series (s_plot_t *pl, int file, const char *run, const char *agent)
{
    for (int i = 0; i < pl->nkeys; i++)
        if (pl->keys[i].file == file && !strcmp (pl->keys[i].run, run) && !strcmp (pl->keys[i].agent, agent))
            return i;
    if (pl->nkeys == S_SERIES)
        return -1;
    s_key_t *k = &pl->keys[pl->nkeys];
    k->file = file;
    snprintf (k->run, sizeof k->run, "%s", run);
    snprintf (k->agent, sizeof k->agent, "%s", agent);
    k->count = 0;
    return pl->nkeys++;
}

static int
s_cat (s_plot_t *pl, const char *name)
{
    for (int i = 0; i < pl->ncats; i++)
        if (!strcmp (pl->cats[i], name))
            return i;
    if (pl->ncats == S_CATS)
        return -1;
    snprintf (pl->cats[pl->ncats], sizeof pl->cats[0], "%s", name);
    return pl->ncats++;
}

/* Reads one file into points. Returns the number of points, or -1 (err set). */
static long
s_read (s_plot_t *pl, int file, char *err, size_t errlen)
{
    FILE *f = fopen (pl->files[file], "r");
    if (!f) {
        snprintf (err, errlen, "meshdl plot: cannot read %s: %s", pl->files[file], strerror (errno));
        return -1;
    }
    char *line = NULL;
    size_t len = 0;
    long got = 0, lines = 0, bad = 0;
    mdl_jsonflat_t *o = malloc (sizeof *o);
    while (o && getline (&line, &len, f) > 0) {
        if (line[strspn (line, " \t\r\n")] == '\0')
            continue;
        lines++;
        if (mdl_jsonflat_parse (line, o)) {
            bad++;
            continue;
        }
        const mdl_jsonflat_kv_t *run = mdl_jsonflat_get (o, "run"), *agent = mdl_jsonflat_get (o, "agent");
        char rs[96] = "", as[96] = "";
        if (run)
            run->is_num ? snprintf (rs, sizeof rs, "%.15g", run->num) : snprintf (rs, sizeof rs, "%s", run->str);
        if (agent && !pl->average)
            agent->is_num ? snprintf (as, sizeof as, "%.15g", agent->num) : snprintf (as, sizeof as, "%s", agent->str);
        /* files of one label are one series: metrics.jsonl of each agent, averaged. Their
           run ids are those of the agents' processes (each its own unless --run): the
           label, not the run, groups them. */
        int lf = file, shared = 0;
        for (int g = 0; g < pl->nfiles; g++)
            if (!strcmp (pl->labels[g], pl->labels[file])) {
                lf = g < lf ? g : lf;
                shared++;
            }
        if (shared > 1)
            rs[0] = '\0';
        int sidx = s_series (pl, lf, rs, as);
        if (sidx < 0)
            continue;
        /* the ordinal of this line among its agent's (what --average pairs up) */
        char full[96] = "";
        if (agent)
            agent->is_num ? snprintf (full, sizeof full, "%.15g", agent->num) : snprintf (full, sizeof full, "%s", agent->str);
        int oidx = pl->average ? s_series (pl, -1 - file, rs, full) : sidx;
        size_t k = oidx >= 0 ? pl->keys[oidx].count++ : 0;
        for (int p = 0; p < pl->npanels; p++) {
            const s_panel_t *pn = &pl->panels[p];
            const mdl_jsonflat_kv_t *x = s_lookup (o, pn->xname, pl->average);
            if (!x || x->is_null)
                continue;
            s_pt_t pt = { .panel = p, .series = sidx, .k = k, .cat = -1 };
            if (x->is_num)
                pt.x = x->num * pn->xscale;
            else if ((pt.cat = s_cat (pl, x->str)) < 0)
                continue;
            bool any = false;
            for (int i = 0; i < pn->ny; i++) {
                const mdl_jsonflat_kv_t *y = s_lookup (o, pn->yname[i], pl->average);
                pt.y[i] = y && y->is_num && isfinite (y->num) ? y->num : NAN;
                any |= !isnan (pt.y[i]);
            }
            if (!any)
                continue;
            if (pl->npts == pl->cap) {
                size_t cap = pl->cap ? pl->cap * 2 : 1024;
                s_pt_t *q = realloc (pl->pts, cap * sizeof *q);
                if (!q)
                    break;
                pl->pts = q;
                pl->cap = cap;
            }
            pl->pts[pl->npts++] = pt;
            got++;
        }
    }
    free (o);
    free (line);
    fclose (f);
    if (lines > 0 && bad == lines) {
        snprintf (err, errlen, "meshdl plot: %s holds no JSON lines (%ld lines, none parses)", pl->files[file], lines);
        return -1;
    }
    return got;
}

/* A string for a gnuplot script in single quotes ('' is a quote). */
static void
s_gp_str (FILE *f, const char *s)
{
    fputc ('\'', f);
    for (; *s; s++) {
        if (*s == '\'')
            fputc ('\'', f);
        if (*s != '\n')
            fputc (*s, f);
    }
    fputc ('\'', f);
}

static int
s_cmp_pt (const void *a, const void *b)
{
    const s_pt_t *p = a, *q = b;
    if (p->panel != q->panel)
        return p->panel - q->panel;
    if (p->series != q->series)
        return p->series - q->series;
    return p->k < q->k ? -1 : p->k > q->k;
}

/* The title of series s (for y index yi of ny). The run id only where its file holds
   several runs (every metrics line carries one: alone it tells the reader nothing). */
static void
s_title (const s_plot_t *pl, int s, const s_panel_t *pn, int yi, char *out, size_t len)
{
    const s_key_t *k = &pl->keys[s];
    bool runs = false;
    for (int i = 0; i < pl->nkeys && k->run[0]; i++)
        runs |= pl->keys[i].file == k->file && strcmp (pl->keys[i].run, k->run) != 0;
    int at = snprintf (out, len, "%s", pl->labels[k->file]);
    if (runs && at >= 0 && (size_t) at < len)
        at += snprintf (out + at, len - (size_t) at, " run %s", k->run);
    if (k->agent[0] && at >= 0 && (size_t) at < len)
        at += snprintf (out + at, len - (size_t) at, "%sagent %s", pl->nfiles > 1 || runs ? ", " : "", k->agent);
    if (pn->ny > 1 && at >= 0 && (size_t) at < len)
        snprintf (out + at, len - (size_t) at, " %s", pn->yname[yi]);
    if (pl->nfiles == 1 && k->agent[0] && !runs && pn->ny == 1)
        snprintf (out, len, "agent %s", k->agent);
}

/* Writes each panel's series into dir/pP_sS.dat and the gnuplot script; returns the
   number of series drawn. */
static int
s_script (s_plot_t *pl, const char *dir, FILE *gp, const char *out, const char *title, int w, int h, const char *yrange)
{
    qsort (pl->pts, pl->npts, sizeof *pl->pts, s_cmp_pt);
    fprintf (gp, "set terminal pngcairo noenhanced size %d,%d font ',10'\nset output ", w, h);
    s_gp_str (gp, out);
    fprintf (gp, "\nset grid\nset key bottom right\n");
    if (yrange)
        fprintf (gp, "set yrange [%s]\n", yrange);
    fprintf (gp, "set multiplot layout 1,%d", pl->npanels);
    if (title) {
        fprintf (gp, " title ");
        s_gp_str (gp, title);
    }
    fprintf (gp, "\n");
    if (pl->ncats) {
        fprintf (gp, "set xtics rotate by -30 (");
        for (int c = 0; c < pl->ncats; c++) {
            fprintf (gp, "%s", c ? ", " : "");
            s_gp_str (gp, pl->cats[c]);
            fprintf (gp, " %d", c);
        }
        fprintf (gp, ")\nset xrange [-0.5:%d.5]\n", pl->ncats - 1);
    }
    int drawn = 0;
    for (int p = 0; p < pl->npanels; p++) {
        const s_panel_t *pn = &pl->panels[p];
        fprintf (gp, "set xlabel ");
        s_gp_str (gp, pn->xlabel);
        fprintf (gp, "\nset ylabel ");
        s_gp_str (gp, pn->ylabel);
        fprintf (gp, "\n%s logscale y\n%s logscale x\n", pn->logy ? "set" : "unset", pn->logx ? "set" : "unset");
        /* a panel of summaries (one point per series) is a scatter: the points carry their
           labels, the key would repeat them; categories are points, not lines */
        bool single = true, cats = false;
        for (size_t i = 0; i < pl->npts; i++)
            if (pl->pts[i].panel == p) {
                cats |= pl->pts[i].cat >= 0;
                single &= pl->pts[i].k == 0 || (i > 0 && pl->pts[i - 1].panel == p
                                                 && pl->pts[i - 1].series == pl->pts[i].series
                                                 && pl->pts[i - 1].k == pl->pts[i].k);
            }
        /* rising curves (accuracy) leave the bottom right free, falling ones (a log y: the
           consensus distance) the top right */
        fprintf (gp, single && pl->legend ? "set key outside right top\nset offsets graph 0.05, graph 0.05, graph 0.05, graph 0.05\n"
                 : single ? "set key off\nset offsets graph 0.1, graph 0.1, graph 0.12, graph 0.05\n"
                 : pn->logy ? "set key top right\nset offsets 0, 0, 0, 0\n"
                            : "set key bottom right\nset offsets 0, 0, 0, 0\n");
        fprintf (gp, "plot ");
        int nplot = 0;
        for (size_t i = 0; i < pl->npts;) {
            if (pl->pts[i].panel != p) {
                i++;
                continue;
            }
            const int s = pl->pts[i].series;
            size_t j = i;
            while (j < pl->npts && pl->pts[j].panel == p && pl->pts[j].series == s)
                j++;
            /* --average: the points of one ordinal are averaged (mean x, mean y) */
            char path[4200];
            snprintf (path, sizeof path, "%s/p%d_s%d.dat", dir, p, s);
            FILE *d = fopen (path, "w");
            if (!d)
                return -1;
            size_t npoints = 0;
            for (size_t a = i; a < j;) {
                size_t b = a;
                double sx = 0, sy[S_YS] = { 0 };
                size_t ny[S_YS] = { 0 };
                while (b < j && pl->pts[b].k == pl->pts[a].k) {
                    sx += pl->pts[b].cat >= 0 ? pl->pts[b].cat : pl->pts[b].x;
                    for (int y = 0; y < pn->ny; y++)
                        if (!isnan (pl->pts[b].y[y]))
                            sy[y] += pl->pts[b].y[y], ny[y]++;
                    b++;
                }
                fprintf (d, "%.10g", sx / (double) (b - a));
                for (int y = 0; y < pn->ny; y++) {
                    if (ny[y])
                        fprintf (d, " %.10g", sy[y] / (double) ny[y]);
                    else
                        fprintf (d, " NaN");
                }
                fprintf (d, "\n");
                npoints++;
                a = b;
            }
            fclose (d);
            for (int y = 0; y < pn->ny; y++) {
                char t[256];
                s_title (pl, s, pn, y, t, sizeof t);
                fprintf (gp, "%s", nplot++ ? ", " : "");
                s_gp_str (gp, path);
                /* in a key, points that share a colour (8 in gnuplot's cycle) differ in shape
                   (square, circle, triangles up and down, diamond, pentagon), open so that
                   points on one spot still show each */
                if ((npoints == 1 || cats) && pl->legend)
                    fprintf (gp, " using 1:%d with points pt %d ps 2 lw 2 title ", y + 2, 4 + 2 * ((nplot - 1) % 6));
                else
                    fprintf (gp, " using 1:%d with %s title ", y + 2, npoints > 1 && !cats ? "linespoints pt 7 ps 0.5" : "points pt 7 ps 1.5");
                s_gp_str (gp, t);
                if (npoints == 1 && !pl->legend) { /* a summary: its label beside the point */
                    fprintf (gp, ", ");
                    s_gp_str (gp, path);
                    fprintf (gp, " using 1:%d:(", y + 2);
                    s_gp_str (gp, t);
                    fprintf (gp, ") with labels offset 0,1 notitle");
                }
            }
            drawn++;
            i = j;
        }
        if (!nplot)
            fprintf (gp, "NaN notitle");
        fprintf (gp, "\n");
    }
    fprintf (gp, "unset multiplot\n");
    return drawn;
}

/* Removes our own mkdtemp directory: the script, gnuplot's messages, the .dat files. */
static void
s_rmtree (const char *dir, int npanels, int nseries)
{
    char cmd[4300];
    snprintf (cmd, sizeof cmd, "%s/plot.gp", dir);
    unlink (cmd);
    for (int p = 0; p < npanels; p++)
        for (int s = 0; s < nseries; s++) {
            snprintf (cmd, sizeof cmd, "%s/p%d_s%d.dat", dir, p, s);
            unlink (cmd);
        }
    snprintf (cmd, sizeof cmd, "%s/gnuplot.err", dir);
    unlink (cmd);
    rmdir (dir);
}

/* What the command line asks beside the files and panels (s_plot_t). */
typedef struct {
    const char *out, *title, *yrange, *ylabel, *xlabel;
    int w, h;
    int mode; /* -1: by the number of files, 0: --per-agent, 1: --average */
} s_args_t;

/* Adds the file argument a ("PATH" or "PATH=LABEL"; the label defaults to the file's
   name without .jsonl) to pl. 0, or -1 with err. */
static int
s_add_file (s_plot_t *pl, const char *a, char *err, size_t errlen)
{
    if (pl->nfiles == S_SERIES) {
        snprintf (err, errlen, "meshdl plot: at most %d files", S_SERIES);
        return -1;
    }
    const char *eq = strchr (a, '=');
    const char *base = strrchr (a, '/');
    base = base ? base + 1 : a;
    char *label = pl->labels[pl->nfiles];
    if (eq) {
        snprintf (label, sizeof pl->labels[0], "%s", eq + 1);
        char *path = strndup (a, (size_t) (eq - a));
        pl->files[pl->nfiles] = path ? path : a;
    } else {
        snprintf (label, sizeof pl->labels[0], "%s", base);
        char *dot = strstr (label, ".jsonl");
        if (dot && dot != label)
            *dot = '\0';
        pl->files[pl->nfiles] = a;
    }
    pl->nfiles++;
    return 0;
}

/* Reads --yrange LO:HI (checked only: gnuplot takes the text) and --size W,H. 0, or -1
   with err. */
static int
s_yrange_check (const char *yrange, char *err, size_t errlen)
{
    char *end;
    double lo = strtod (yrange, &end), hi = *end == ':' ? strtod (end + 1, &end) : NAN;
    if (*end || !(hi > lo)) {
        snprintf (err, errlen, "meshdl plot: --yrange '%s' must be LO:HI with LO < HI, e.g. 0.6:0.9", yrange);
        return -1;
    }
    return 0;
}

static int
s_size_parse (const char *s, int *w, int *h, char *err, size_t errlen)
{
    char *end;
    *w = (int) strtol (s, &end, 10);
    *h = *end == ',' ? (int) strtol (end + 1, &end, 10) : 0;
    if (*end || *w < 200 || *h < 150 || *w > 10000 || *h > 10000) {
        snprintf (err, errlen, "meshdl plot: --size '%s' must be W,H in pixels (200-10000, e.g. 1200,450)", s);
        return -1;
    }
    return 0;
}

/* Reads argv into pl (files, panels) and *a. Returns 0, 1 (--help printed), or -1 with
   err. */
static int
s_parse_args (s_plot_t *pl, s_args_t *a, int argc, char **argv, char *err, size_t errlen)
{
    *a = (s_args_t) { .mode = -1 };
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        const bool more = i + 1 < argc;
        int rc = 0;
        if (!strcmp (arg, "--help") || !strcmp (arg, "-h")) {
            printf ("%s\n", s_usage);
            return 1;
        } else if ((!strcmp (arg, "-o") || !strcmp (arg, "--out")) && more)
            a->out = argv[++i];
        else if (!strcmp (arg, "--panel") && more)
            rc = s_panel_parse (pl, argv[++i], err, errlen);
        else if (!strcmp (arg, "--average"))
            a->mode = 1;
        else if (!strcmp (arg, "--per-agent"))
            a->mode = 0;
        else if (!strcmp (arg, "--yrange") && more)
            rc = s_yrange_check (a->yrange = argv[++i], err, errlen);
        else if (!strcmp (arg, "--ylabel") && more)
            a->ylabel = argv[++i];
        else if (!strcmp (arg, "--xlabel") && more)
            a->xlabel = argv[++i];
        else if (!strcmp (arg, "--legend"))
            pl->legend = true;
        else if (!strcmp (arg, "--title") && more)
            a->title = argv[++i];
        else if (!strcmp (arg, "--size") && more)
            rc = s_size_parse (argv[++i], &a->w, &a->h, err, errlen);
        else if (arg[0] == '-' && arg[1]) {
            snprintf (err, errlen, "meshdl plot: unknown option or missing value: '%s' (see meshdl plot --help)", arg);
            rc = -1;
        } else
            rc = s_add_file (pl, arg, err, errlen);
        if (rc)
            return -1;
    }
    if (!pl->nfiles || !a->out) {
        snprintf (err, errlen, "meshdl plot: say what to plot and where: meshdl plot FILE.jsonl... -o FIG.png");
        return -1;
    }
    return 0;
}

/* Runs gnuplot on script, its stderr into errpath. 0, or -1 with err (gnuplot missing,
   or its first line of complaint). */
static int
s_gnuplot (const char *script, const char *errpath, char *err, size_t errlen)
{
    pid_t pid = fork ();
    if (pid == 0) {
        if (!freopen (errpath, "w", stderr) || !freopen ("/dev/null", "w", stdout))
            _exit (126);
        execlp ("gnuplot", "gnuplot", script, (char *) NULL);
        _exit (127);
    }
    int status = 0;
    if (pid < 0 || waitpid (pid, &status, 0) < 0)
        snprintf (err, errlen, "meshdl plot: cannot run gnuplot: %s", strerror (errno));
    else if (WIFEXITED (status) && WEXITSTATUS (status) == 127)
        snprintf (err, errlen, "meshdl plot: gnuplot is not installed (apt-get install gnuplot-nox)");
    else if (!WIFEXITED (status) || WEXITSTATUS (status) != 0) {
        char first[300] = "";
        FILE *e = fopen (errpath, "r");
        while (e && fgets (first, sizeof first, e) && first[strspn (first, " \t\r\n")] == '\0')
            ;
        if (e)
            fclose (e);
        first[strcspn (first, "\n")] = '\0';
        snprintf (err, errlen, "meshdl plot: gnuplot failed: %s", first[0] ? first : "(no message)");
    } else
        return 0;
    return -1;
}

/* Writes the data and the script into a temporary directory, runs gnuplot into OUT.tmp
   and renames it to OUT, so that a failed plot leaves no half-written figure. Returns
   the number of series drawn, or -1 with err. */
static int
s_draw (s_plot_t *pl, const s_args_t *a, char *err, size_t errlen)
{
    char dir[] = "/tmp/meshdl-plot.XXXXXX";
    if (!mkdtemp (dir)) {
        snprintf (err, errlen, "meshdl plot: cannot make a temporary directory: %s", strerror (errno));
        return -1;
    }
    char script[4200], tmpout[4200], errpath[4200];
    snprintf (script, sizeof script, "%s/plot.gp", dir);
    snprintf (errpath, sizeof errpath, "%s/gnuplot.err", dir);
    snprintf (tmpout, sizeof tmpout, "%s.tmp", a->out);
    FILE *probe = fopen (tmpout, "w"); /* can we write there at all? (gnuplot's message would be vaguer) */
    if (!probe) {
        snprintf (err, errlen, "meshdl plot: cannot write %s: %s", a->out, strerror (errno));
        s_rmtree (dir, 0, 0);
        return -1;
    }
    fclose (probe);
    FILE *gp = fopen (script, "w");
    int drawn = gp ? s_script (pl, dir, gp, tmpout, a->title, a->w, a->h, a->yrange) : -1;
    if (gp)
        fclose (gp);
    if (drawn < 0)
        snprintf (err, errlen, "meshdl plot: cannot write the plot's data in %s", dir);
    else if (s_gnuplot (script, errpath, err, errlen))
        drawn = -1;
    else if (rename (tmpout, a->out) != 0) {
        snprintf (err, errlen, "meshdl plot: cannot write %s: %s", a->out, strerror (errno));
        drawn = -1;
    }
    unlink (tmpout);
    s_rmtree (dir, pl->npanels, pl->nkeys);
    return drawn;
}

int
mdl_cmd_plot (int argc, char **argv)
{
    static s_plot_t pl; /* large; one plot per process */
    memset (&pl, 0, sizeof pl);
    s_args_t a;
    char err[1024] = "";
    int rc = s_parse_args (&pl, &a, argc, argv, err, sizeof err);
    if (rc == 1)
        return 0;
    if (rc)
        goto bad;
    if (!pl.npanels)
        for (const char *const *d = (const char *const[]) { "acc:time", "acc:bytes", "consensus:time", NULL }; *d; d++)
            s_panel_parse (&pl, *d, err, sizeof err);
    pl.average = a.mode < 0 ? pl.nfiles > 1 : a.mode == 1;
    for (int p = 0; a.ylabel && p < pl.npanels; p++)
        snprintf (pl.panels[p].ylabel, sizeof pl.panels[p].ylabel, "%s", a.ylabel);
    for (int p = 0; a.xlabel && p < pl.npanels; p++)
        snprintf (pl.panels[p].xlabel, sizeof pl.panels[p].xlabel, "%s", a.xlabel);
    if (!a.w)
        a.w = 420 * pl.npanels + 120, a.h = 420;
    long total = 0;
    for (int f = 0; f < pl.nfiles; f++) {
        long got = s_read (&pl, f, err, sizeof err);
        if (got < 0)
            goto bad;
        total += got;
    }
    if (!total) {
        snprintf (err, sizeof err, "meshdl plot: nothing to plot: no line of %s%s has the keys of a panel (%s:%s...; "
                  "metrics come from meshdl sim/agent --metrics FILE)", pl.files[0], pl.nfiles > 1 ? " (and the others)" : "",
                  pl.panels[0].yname[0], pl.panels[0].xname);
        goto bad;
    }
    int drawn = s_draw (&pl, &a, err, sizeof err);
    if (drawn < 0)
        goto bad;
    fprintf (stderr, "meshdl plot: %s: %d series, %ld points, %d panel%s\n", a.out, drawn, total, pl.npanels,
             pl.npanels > 1 ? "s" : "");
    free (pl.pts);
    return 0;
bad:
    free (pl.pts);
    fprintf (stderr, "%s\n", err);
    return 2;
}
