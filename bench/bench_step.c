/*  bench_step.c: time of one training step of mlp:784-256-128-10 (forward, softmax
    cross-entropy, backward, SGD-momentum update) through the public API, the raw
    OpenBLAS sgemm rate of the machine, and the peak memory of a short `meshdl train`.
    bench/torch_step.py is its PyTorch twin and bench/step.sh prints both side by side;
    bench/README.md says how to read the numbers.

    usage: bench_step [--threads N] [--batches 16,64,256] [--warmup N] [--min-time S]
                      [--min-steps N] [--sgemm 1024,2048] [--meshdl PATH] [--no-floor]

    Output: one "key: k=v k=v ..." line per measurement, so step.sh can parse it.

    FLOPs of a step: the GEMMs both frameworks actually run, counted exactly:
      forward   y = x W^T          2 B (784*256 + 256*128 + 128*10) = 2 B * 234752
      backward  dW = dy^T x        2 B * 234752
                dx = dy W          2 B * (256*128 + 128*10)          = 2 B * 34048
                (the first layer's dx is not computed, by meshdl nor by PyTorch)
      total                        2 B * 503552 = 1007104 B
    Element-wise work (bias, ReLU, softmax, update) is not counted. The common "3x the
    forward" rule would give 1408512 B, 40% more than what is computed. */
#include "model.h"
#include "optim.h"

#include <cblas.h>
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* OpenBLAS's own entry points. Its cblas.h declares them too; these declarations say
   which ones the benchmark depends on, so another cblas.h fails at link time, loudly. */
extern void openblas_set_num_threads (int);
extern int openblas_get_num_threads (void);
extern char *openblas_get_config (void);
extern char *openblas_get_corename (void);

#define S_SPEC "mlp:784-256-128-10"
#define S_IN 784
#define S_CLASSES 10
#define S_MAX_BATCHES 16
/* GEMM FLOPs per sample of one step; see the header comment. */
#define S_FLOPS_PER_SAMPLE 1007104.0

typedef struct {
    int threads;
    size_t batches[S_MAX_BATCHES];
    int nbatches;
    int warmup;
    double min_time;
    long min_steps;
    int sgemm_n[8];
    int nsgemm;
    const char *meshdl;
    int floor; /* also time the step's sgemm calls alone */
} s_opts_t;

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + 1e-9 * (double) ts.tv_nsec;
}

/* splitmix64 and Box-Muller on it: torch_step.py implements the same generator, so both
   sides train on bit-identical data (each prints the checksum to show it). */
static uint64_t
s_next (uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double
s_normal (uint64_t *s)
{
    const double u1 = (double) ((s_next (s) >> 11) + 1) * 0x1p-53; /* (0, 1] */
    const double u2 = (double) (s_next (s) >> 11) * 0x1p-53;       /* [0, 1) */
    return sqrt (-2.0 * log (u1)) * cos (2.0 * 3.14159265358979323846 * u2);
}

/* CPU time of the whole process (every thread): unlike wall time it does not advance
   while other processes hold the cores, so it stays meaningful on a loaded machine. */
static double
s_cpu (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double) ts.tv_sec + 1e-9 * (double) ts.tv_nsec;
}

static int
s_cmp_double (const void *a, const void *b)
{
    const double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

static double
s_median (double *v, size_t n)
{
    qsort (v, n, sizeof *v, s_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double
s_mean (const double *v, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += v[i];
    return s / (double) n;
}

/* Parses "a,b,c" of positive integers into v (at most cap). Returns the count or -1. */
static int
s_parse_list (const char *s, long *v, int cap)
{
    int n = 0;
    while (*s) {
        char *end;
        errno = 0;
        long x = strtol (s, &end, 10);
        if (errno || end == s || x < 1 || x > 1000000 || n == cap)
            return -1;
        v[n++] = x;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return -1;
    }
    return n;
}

static void
s_usage (FILE *f)
{
    fprintf (f, "usage: bench_step [--threads N] [--batches 16,64,256] [--warmup N]\n"
                "                  [--min-time S] [--min-steps N] [--sgemm 1024,2048]\n"
                "                  [--meshdl PATH] [--no-floor]\n"
                "  --meshdl PATH  a meshdl binary: run a short `train` and report its peak RSS\n"
                "  --no-floor     skip timing the step's sgemm calls alone\n");
}

static int
s_parse_opts (int argc, char **argv, s_opts_t *o)
{
    *o = (s_opts_t){ .threads = 1, .batches = { 16, 64, 256 }, .nbatches = 3, .warmup = 50,
                     .min_time = 1.0, .min_steps = 200, .sgemm_n = { 1024, 2048 }, .nsgemm = 2,
                     .floor = 1 };
    for (int a = 1; a < argc; a++) {
        const char *k = argv[a], *v = a + 1 < argc ? argv[a + 1] : NULL;
        long list[S_MAX_BATCHES];
        int n;
        if (!strcmp (k, "--help") || !strcmp (k, "-h")) {
            s_usage (stdout);
            exit (0);
        }
        if (!strcmp (k, "--no-floor")) {
            o->floor = 0;
            continue;
        }
        if (!v)
            return -1;
        a++;
        if (!strcmp (k, "--threads")) {
            o->threads = atoi (v);
            if (o->threads < 1 || o->threads > 256)
                return -1;
        } else if (!strcmp (k, "--batches")) {
            if ((n = s_parse_list (v, list, S_MAX_BATCHES)) < 1)
                return -1;
            for (int i = 0; i < n; i++)
                o->batches[i] = (size_t) list[i];
            o->nbatches = n;
        } else if (!strcmp (k, "--sgemm")) {
            if ((n = s_parse_list (v, list, 8)) < 0 || n > 8)
                return -1;
            for (int i = 0; i < n; i++)
                if ((o->sgemm_n[i] = (int) list[i]) > 8192)
                    return -1;
            o->nsgemm = n;
        } else if (!strcmp (k, "--warmup")) {
            o->warmup = atoi (v);
            if (o->warmup < 0)
                return -1;
        } else if (!strcmp (k, "--min-time")) {
            o->min_time = atof (v);
            if (!(o->min_time >= 0.0))
                return -1;
        } else if (!strcmp (k, "--min-steps")) {
            o->min_steps = atol (v);
            if (o->min_steps < 1)
                return -1;
        } else if (!strcmp (k, "--meshdl"))
            o->meshdl = v;
        else
            return -1;
    }
    return 0;
}

/* The BLAS that cblas_sgemm resolved to, by dladdr: the build may link one OpenBLAS and
   the loader pick another (Debian's alternatives), and only the loaded one counts. */
static void
s_print_blas (int threads)
{
    Dl_info info;
    const char *lib = "?";
    if (dladdr ((void *) cblas_sgemm, &info) && info.dli_fname)
        lib = info.dli_fname;
    char real[4096];
    if (realpath (lib, real))
        lib = real;
    printf ("blas: side=meshdl lib=%s core=%s threads=%d config=\"%s\"\n", lib,
            openblas_get_corename (), threads, openblas_get_config ());
    const char *vars[] = { "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS",
                           "OMP_NUM_THREADS", "OMP_WAIT_POLICY" };
    printf ("env:");
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv (vars[i]);
        printf (" %s=%s", vars[i], v ? v : "(unset)");
    }
    printf ("\n");
}

/* Best GFLOP/s of C = A B for square n over >= 0.5 s; -1 on allocation failure. */
static double
s_sgemm_gflops (int n)
{
    const size_t nn = (size_t) n * n;
    float *a = malloc (nn * sizeof *a), *b = malloc (nn * sizeof *b), *c = malloc (nn * sizeof *c);
    double best = -1.0;
    if (!a || !b || !c)
        goto done;
    uint64_t s = 7;
    for (size_t i = 0; i < nn; i++) {
        a[i] = (float) s_normal (&s);
        b[i] = (float) s_normal (&s);
        c[i] = 0.0f;
    }
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f,
                 c, n); /* warm-up: thread pool, page faults */
    const double flops = 2.0 * n * (double) n * n, t0 = s_now ();
    do {
        const double t = s_now ();
        cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n,
                     0.0f, c, n);
        const double g = flops / (s_now () - t) / 1e9;
        if (g > best)
            best = g;
    } while (s_now () - t0 < 0.5);
done:
    free (a);
    free (b);
    free (c);
    return best;
}

/* The step's eight sgemm calls alone, with the shapes and transposes of layer_dense.c:
   a floor for the step's time if everything else were free. Returns the median in s. */
static double
s_gemm_floor (const float *x, size_t B, const s_opts_t *o)
{
    static const int dims[4] = { 784, 256, 128, 10 };
    const int b = (int) B;
    float *w[3], *act[4], *d[4], *dw[3];
    size_t cap = 1 << 20;
    double *ts = malloc (cap * sizeof *ts), med = NAN;
    int ok = ts != NULL;
    for (int i = 0; i < 4; i++) {
        act[i] = calloc (B * dims[i], sizeof (float));
        d[i] = calloc (B * dims[i], sizeof (float));
        ok &= act[i] && d[i];
        if (i < 3) {
            w[i] = calloc ((size_t) dims[i] * dims[i + 1], sizeof (float));
            dw[i] = calloc ((size_t) dims[i] * dims[i + 1], sizeof (float));
            ok &= w[i] && dw[i];
        }
    }
    if (!ok)
        goto done;
    memcpy (act[0], x, B * S_IN * sizeof (float));
    for (int i = 0; i < 3; i++)
        for (size_t k = 0; k < (size_t) dims[i] * dims[i + 1]; k++)
            w[i][k] = 0.01f * (float) ((k * 2654435761u) % 201) - 1.0f;
    for (size_t k = 0; k < B * 10; k++)
        d[3][k] = 0.001f;
    size_t n = 0;
    double t0 = s_now ();
    for (long it = 0;; it++) {
        const double t = s_now ();
        for (int i = 0; i < 3; i++)
            cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, b, dims[i + 1], dims[i], 1.0f,
                         act[i], dims[i], w[i], dims[i], 1.0f, act[i + 1], dims[i + 1]);
        for (int i = 2; i >= 0; i--) {
            cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, dims[i + 1], dims[i], b, 1.0f,
                         d[i + 1], dims[i + 1], act[i], dims[i], 0.0f, dw[i], dims[i]);
            if (i > 0)
                cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, b, dims[i], dims[i + 1],
                             1.0f, d[i + 1], dims[i + 1], w[i], dims[i], 0.0f, d[i], dims[i]);
        }
        const double e = s_now () - t;
        if (it < o->warmup)
            continue;
        if (n == 0)
            t0 = t;
        if (n < cap)
            ts[n++] = e;
        if (n >= (size_t) o->min_steps && s_now () - t0 >= o->min_time)
            break;
        /* act[] grows by beta = 1 each round; reset before it overflows to Inf. */
        if (it % 64 == 0)
            for (int i = 1; i < 4; i++)
                memset (act[i], 0, B * dims[i] * sizeof (float));
    }
    med = s_median (ts, n);
done:
    for (int i = 0; i < 4; i++) {
        free (act[i]);
        free (d[i]);
        if (i < 3) {
            free (w[i]);
            free (dw[i]);
        }
    }
    free (ts);
    return med;
}

/* Times steps of the model at batch B on x (B, 784), labels y. Prints one "step:" line
   and one "phases:" line. Returns 0, or 1 on failure (printed). */
static int
s_bench_batch (const float *x, const int32_t *y, size_t B, const s_opts_t *o)
{
    int err = 0, rc = 1;
    mdl_model_t *m = mdl_model_new (S_SPEC, 1, &err);
    mdl_optim_t *opt = NULL;
    const size_t cap = 1 << 20;
    double *t_step = malloc (cap * sizeof (double)), *t_fwd = malloc (cap * sizeof (double)),
           *t_bwd = malloc (cap * sizeof (double)), *t_opt = malloc (cap * sizeof (double)),
           *t_cpu = malloc (cap * sizeof (double));
    if (!m || !t_step || !t_fwd || !t_bwd || !t_opt || !t_cpu || mdl_model_reserve (m, B)) {
        fprintf (stderr, "bench_step: model setup failed (%d)\n", err);
        goto done;
    }
    mdl_opt_cfg_t cfg;
    mdl_opt_defaults (&cfg, MDL_OPT_MOMENTUM);
    cfg.momentum = 0.9f;
    if (!(opt = mdl_optim_new (&cfg, mdl_model_nparams (m), &err))) {
        fprintf (stderr, "bench_step: optimizer setup failed (%d)\n", err);
        goto done;
    }
    float *params = mdl_model_params (m);
    const float *grads = mdl_model_grads (m);
    const float lr = 0.01f;
    float loss = 0.0f;
    for (int i = 0; i < o->warmup; i++) {
        mdl_model_forward (m, x, B);
        loss = mdl_model_backward (m, y, NULL, B);
        mdl_optim_step (opt, params, grads, lr);
    }
    size_t n = 0;
    const double t0 = s_now ();
    for (;;) {
        const double ca = s_cpu (), a = s_now ();
        mdl_model_forward (m, x, B);
        const double b = s_now ();
        loss = mdl_model_backward (m, y, NULL, B);
        const double c = s_now ();
        mdl_optim_step (opt, params, grads, lr);
        const double d = s_now (), cd = s_cpu ();
        t_cpu[n] = cd - ca;
        t_step[n] = d - a;
        t_fwd[n] = b - a;
        t_bwd[n] = c - b;
        t_opt[n] = d - c;
        n++;
        if (n == cap || (n >= (size_t) o->min_steps && d - t0 >= o->min_time))
            break;
    }
    const double mean = s_mean (t_step, n), med = s_median (t_step, n);
    const double floor = o->floor ? s_gemm_floor (x, B, o) : NAN;
    printf ("step: side=meshdl batch=%zu median_us=%.1f mean_us=%.1f min_us=%.1f steps=%zu "
            "samples_per_s=%.0f gflops=%.2f flops_per_step=%.0f gemm_floor_us=%.1f "
            "loss=%.4f cpu_median_us=%.1f\n",
            B, 1e6 * med, 1e6 * mean, 1e6 * t_step[0], n, (double) B / med,
            S_FLOPS_PER_SAMPLE * (double) B / med / 1e9, S_FLOPS_PER_SAMPLE * (double) B,
            1e6 * floor, loss, 1e6 * s_median (t_cpu, n));
    printf ("phases: side=meshdl batch=%zu forward_us=%.1f backward_us=%.1f optim_us=%.1f\n", B,
            1e6 * s_median (t_fwd, n), 1e6 * s_median (t_bwd, n), 1e6 * s_median (t_opt, n));
    rc = isfinite (loss) ? 0 : 1;
    if (rc)
        fprintf (stderr, "bench_step: loss is not finite at batch %zu\n", B);
done:
    mdl_optim_destroy (&opt);
    mdl_model_destroy (&m);
    free (t_step);
    free (t_fwd);
    free (t_bwd);
    free (t_opt);
    free (t_cpu);
    return rc;
}

/* Runs `meshdl train` for one short epoch and reports its peak RSS twice: the kernel's
   ru_maxrss from wait4 (what /usr/bin/time -v shows) and the peak_rss_mb key of the
   JSON summary on its last stdout line. Returns 0, or 1 on failure (printed). */
static int
s_train_memory (const char *meshdl, int threads)
{
    char thr[16];
    snprintf (thr, sizeof thr, "%d", threads);
    char prog[4096];
    snprintf (prog, sizeof prog, "%s", meshdl);
    char *const args[] = { prog, "train", "--model", S_SPEC, "--epochs", "1",
                           "--train-subset", "10000", "--threads", thr, "--quiet", NULL };
    int fd[2];
    if (pipe (fd)) {
        perror ("bench_step: pipe");
        return 1;
    }
    const double t0 = s_now ();
    pid_t pid = fork ();
    if (pid < 0) {
        perror ("bench_step: fork");
        return 1;
    }
    if (pid == 0) {
        dup2 (fd[1], 1);
        close (fd[0]);
        close (fd[1]);
        execv (meshdl, args);
        fprintf (stderr, "bench_step: cannot run %s: %s\n", meshdl, strerror (errno));
        _exit (127);
    }
    close (fd[1]);
    /* Keep the tail of stdout: the summary is its last line. */
    static char buf[1 << 16];
    size_t len = 0;
    for (;;) {
        if (len == sizeof buf - 1) {
            memmove (buf, buf + sizeof buf / 2, sizeof buf / 2 - 1);
            len = sizeof buf / 2 - 1;
        }
        ssize_t r = read (fd[0], buf + len, sizeof buf - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t) r;
    }
    buf[len] = '\0';
    close (fd[0]);
    int status;
    struct rusage ru;
    if (wait4 (pid, &status, 0, &ru) < 0) {
        perror ("bench_step: wait4");
        return 1;
    }
    const double wall = s_now () - t0;
    if (!WIFEXITED (status) || WEXITSTATUS (status) != 0) {
        fprintf (stderr, "bench_step: %s train failed (status %d)\n", meshdl, status);
        return 1;
    }
    double summary = NAN;
    const char *k = strstr (buf, "\"peak_rss_mb\":");
    if (k)
        summary = strtod (k + strlen ("\"peak_rss_mb\":"), NULL);
    printf ("train: side=meshdl cmd=\"%s train --model %s --epochs 1 --train-subset 10000 "
            "--threads %d\" wall_s=%.2f maxrss_mb=%.1f summary_peak_rss_mb=%.1f\n",
            meshdl, S_SPEC, threads, wall, (double) ru.ru_maxrss / 1024.0, summary);
    return 0;
}

int
main (int argc, char **argv)
{
    s_opts_t o;
    if (s_parse_opts (argc, argv, &o)) {
        s_usage (stderr);
        return 2;
    }
    openblas_set_num_threads (o.threads);
    s_print_blas (openblas_get_num_threads ());

    size_t maxb = 0;
    for (int i = 0; i < o.nbatches; i++)
        if (o.batches[i] > maxb)
            maxb = o.batches[i];
    float *x = malloc (maxb * S_IN * sizeof *x);
    int32_t *y = malloc (maxb * sizeof *y);
    if (!x || !y)
        return 1;
    uint64_t s = 42;
    double xsum = 0.0;
    long ysum = 0;
    for (size_t i = 0; i < maxb * S_IN; i++) {
        x[i] = (float) s_normal (&s);
        xsum += x[i];
    }
    for (size_t r = 0; r < maxb; r++) {
        y[r] = (int32_t) (s_next (&s) % S_CLASSES);
        ysum += y[r];
    }
    printf ("data: side=meshdl rows=%zu x_sum=%.6f y_sum=%ld\n", maxb, xsum, ysum);

    double peak = 0.0;
    for (int i = 0; i < o.nsgemm; i++) {
        const double g = s_sgemm_gflops (o.sgemm_n[i]);
        printf ("sgemm: n=%d gflops=%.2f threads=%d\n", o.sgemm_n[i], g, o.threads);
        if (g > peak)
            peak = g;
    }
    if (o.nsgemm)
        printf ("sgemm_peak: gflops=%.2f\n", peak);

    int rc = 0;
    for (int i = 0; i < o.nbatches; i++)
        rc |= s_bench_batch (x, y, o.batches[i], &o);
    struct rusage ru;
    getrusage (RUSAGE_SELF, &ru);
    printf ("rss: side=meshdl process=bench_step peak_rss_mb=%.1f\n", (double) ru.ru_maxrss / 1024.0);
    fflush (stdout);
    if (o.meshdl)
        rc |= s_train_memory (o.meshdl, o.threads);
    free (x);
    free (y);
    return rc;
}
