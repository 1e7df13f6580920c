/*
 * The optimum's dynamic program (soc_dp.h; doc/optimum.md): the step cost
 * as a convex hull, the backward pass over a grid of stored energies, the
 * forward pass that reads the best plan, and the dual bound.
 */
#include "soc_dp.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define DP_INF 1e300
#define DP_GRID_MAX 1000   /* grid intervals per capacity, at most */
#define DP_GRID_MIN 50     /* ... and at least, when chosen from n */
#define DP_WORK 3.0e8      /* state x transition pairs the auto grid aims at */
#define DP_GRID_LIMIT 4000 /* the most a caller may ask for */

/* A regime of constant AC power p (+ discharge) over a step: the change x
 * of the stored energy and its cost. */
struct point {
    double x, c, p;
};

/* A convex piecewise-linear cost of x: vertices by increasing x. */
struct hull {
    int m;
    struct point v[4];
};

/* The figures of one step, shared by its transitions. */
struct step_costs {
    double xmin, xmax;
    struct hull all;  /* every regime: time shared freely in the step */
    struct hull down; /* regimes that do not charge (p >= 0) */
    struct hull up;   /* regimes that do not discharge (p <= 0) */
};

static struct point regime(const struct dp_step *s, double eta, double p)
{
    struct point pt;
    double grid = s->load_kw - s->pv_kw - p;
    double price = grid > 0 ? s->import_price : s->export_price;
    pt.p = p;
    pt.x = p <= 0 ? -p * s->hours * eta : -p * s->hours / eta;
    pt.c = s->hours * price * grid;
    return pt;
}

static double cross(const struct point *o, const struct point *a,
                    const struct point *b)
{
    return (a->x - o->x) * (b->c - o->c) - (a->c - o->c) * (b->x - o->x);
}

/* The lower convex hull of `n` points sorted by increasing x (equal x:
 * the cheaper one kept). */
static void lower_hull(const struct point *pts, int n, struct hull *h)
{
    h->m = 0;
    for (int i = 0; i < n; i++) {
        const struct point *pt = &pts[i];
        if (h->m > 0 && pt->x <= h->v[h->m - 1].x) {
            if (pt->c < h->v[h->m - 1].c)
                h->m--;
            else
                continue;
        }
        while (h->m >= 2 && cross(&h->v[h->m - 2], &h->v[h->m - 1], pt) <= 0)
            h->m--;
        h->v[h->m++] = *pt;
    }
}

/* The edge of `h` holding x: index e with v[e].x <= x <= v[e + 1].x, and
 * the share of time `*alpha` spent at v[e]; -1 when x is outside. */
static int hull_edge(const struct hull *h, double x, double *alpha)
{
    double tol = 1e-12;
    if (h->m == 0 || x < h->v[0].x - tol || x > h->v[h->m - 1].x + tol)
        return -1;
    if (h->m == 1) {
        *alpha = 1;
        return 0;
    }
    int e = 0;
    while (e < h->m - 2 && x > h->v[e + 1].x)
        e++;
    double span = h->v[e + 1].x - h->v[e].x;
    double a = span > 0 ? (h->v[e + 1].x - x) / span : 1;
    *alpha = a < 0 ? 0 : (a > 1 ? 1 : a);
    return e;
}

static double hull_cost(const struct hull *h, double x)
{
    double a;
    int e = hull_edge(h, x, &a);
    if (e < 0)
        return DP_INF;
    if (h->m == 1)
        return h->v[0].c;
    return a * h->v[e].c + (1 - a) * h->v[e + 1].c;
}

static void step_costs(const struct dp_step *s, const struct dp_battery *b,
                       struct step_costs *sc)
{
    double eta = sqrt(b->efficiency);
    double cmax = b->max_charge_kw, dmax = b->max_discharge_kw;
    double cover = s->load_kw - s->pv_kw;
    struct point pts[4];
    int n = 0;
    /* by decreasing power = increasing x */
    pts[n++] = regime(s, eta, dmax);
    if (cover > 0 && cover < dmax)
        pts[n++] = regime(s, eta, cover);
    pts[n++] = regime(s, eta, 0);
    if (cover < 0 && cover > -cmax)
        pts[n++] = regime(s, eta, cover);
    pts[n++] = regime(s, eta, -cmax);
    lower_hull(pts, n, &sc->all);
    int zero = 0;
    while (pts[zero].p > 0)
        zero++;
    lower_hull(pts, zero + 1, &sc->down);
    lower_hull(pts + zero, n - zero, &sc->up);
    sc->xmin = pts[0].x;
    sc->xmax = pts[n - 1].x;
}

/* The step's move for a change x, by the hull `h` that reached it. */
static void move_of(const struct dp_step *s, const struct hull *h, double x,
                    double end_kwh, struct dp_move *mv)
{
    double a = 1;
    int e = hull_edge(h, x, &a);
    memset(mv, 0, sizeof *mv);
    mv->energy_kwh = end_kwh;
    if (e < 0)
        return;
    for (int k = 0; k < 2 && e + k < h->m; k++) {
        double share = k == 0 ? a : 1 - a;
        const struct point *v = &h->v[e + k];
        double grid = s->load_kw - s->pv_kw - v->p;
        mv->charge_kwh += share * s->hours * (v->p < 0 ? -v->p : 0);
        mv->discharge_kwh += share * s->hours * (v->p > 0 ? v->p : 0);
        mv->import_kwh += share * s->hours * (grid > 0 ? grid : 0);
        mv->export_kwh += share * s->hours * (grid < 0 ? -grid : 0);
        mv->cost += share * v->c;
    }
}

/* For a change x on an edge of `all` that mixes a discharge with a charge:
 * how far the stored energy dips if the discharge comes first (`*dip`) or
 * rises if the charge does (`*rise`). Returns 0 when x needs no mix. */
static int excursion(const struct hull *all, double x, double *dip,
                     double *rise)
{
    double a;
    int e = hull_edge(all, x, &a);
    if (e < 0 || all->m < 2)
        return 0;
    const struct point *lo = &all->v[e], *hi = &all->v[e + 1];
    if (!(lo->x < 0 && hi->x > 0) || a <= 0 || a >= 1)
        return 0;
    *dip = a * -lo->x;
    *rise = (1 - a) * hi->x;
    return 1;
}

static int auto_grid(const struct dp_step *steps, size_t n,
                     const struct dp_battery *b)
{
    double hours = 0;
    for (size_t t = 0; t < n; t++)
        hours += steps[t].hours;
    hours /= (double)n;
    double eta = sqrt(b->efficiency);
    double frac = (b->max_charge_kw * eta + b->max_discharge_kw / eta) *
                  hours / b->capacity_kwh;
    if (frac > 2)
        frac = 2;
    if (frac < 0.01)
        frac = 0.01;
    double g = sqrt(DP_WORK / ((double)n * frac));
    if (g > DP_GRID_MAX)
        g = DP_GRID_MAX;
    if (g < DP_GRID_MIN)
        g = DP_GRID_MIN;
    return (int)g;
}

static const char *check_input(const struct dp_step *steps, size_t n,
                               const struct dp_battery *b)
{
    if (n == 0)
        return "no steps";
    if (n > 10000000)
        return "too many steps";
    if (!(b->capacity_kwh >= 0 && b->capacity_kwh < 1e6))
        return "capacity_kwh must be in [0, 1e6)";
    if (!(b->max_charge_kw >= 0 && b->max_charge_kw < 1e6) ||
        !(b->max_discharge_kw >= 0 && b->max_discharge_kw < 1e6))
        return "max_charge_kw and max_discharge_kw must be in [0, 1e6)";
    if (!(b->efficiency > 0 && b->efficiency <= 1))
        return "efficiency must be in (0, 1]";
    if (!(b->initial_kwh >= 0 && b->initial_kwh <= b->capacity_kwh))
        return "initial_kwh must be in [0, capacity_kwh]";
    if (!(b->min_kwh >= 0 && b->min_kwh <= b->capacity_kwh))
        return "min_kwh must be in [0, capacity_kwh]";
    if (b->grid != 0 && (b->grid < 1 || b->grid > DP_GRID_LIMIT))
        return "grid must be 1..4000 (or 0: automatic)";
    for (size_t t = 0; t < n; t++) {
        const struct dp_step *s = &steps[t];
        if (!(s->hours > 0 && s->hours <= 24) ||
            !(s->load_kw >= 0 && s->load_kw < 1e6) ||
            !(s->pv_kw >= 0 && s->pv_kw < 1e6) ||
            !(fabs(s->import_price) < 1e6) || !(fabs(s->export_price) < 1e6))
            return "a step has hours outside (0, 24], a power outside "
                   "[0, 1e6) or a price outside (-1e6, 1e6)";
    }
    return NULL;
}

/* No battery: every step imports or exports its net load. */
static int solve_without_battery(const struct dp_step *steps, size_t n,
                                 const struct dp_battery *b,
                                 struct dp_result *out)
{
    out->moves = calloc(n, sizeof *out->moves);
    if (!out->moves)
        return -1;
    for (size_t t = 0; t < n; t++) {
        struct point pt = regime(&steps[t], 1, 0);
        struct hull h = {1, {pt}};
        move_of(&steps[t], &h, 0, b->initial_kwh, &out->moves[t]);
        out->cost += pt.c;
    }
    out->lower_bound = out->cost;
    out->states = 1;
    return 0;
}

/* The grid: states e0 + (i - k0) * delta, i = 0..states-1; a discharge
 * ends at imin or above. */
struct grid {
    double e0, delta, min_kwh, cap;
    int states, k0, imin;
};

static double grid_energy(const struct grid *g, int i)
{
    return g->e0 + (i - g->k0) * g->delta;
}

/* The cost of moving from state i by k on step sc (DP_INF when out of
 * reach), and in `*used` the hull that reaches it: a mix of a discharge
 * with a charge only when the stored energy stays in bounds meanwhile. */
static double transition(const struct step_costs *sc, const struct grid *g,
                         int i, int k, const struct hull **used)
{
    double x = k * g->delta;
    double e = grid_energy(g, i);
    double dip, rise;
    double tol = 1e-9 * (g->cap > 1 ? g->cap : 1);
    *used = &sc->all;
    if (x < sc->xmin - tol || x > sc->xmax + tol)
        return DP_INF;
    if (excursion(&sc->all, x, &dip, &rise) &&
        !(e - dip >= g->min_kwh - tol || e + rise <= g->cap + tol)) {
        *used = k < 0 ? &sc->down : &sc->up;
        return hull_cost(*used, x);
    }
    return hull_cost(&sc->all, x);
}

/* The relaxed problem solved exactly: step costs the hull of every regime
 * (no limit on the mid-step excursion), any stored energy in [lo, cap].
 * Its value functions are convex and piecewise linear, so the backward
 * pass is exact: V_t(e) = min_x g_t(x) + V_{t+1}(e + x) is the infimal
 * convolution of V_{t+1} with x -> g_t(-x), whose pieces are the two
 * functions' pieces merged by slope. A function is its left end, its
 * value there and its pieces (length, slope) by increasing slope. */
struct piece {
    double len, slope;
};

struct pl {
    double left, value;
    size_t n, cap;
    struct piece *p;
};

static int pl_reserve(struct pl *f, size_t n)
{
    if (n <= f->cap)
        return 0;
    size_t want = f->cap ? f->cap * 2 : 64;
    while (want < n)
        want *= 2;
    struct piece *p = realloc(f->p, want * sizeof *p);
    if (!p)
        return -1;
    f->p = p;
    f->cap = want;
    return 0;
}

/* out = f convolved with x -> g(-x), then cut to [lo, hi]. */
static int pl_step(const struct pl *f, const struct hull *g, double lo,
                   double hi, struct pl *out)
{
    struct piece add[3];
    int na = 0;
    for (int e = g->m - 2; e >= 0; e--) {
        double dx = g->v[e + 1].x - g->v[e].x;
        if (dx > 0)
            add[na++] = (struct piece){dx, -(g->v[e + 1].c - g->v[e].c) / dx};
    }
    if (pl_reserve(out, f->n + (size_t)na) != 0)
        return -1;
    /* the left end: f's, minus the largest charge, at g's cost there */
    out->left = f->left - g->v[g->m - 1].x;
    out->value = f->value + g->v[g->m - 1].c;
    size_t i = 0, n = 0;
    int j = 0;
    while (i < f->n || j < na) {
        if (j >= na || (i < f->n && f->p[i].slope <= add[j].slope))
            out->p[n++] = f->p[i++];
        else
            out->p[n++] = add[j++];
    }
    out->n = n;
    /* cut the left end up to lo */
    size_t first = 0;
    while (out->left < lo && first < out->n) {
        double take = lo - out->left;
        struct piece *q = &out->p[first];
        if (take >= q->len) {
            out->left += q->len;
            out->value += q->len * q->slope;
            first++;
        } else {
            out->left = lo;
            out->value += take * q->slope;
            q->len -= take;
        }
    }
    if (out->left < lo)
        return 1; /* nothing of it reaches lo: infeasible */
    memmove(out->p, out->p + first, (out->n - first) * sizeof *out->p);
    out->n -= first;
    /* cut the right end down to hi */
    double right = out->left;
    size_t keep = 0;
    while (keep < out->n && right + out->p[keep].len <= hi) {
        right += out->p[keep].len;
        keep++;
    }
    if (keep < out->n && right < hi) {
        out->p[keep].len = hi - right;
        keep++;
    }
    out->n = keep;
    return out->left <= hi ? 0 : 1;
}

static double pl_at(const struct pl *f, double x)
{
    double v = f->value, at = f->left;
    double tol = 1e-9;
    if (x < f->left - tol)
        return DP_INF;
    for (size_t i = 0; i < f->n && at < x; i++) {
        double take = x - at < f->p[i].len ? x - at : f->p[i].len;
        v += take * f->p[i].slope;
        at += take;
    }
    return at >= x - tol ? v : DP_INF;
}

/* The relaxed problem's optimum from e0; DP_INF when none. */
static double relaxed_optimum(const struct step_costs *sc, size_t n, double lo,
                              double cap, double e0)
{
    struct pl a = {0}, b = {0};
    double result = DP_INF;
    if (pl_reserve(&a, 1) != 0)
        goto done;
    a.left = e0;
    a.value = 0;
    a.n = 1;
    a.p[0] = (struct piece){cap - e0, 0};
    for (size_t t = n; t-- > 0;) {
        int r = pl_step(&a, &sc[t].all, lo, cap, &b);
        if (r != 0)
            goto done;
        struct pl swap = a;
        a = b;
        b = swap;
    }
    result = pl_at(&a, e0);
done:
    free(a.p);
    free(b.p);
    return result;
}

/* Step t's costs by change k (klo..khi): through any regime mix (`all`),
 * and without mixing a discharge with a charge (`side`: the same where no
 * mix is needed), with the dip/rise of the mix (`mixed`: 0 when there is
 * none). */
struct table {
    int klo, khi;
    int mix_lo, mix_hi; /* the changes on a mixed edge (empty: lo > hi) */
    double *all, *side, *dip, *rise;
    char *mixed;
};

static void fill_table(const struct step_costs *sc, const struct grid *g,
                       struct table *tb)
{
    tb->klo = (int)ceil(sc->xmin / g->delta - 1e-9);
    tb->khi = (int)floor(sc->xmax / g->delta + 1e-9);
    if (tb->klo < -(g->states - 1))
        tb->klo = -(g->states - 1);
    if (tb->khi > g->states - 1)
        tb->khi = g->states - 1;
    tb->mix_lo = tb->khi + 1;
    tb->mix_hi = tb->klo - 1;
    for (int k = tb->klo; k <= tb->khi; k++) {
        int at = k - tb->klo;
        double x = k * g->delta;
        tb->all[at] = hull_cost(&sc->all, x);
        tb->mixed[at] =
            (char)excursion(&sc->all, x, &tb->dip[at], &tb->rise[at]);
        tb->side[at] = tb->mixed[at]
                           ? hull_cost(k < 0 ? &sc->down : &sc->up, x)
                           : tb->all[at];
        if (tb->mixed[at]) {
            tb->mix_lo = k < tb->mix_lo ? k : tb->mix_lo;
            tb->mix_hi = k > tb->mix_hi ? k : tb->mix_hi;
        }
    }
}

struct work {
    struct step_costs *sc;
    int16_t *choice; /* n x states */
    double *next, *here;
    struct table table;
};

static void free_work(struct work *w)
{
    free(w->sc);
    free(w->choice);
    free(w->next);
    free(w->here);
    free(w->table.all);
    free(w->table.side);
    free(w->table.dip);
    free(w->table.rise);
    free(w->table.mixed);
}

static void backward(size_t n, const struct grid *g, struct work *w)
{
    int N = g->states;
    struct table *tb = &w->table;
    double tol = 1e-9 * (g->cap > 1 ? g->cap : 1);
    for (int i = 0; i < N; i++) {
        w->next[i] = i >= g->k0 ? 0 : DP_INF;
    }
    for (size_t t = n; t-- > 0;) {
        fill_table(&w->sc[t], g, tb);
        for (int i = 0; i < N; i++) {
            double best = DP_INF;
            int best_k = 0;
            double e = grid_energy(g, i);
            int jlo = i + tb->klo < 0 ? 0 : i + tb->klo;
            int jhi = i + tb->khi > N - 1 ? N - 1 : i + tb->khi;
            if (jlo < g->imin)
                jlo = g->imin < i ? g->imin : i;
            /* every change at its cost without a mix: always feasible */
            const double *plain = tb->side - tb->klo - i;
            for (int j = jlo; j <= jhi; j++) {
                double c = plain[j] + w->next[j];
                if (c < best) {
                    best = c;
                    best_k = j - i;
                }
            }
            /* the changes a charge/discharge mix makes cheaper, where the
             * stored energy stays in bounds meanwhile */
            int mlo = i + tb->mix_lo > jlo ? i + tb->mix_lo : jlo;
            int mhi = i + tb->mix_hi < jhi ? i + tb->mix_hi : jhi;
            for (int j = mlo; j <= mhi; j++) {
                int at = j - i - tb->klo;
                if (!(e - tb->dip[at] >= g->min_kwh - tol ||
                      e + tb->rise[at] <= g->cap + tol))
                    continue;
                double c = tb->all[at] + w->next[j];
                if (c < best) {
                    best = c;
                    best_k = j - i;
                }
            }
            w->here[i] = best;
            w->choice[t * (size_t)N + (size_t)i] = (int16_t)best_k;
        }
        double *swap = w->next;
        w->next = w->here;
        w->here = swap;
    }
}

static int solve_on_grid(const struct dp_step *steps, size_t n,
                         const struct dp_battery *b, struct dp_result *out,
                         const char **why)
{
    struct grid g;
    int G = b->grid > 0 ? b->grid : auto_grid(steps, n, b);
    double lo = b->initial_kwh < b->min_kwh ? b->initial_kwh : b->min_kwh;
    g.e0 = b->initial_kwh;
    g.cap = b->capacity_kwh;
    g.min_kwh = b->min_kwh;
    g.delta = b->capacity_kwh / G;
    int below = (int)floor((g.e0 - lo) / g.delta + 1e-9);
    int above = (int)floor((g.cap - g.e0) / g.delta + 1e-9);
    g.k0 = below;
    g.states = below + above + 1;
    g.imin = g.k0 + (int)ceil((g.min_kwh - g.e0) / g.delta - 1e-9);
    if (g.imin < 0)
        g.imin = 0;
    if (g.imin > g.states - 1)
        g.imin = g.states - 1;
    size_t N = (size_t)g.states;
    if (N > 32000 || n > SIZE_MAX / 8 / (N + 1)) {
        *why = "the grid is too large";
        return -1;
    }
    struct work w = {0};
    w.sc = malloc(n * sizeof *w.sc);
    w.choice = malloc(n * N * sizeof *w.choice);
    w.next = malloc(N * sizeof *w.next);
    w.here = malloc(N * sizeof *w.here);
    w.table.all = malloc((2 * N + 1) * sizeof(double));
    w.table.side = malloc((2 * N + 1) * sizeof(double));
    w.table.dip = malloc((2 * N + 1) * sizeof(double));
    w.table.rise = malloc((2 * N + 1) * sizeof(double));
    w.table.mixed = malloc(2 * N + 1);
    out->moves = calloc(n, sizeof *out->moves);
    if (!w.sc || !w.choice || !w.next || !w.here || !w.table.all ||
        !w.table.side || !w.table.dip || !w.table.rise || !w.table.mixed ||
        !out->moves) {
        free_work(&w);
        free(out->moves);
        out->moves = NULL;
        *why = "out of memory";
        return -1;
    }
    for (size_t t = 0; t < n; t++)
        step_costs(&steps[t], b, &w.sc[t]);
    backward(n, &g, &w);
    if (w.next[g.k0] >= DP_INF) {
        free_work(&w);
        free(out->moves);
        out->moves = NULL;
        *why = "no plan ends with the stored energy it started with";
        return -1;
    }
    int i = g.k0;
    for (size_t t = 0; t < n; t++) {
        int k = w.choice[t * N + (size_t)i];
        const struct hull *used;
        double x = k * g.delta;
        transition(&w.sc[t], &g, i, k, &used);
        move_of(&steps[t], used, x, grid_energy(&g, i + k), &out->moves[t]);
        out->cost += out->moves[t].cost;
        i += k;
    }
    double d = relaxed_optimum(w.sc, n, lo, g.cap, g.e0);
    out->lower_bound = d < out->cost ? d : out->cost;
    out->grid_kwh = g.delta;
    out->states = g.states;
    free_work(&w);
    return 0;
}

int dp_solve(const struct dp_step *steps, size_t n,
             const struct dp_battery *battery, struct dp_result *out,
             const char **why)
{
    memset(out, 0, sizeof *out);
    *why = check_input(steps, n, battery);
    if (*why)
        return -1;
    if (battery->capacity_kwh <= 0 ||
        (battery->max_charge_kw <= 0 && battery->max_discharge_kw <= 0)) {
        if (solve_without_battery(steps, n, battery, out) != 0) {
            *why = "out of memory";
            return -1;
        }
        return 0;
    }
    return solve_on_grid(steps, n, battery, out, why);
}

void dp_free(struct dp_result *r)
{
    free(r->moves);
    r->moves = NULL;
}
