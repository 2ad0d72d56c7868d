/* hostcap's batch integrator with members in SIMD lanes: the loop of
 * hostcap.mechanistic_model.rosenbrock_loop (Shampine / Kaps-Rentrop Rosenbrock 4(3)),
 * step for step, over L members at once.
 *
 * Included after the model's generated text (hostcap.mechanistic_model.lane_solver), which
 * defines L, NS (states), NP (parameters), NU (inputs), NK (state-free subexpressions), NJ
 * (Jacobian non-zeros), NLU (LU work array), NZ, NO, the slot tables JAC_SLOTS, DIAG_SLOTS,
 * ZERO_SLOTS, the tableau constants, and the lane kernels consts_l, rhs_l, rhs_jac_l, obs_l,
 * factor_l, solve_l: each computes its scalar kernel for L members at once over arrays laid out
 * [index * L + lane].
 *
 * Every lane keeps its own member, time, step size, protocol phase, next save time and step
 * count, exactly as the scalar loop does for one member; the stage arithmetic runs over all
 * lanes at once. A lane whose member finishes takes the next member; lanes left without one
 * keep computing on their last values, and nothing of theirs is written. A kernel gives every
 * lane the same result for the same inputs, so recomputing the derivative, Jacobian or
 * subexpressions of a lane whose inputs did not change leaves them bit for bit as they were:
 * which lane a member lands in, and what the other lanes hold, never changes its numbers.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    int64_t member; /* -1: no member */
    double t, h_want;
    int64_t seg, k, steps;
} Lane;

typedef struct {
    const double *P, *Y0, *seg_start, *seg_end, *seg_inputs, *times_ext;
    int64_t n_mem, n_seg, n_times, first_save;
    double *out;
    int64_t *status, *steps_out;
} Problem;

/* Python's max(a, b) and min(a, b) (a unless b is larger / smaller): unlike fmax and fmin,
 * these compile to vector instructions under IEEE semantics. */
static inline double py_max(double a, double b) { return b > a ? b : a; }
static inline double py_min(double a, double b) { return b < a ? b : a; }

static double step_factor(double norm, int finite, int accept)
{
    if (!finite)
        return 0.25;
    if (accept)
        return py_min(py_max(0.9 / sqrt(sqrt(py_max(norm, 1e-10))), 0.2), 5.0);
    return py_min(py_max(0.9 / sqrt(sqrt(norm)), 0.1), 0.9);
}

/* Put member i (or, with member -1, member 0's values as filler) into lane l. */
static void load_lane(const Problem *pr, Lane *a, int l, int64_t i, double h0, double *y,
                      double *p, double *u)
{
    int64_t src = i < 0 ? 0 : i;
    for (int s = 0; s < NS; s++)
        y[s * L + l] = pr->Y0[src * NS + s];
    for (int q = 0; q < NP; q++)
        p[q * L + l] = pr->P[src * NP + q];
    for (int q = 0; q < NU; q++)
        u[q * L + l] = pr->seg_inputs[q];
    a->member = i;
    a->t = pr->seg_start[0];
    a->h_want = h0;
    a->seg = 0;
    a->k = pr->first_save;
    a->steps = 0;
}

/* Write a finished member's status and steps; NaN for its unreached saves, or all of them. */
static void finish_lane(const Problem *pr, const Lane *a, int64_t code)
{
    int64_t n_t = pr->n_times - 1;
    double *row = pr->out + a->member * n_t * NS;
    pr->status[a->member] = code;
    pr->steps_out[a->member] = a->steps;
    int64_t from = code == STATUS_SUCCESS ? a->k : 0;
    for (int64_t q = from; q < n_t; q++)
        for (int s = 0; s < NS; s++)
            row[q * NS + s] = NAN;
}

/* One Rosenbrock step of every lane, from the step sizes h: y_new and the error sums. */
static void lane_step(const double *h, const double *y, const double *p, const double *u,
                      const double *kc, const double *f, const double *jv, double *work,
                      double *g1, double *g2, double *g3, double *g4, double *ys, double *fs,
                      double *y_new, double rtol, double atol, double *acc, int *finite)
{
    double c[L], rh[L];
    for (int q = 0; q < NZ; q++)
        for (int l = 0; l < L; l++)
            work[ZERO_SLOTS[q] * L + l] = 0.0;
    for (int q = 0; q < NJ; q++)
        for (int l = 0; l < L; l++)
            work[JAC_SLOTS[q] * L + l] = -jv[q * L + l];
    /* Divisions by h as products with 1/h, as numba's fast-math (arcp) compiles them. */
    for (int l = 0; l < L; l++) {
        rh[l] = 1.0 / h[l];
        c[l] = 1.0 / (GAM * h[l]);
    }
    for (int s = 0; s < NS; s++)
#pragma omp simd
        for (int l = 0; l < L; l++)
            work[DIAG_SLOTS[s] * L + l] += c[l];
    factor_l(work);
    memcpy(g1, f, sizeof(double) * NS * L);
    solve_l(work, g1);
    for (int s = 0; s < NS * L; s++)
        ys[s] = y[s] + A21 * g1[s];
    rhs_l((double *)ys, (double *)p, (double *)u, (double *)kc, fs);
    for (int s = 0; s < NS; s++)
#pragma omp simd
        for (int l = 0; l < L; l++)
            g2[s * L + l] = fs[s * L + l] + (C21 * rh[l]) * g1[s * L + l];
    solve_l(work, g2);
    for (int s = 0; s < NS * L; s++)
        ys[s] = y[s] + A31 * g1[s] + A32 * g2[s];
    rhs_l((double *)ys, (double *)p, (double *)u, (double *)kc, fs);
    for (int s = 0; s < NS; s++)
#pragma omp simd
        for (int l = 0; l < L; l++)
            g3[s * L + l] = fs[s * L + l] + (C31 * g1[s * L + l] + C32 * g2[s * L + l]) * rh[l];
    solve_l(work, g3);
    for (int s = 0; s < NS; s++)
#pragma omp simd
        for (int l = 0; l < L; l++)
            g4[s * L + l] = fs[s * L + l]
                + (C41 * g1[s * L + l] + C42 * g2[s * L + l] + C43 * g3[s * L + l]) * rh[l];
    solve_l(work, g4);
    for (int l = 0; l < L; l++) {
        acc[l] = 0.0;
        finite[l] = 1;
    }
    for (int s = 0; s < NS; s++)
#pragma omp simd
        for (int l = 0; l < L; l++) {
            int i = s * L + l;
            double yn = y[i] + B1 * g1[i] + B2 * g2[i] + B3 * g3[i] + B4 * g4[i];
            y_new[i] = yn;
            finite[l] &= isfinite(yn) ? 1 : 0;
            double e = E1 * g1[i] + E2 * g2[i] + E4 * g4[i];
            double sc = atol + rtol * py_max(fabs(y[i]), fabs(yn));
            double r = e / sc;
            acc[l] += r * r;
        }
}

/* The step control of one lane after its step (rosenbrock_loop.integrate_block's, verbatim;
 * the caller moves an accepted lane's y_new into y, for all lanes at once). Returns -1 while
 * the member goes on, else its status code; *accepted says whether y moves. */
static int64_t lane_control(const Problem *pr, Lane *a, int l, double h, double acc, int fin,
                            const double *y_new, double *u, double end, double tiny,
                            int64_t max_steps, int *accepted, int *new_seg)
{
    const double *times_ext = pr->times_ext;
    double stop = py_min(times_ext[a->k], pr->seg_end[a->seg]);
    double remaining = stop - a->t;
    int land = a->h_want >= remaining * (1.0 - 1e-12);
    double norm = sqrt(acc / NS);
    int finite = fin && isfinite(norm);
    if (!finite)
        norm = INFINITY;
    int accept = norm <= 1.0;
    a->steps += 1;
    double h_next = h * step_factor(norm, finite, accept);
    a->h_want = (accept && land) ? py_max(a->h_want, h_next) : h_next;
    *accepted = accept;
    *new_seg = 0;
    if (accept) {
        double t_new = land ? stop : a->t + h;
        if (t_new == times_ext[a->k]) {
            double *row = pr->out + (a->member * (pr->n_times - 1) + a->k) * NS;
            for (int s = 0; s < NS; s++)
                row[s] = y_new[s * L + l];
            a->k += 1;
        }
        a->t = t_new;
        if (land && stop == pr->seg_end[a->seg] && a->seg + 1 < pr->n_seg) {
            a->seg += 1;
            for (int q = 0; q < NU; q++)
                u[q * L + l] = pr->seg_inputs[a->seg * NU + q];
            *new_seg = 1;
        }
    }
    if (a->t >= end - tiny)
        return STATUS_SUCCESS;
    if (a->h_want < tiny)
        return STATUS_FAILURE;
    if (a->steps >= max_steps)
        return STATUS_MAX_STEPS;
    return -1;
}

/* The step size each lane takes now: its wanted step, or exactly what is left to its stop. */
static void lane_steps(const Problem *pr, const Lane *lanes, double *h)
{
    for (int l = 0; l < L; l++) {
        const Lane *a = &lanes[l];
        if (a->member < 0)
            continue; /* keeps its last step size */
        double stop = py_min(pr->times_ext[a->k], pr->seg_end[a->seg]);
        double remaining = stop - a->t;
        int land = a->h_want >= remaining * (1.0 - 1e-12);
        h[l] = land ? remaining : a->h_want;
    }
}

void hostcap_integrate_lanes(const double *P, const double *Y0, int64_t n_mem,
                             const double *seg_start, const double *seg_end,
                             const double *seg_inputs, int64_t n_seg, const double *times_ext,
                             int64_t n_times, int64_t first_save, double rtol, double atol,
                             int64_t max_steps, double h0, double end, double tiny, double *out,
                             int64_t *status, int64_t *steps_out)
{
    Problem pr = {P, Y0, seg_start, seg_end, seg_inputs, times_ext, n_mem, n_seg, n_times,
                  first_save, out, status, steps_out};
    double y[NS * L], p[NP * L], u[NU * L], kc[NK * L], f[NS * L], jv[NJ * L], work[NLU * L];
    double g1[NS * L], g2[NS * L], g3[NS * L], g4[NS * L], ys[NS * L], fs[NS * L];
    double y_new[NS * L], h[L], acc[L];
    int finite[L], accepted[L];
    int64_t codes[L];
    Lane lanes[L];
    int64_t next = 0, active = 0;
    if (n_mem <= 0)
        return;
    memset(kc, 0, sizeof kc);
    for (int l = 0; l < L; l++) {
        int64_t i = next < n_mem ? next++ : -1;
        active += i >= 0;
        load_lane(&pr, &lanes[l], l, i, h0, y, p, u);
        h[l] = h0;
    }
    consts_l(y, p, u, kc);
    rhs_jac_l(y, p, u, kc, f, jv);
    while (active > 0) {
        int need_consts = 0, need_jac = 0;
        lane_steps(&pr, lanes, h);
        lane_step(h, y, p, u, kc, f, jv, work, g1, g2, g3, g4, ys, fs, y_new, rtol, atol, acc,
                  finite);
        for (int l = 0; l < L; l++) {
            Lane *a = &lanes[l];
            int new_seg = 0;
            accepted[l] = 0;
            codes[l] = -1;
            if (a->member < 0)
                continue;
            codes[l] = lane_control(&pr, a, l, h[l], acc[l], finite[l], y_new, u, end, tiny,
                                    max_steps, &accepted[l], &new_seg);
            need_jac |= accepted[l];
            need_consts |= new_seg;
        }
        for (int s = 0; s < NS; s++)
#pragma omp simd
            for (int l = 0; l < L; l++)
                y[s * L + l] = accepted[l] ? y_new[s * L + l] : y[s * L + l];
        for (int l = 0; l < L; l++) {
            Lane *a = &lanes[l];
            if (codes[l] < 0)
                continue;
            finish_lane(&pr, a, codes[l]);
            int64_t i = next < n_mem ? next++ : -1;
            if (i < 0) {
                a->member = -1;
                active -= 1;
                continue;
            }
            load_lane(&pr, a, l, i, h0, y, p, u);
            need_consts = need_jac = 1;
        }
        if (need_consts)
            consts_l(y, p, u, kc);
        if (need_jac)
            rhs_jac_l(y, p, u, kc, f, jv);
    }
}

/* Observables out[i, j] of states[i, j] (members n, saves n_t), parameters P[i], inputs
 * u_at[j] (n_t, NU): L members at a time. */
void hostcap_observe_lanes(const double *P, const double *states, int64_t n, int64_t n_t,
                           const double *u_at, double *out)
{
    double y[NS * L], p[NP * L], u[NU * L], o[NO * L];
    for (int64_t i0 = 0; i0 < n; i0 += L) {
        for (int l = 0; l < L; l++) {
            int64_t i = i0 + l < n ? i0 + l : i0;
            for (int q = 0; q < NP; q++)
                p[q * L + l] = P[i * NP + q];
        }
        for (int64_t j = 0; j < n_t; j++) {
            for (int l = 0; l < L; l++) {
                int64_t i = i0 + l < n ? i0 + l : i0;
                for (int s = 0; s < NS; s++)
                    y[s * L + l] = states[(i * n_t + j) * NS + s];
                for (int q = 0; q < NU; q++)
                    u[q * L + l] = u_at[j * NU + q];
            }
            obs_l(y, p, u, o);
            for (int l = 0; l < L && i0 + l < n; l++)
                for (int q = 0; q < NO; q++)
                    out[((i0 + l) * n_t + j) * NO + q] = o[q * L + l];
        }
    }
}
