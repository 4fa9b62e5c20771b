/*
 * lava-sleep compiled kernel (lava_sleep/kernels/native.py builds and loads it). Two users:
 *
 *  - the torch engine's native CPU path: one call of ls_run() simulates ONE batch member over a
 *    slice of images exactly as lava_sleep/reference.py (the NumPy oracle) does: wake steps (image
 *    slots of presentation and rest steps), the sleep schedule with decay blocks and early wake-up,
 *    trace STDP with learning epochs, per-image normalization; ls_sleep() runs one on-demand sleep
 *    episode (ReferenceSimulator.sleep) the same way;
 *  - the fused Lava ProcessModel (lava_sleep/processes/ei_network): ls_step() runs one network step
 *    (wake, rest with C->thr = NULL, or asleep), ls_decay() settles one sleep decay block of one
 *    pathway and ls_normalize() normalizes one pathway after an image slot, while the
 *    ProcessModel keeps the schedule (SleepCore) and the host messaging.
 * The model is docs/model.md; every
 * formula below names the kernel function of lava_sleep/kernels it mirrors, operation for
 * operation (same order of floating-point operations, same integer rounding), so that
 *
 *   - LS_FIXED  (int64 state) equals the oracle's fixed mode bit for bit;
 *   - default   (double)      equals the float64 oracle up to the summation order of the synaptic
 *                              drive (BLAS vs. event order) and libm vs. NumPy pow/exp last bits;
 *   - LS_F32    (float)       follows the float32 oracle's float32 arithmetic.
 *
 * Event-driven: per step only the columns of spiking presynaptic cells are read for the drive and
 * the depression term, only the rows of spiking postsynaptic cells for potentiation, and only the
 * synapses touched in a learning epoch are updated at its end. Weights are stored transposed,
 * (pre, post), so the frequent column accesses are contiguous. Random numbers are the counter-based
 * streams of lava_sleep/rng.py, re-implemented with uint32 arithmetic (identical bits).
 *
 * Compile with -ffp-contract=off (no fused multiply-add: NumPy rounds every product) and without
 * -ffast-math. All structures hold only 8-byte fields (int64, double, pointers): ctypes mirrors them.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(LS_FIXED)
typedef int64_t real_t;
#elif defined(LS_F32)
typedef float real_t;
#else
typedef double real_t;
#endif

/* rng.Stream values */
#define STREAM_INPUT 3u
#define STREAM_NOISE 4u
#define STREAM_STDP_ROUND 5u
#define STREAM_TRACE_ROUND 12u
#define STREAM_DECAY 16u
/* reference.NORMALIZE_DRAW: draw of the per-image normalization's rounding keys (DECAY + p) */
#define NORMALIZE_DRAW 2u
/* rng.NORMAL_INT_CENTER (2 * 65535); rng.NORMAL_INT_SD comes from the build (-DNORMAL_INT_SD=repr) */
#define NORMAL_INT_CENTER 131070
#ifndef NORMAL_INT_SD
#error "compile with -DNORMAL_INT_SD=<repr(lava_sleep.rng.NORMAL_INT_SD)>"
#endif
/* fixed.NOISE_SHIFT, fixed.STATE_MAX (24-bit state) */
#define NOISE_SHIFT 12
#define STATE_MAX 8388607

enum { POP_X = 0, POP_E = 1, POP_I = 2 };
enum { RULE_STDP = 0, RULE_VOGELS = 1, RULE_DIEHL_COOK = 2 };
/* exponent mu of the soft bounds: NumPy's ``x ** mu`` uses sqrt/identity/square for 0.5/1/2 */
enum { MU_ZERO = 0, MU_ONE = 1, MU_HALF = 2, MU_TWO = 3, MU_POW = 4 };
enum { FORM_LOG = 0, FORM_LINEAR = 1 };
enum { TARGET_STATIC = 0, TARGET_GROUP = 1, TARGET_NEURON = 2 };
/* FixedParams.trace_rounding / dw_rounding (fixed.rounding_offset) */
enum { ROUND_STOCHASTIC = 0, ROUND_NEAREST = 1, ROUND_FLOOR = 2 };
/* fixed.W_MULT_FRAC_BITS */
#define W_MULT_FRAC_BITS 8

/* ---- counter-based random streams (lava_sleep/rng.py) ------------------------------------- */
static inline uint32_t mix32(uint32_t x) {
    x ^= x >> 16;
    x *= 0x7FEB352Du;
    x ^= x >> 15;
    x *= 0x846CA68Bu;
    x ^= x >> 16;
    return x;
}

/* rng.key(seed, stream, counter, draw) */
static uint32_t key4(uint32_t seed, uint32_t stream, uint64_t counter, uint32_t draw) {
    uint32_t k = mix32(seed ^ 0x9E3779B9u);
    k = mix32(k ^ (stream * 0x85EBCA6Bu));
    k = mix32(k ^ (uint32_t)(counter & 0xFFFFFFFFu));
    k = mix32(k ^ (uint32_t)(counter >> 32) ^ (draw * 0xC2B2AE35u));
    return k;
}

/* rng.uniform_u32(k, index) */
static inline uint32_t hash_idx(uint32_t k, uint32_t index) {
    return mix32(mix32(index ^ k) ^ (k * 0x27D4EB2Fu));
}

/* rng.normal_int(k1, k2, index) */
static inline int64_t normal_int(uint32_t k1, uint32_t k2, uint32_t index) {
    uint32_t a = hash_idx(k1, index), b = hash_idx(k2, index);
    return (int64_t)(a & 0xFFFFu) + (int64_t)(a >> 16) + (int64_t)(b & 0xFFFFu) + (int64_t)(b >> 16)
           - NORMAL_INT_CENTER;
}

/* ---- structures (mirrored by ctypes in native.py) ------------------------------------------ */
typedef struct {
    int64_t n_pre, n_post, pre_pop, post_pop;
    int64_t plastic, w_mult, rule, mu_mode; /* w_mult: fixed drive (sum * w_mult) >> W_MULT_FRAC_BITS */
    double mu, eta_plus, eta_minus, alpha, m_min, m_max, m_floor, static_target, total0;
    int64_t i_eta_plus, i_eta_minus, i_alpha, i_m_min, i_m_max, i_m_floor, i_total0;
    real_t *m;            /* (n_pre, n_post) magnitudes, transposed */
    uint8_t *mask;        /* (n_pre, n_post) structural mask */
    real_t *acc;          /* (n_pre, n_post) accumulated updates (plastic only) */
    real_t *row_total0;   /* (n_post) initial incoming totals */
    int64_t *b_tab;       /* fixed static target: round(t (2^D - L_K)), K = 0..block */
    uint8_t *row_touched; /* (n_post) posts whose row got an update this epoch */
    uint8_t *col_touched; /* (n_pre) pres whose column got an update this epoch */
    int64_t normalize;    /* per-image normalization (plastic pathways only) */
} path_t;

typedef struct {
    int64_t seed, nx, ne, ni;
    double k_u, k_v, k_a, gain, v_thresh, v_reset, v_min, v_max, a_min, a_max, delta_a, bias;
    double noise_wake, noise_sleep;
    int64_t i_k_u, i_k_v, i_k_a, i_v_thresh, i_v_reset, i_v_min, i_v_max, i_a_min, i_a_max;
    int64_t i_delta_a, i_bias, i_sigma_wake, i_sigma_sleep;
    double k_plus, k_minus;
    int64_t i_k_plus, i_k_minus, trace_impulse, trace_max;
    int64_t t_epoch, learn_in_sleep, dw_frac_bits;
    int64_t sleeping, period, block, form, target, prune, decay_frac_bits;
    double tol, decay_noise;
    double *c_tab;        /* 1 - lam**K, K = 0..block (Python float) */
    int64_t *lk_tab;      /* round(lam**K 2**D), K = 0..block */
    real_t *u, *v, *a, *pending; /* (ne + ni) neuron state and next step's drive */
    real_t *x;            /* pre traces X (nx), E (ne), I (ni) */
    real_t *y;            /* post traces E (ne), I (ni) */
    int64_t *counters;    /* t, wake_t, n_episodes, sleep_steps_total */
    real_t *drive;        /* NULL or (3 ne + ni): unscaled partial sums XE, EE, IE, EI kept after
                           * the step (the fused Lava model publishes them per pathway) */
    path_t path[4];       /* XE, EE, EI, IE */
    int64_t a_decay_every; /* the adaptation decays on global steps t with (t + 1) % a_decay_every == 0 */
    int64_t freeze_adaptation; /* calls with learning off leave a unchanged (NeuronParams.freeze_adaptation) */
    int64_t trace_rounding; /* ROUND_*: offset r of the fixed trace decay (x k + r) >> 12 */
    int64_t dw_rounding;    /* ROUND_*: offset r of the fixed epoch update (acc + r) >> dw_frac_bits */
    int64_t onchip;         /* SleepParams.site "onchip": settle K = block where t % block == 0 */
} member_t;

typedef struct {
    const int64_t *thr;   /* (n_images, nx) Bernoulli thresholds */
    int64_t n_images, spi, learn, sleep_on;
    int64_t *counts;      /* (n_images, ne) wake-step E spike counts */
    int64_t rec_cap;      /* recorded steps capacity (0 = no recording) */
    uint8_t *rec_x, *rec_n, *rec_asleep;
    int64_t eps_cap;      /* episodes that may start in this call */
    const int64_t *planned; /* planned lengths of episodes n_episodes+1 .. n_episodes+eps_cap */
    int64_t *eps_i;       /* eps_cap x 6: episode, start_step, wake_step, planned, used, woke_early */
    double *eps_tot;      /* eps_cap x 8: totals before (XE EE EI IE) then after */
    int64_t n_eps, steps, sleep_steps, status;
    int64_t *activity;    /* NULL (not counted) or (2, nx + ne + ni): spikes per neuron, X E I, added
                           * to row 0 on wake steps and row 1 on sleep steps; the caller zeroes it */
    int64_t rest;         /* rest steps after each image's spi presentation steps (ls_run) */
} call_t;

/* ---- per-run context: constants in the model's arithmetic type, scratch buffers ------------ */
typedef struct {
    member_t *M;
    call_t *C;
    int64_t nn;           /* ne + ni */
    int64_t ns;           /* nx + ne + ni */
    int64_t soff[3];      /* offsets of X, E, I in the spike/trace vectors */
    int64_t yoff[3];      /* offsets of E, I in the post-trace vector (X unused) */
    real_t k_u, k_v, k_a, gain, v_thresh, v_reset, v_min, v_max, a_min, a_max, delta_a, bias;
    real_t noise_wake, noise_sleep, k_plus, k_minus;
    uint8_t *s;           /* spikes of this step: X, E, I */
    int64_t *list;        /* spiking indices per population, lists at soff[] */
    int64_t nlist[3];
    real_t *work;         /* drive partial sums: XE (ne), EE (ne), IE (ne), EI (ni) */
    double *row_sum;      /* decay scratch (max n_post) */
    double *row_log;      /* decay scratch (max n_post) */
    int64_t *syn_buf;     /* decay scratch: per-synapse random terms (max synapses of a pathway) */
    int32_t *syn_i[4], *syn_j[4]; /* existing synapses of plastic pathways (sleeping members) */
    int64_t n_syn[4];
    real_t *norm_tot;     /* normalization scratch (max n_post): fixed row totals */
    real_t *norm_f;       /* normalization scratch (max n_post): per-row factors */
} ctx_t;

#define CLIP(x, lo, hi) ((x) < (lo) ? (lo) : ((x) > (hi) ? (hi) : (x)))

#if defined(LS_FIXED)
/* kernels._xp.decay12: sign(x k) (|x k| >> 12) */
static inline int64_t decay12(int64_t x, int64_t keep) {
    int64_t p = x * keep;
    return p < 0 ? -((-p) >> 12) : (p >> 12);
}
#endif

/* ---- neuron step (kernels.neuron.neuron_step + noise_from_int) ------------------------------
 * The adaptation decays only on steps with (t + 1) % a_decay_every == 0
 * (kernels.neuron.adaptation_decays); on the others the keep factor is the identity, exactly:
 * decay12(a, 4096) = a and a * 1.0 = a, so the loop is the same on every step.
 * A call with learning off under freeze_adaptation (kernels.neuron.adaptation_runs) keeps a as it
 * is (no increment, no decay, no clip; the threshold test still uses it) with the same loop and
 * identity constants: keep 4096 / 1.0, increment 0 / -0.0 (x + -0.0 = x for every x, -0.0 too)
 * and unbounded clip limits. */
static void neuron_update(ctx_t *c, int asleep) {
    member_t *M = c->M;
    uint64_t t = (uint64_t)M->counters[0];
    const int decay_a = M->a_decay_every <= 1 || (t + 1) % (uint64_t)M->a_decay_every == 0;
    const int adapt = c->C->learn || !M->freeze_adaptation;
    uint32_t k1 = key4((uint32_t)M->seed, STREAM_NOISE, t, 0);
    uint32_t k2 = key4((uint32_t)M->seed, STREAM_NOISE, t, 1);
    const int64_t nn = c->nn;
    uint8_t *restrict s = c->s + c->soff[POP_E];
    real_t *restrict u = M->u, *restrict v = M->v, *restrict a = M->a;
    const real_t *restrict d = M->pending;
    /* constants in locals: loops over struct fields would not vectorize (possible aliasing) */
#if defined(LS_FIXED)
    const int64_t sigma = asleep ? M->i_sigma_sleep : M->i_sigma_wake;
    const int64_t k_u = M->i_k_u, k_v = M->i_k_v, k_a = adapt && decay_a ? M->i_k_a : 4096, bias = M->i_bias;
    const int64_t v_min = M->i_v_min, v_max = M->i_v_max, v_th = M->i_v_thresh, v_reset = M->i_v_reset;
    const int64_t d_a = adapt ? M->i_delta_a : 0;
    const int64_t a_min = adapt ? M->i_a_min : INT64_MIN, a_max = adapt ? M->i_a_max : INT64_MAX;
    for (int64_t n = 0; n < nn; n++) {
        int64_t noise = (normal_int(k1, k2, (uint32_t)n) * sigma) >> NOISE_SHIFT;
        int64_t uu = decay12(u[n], k_u) + d[n];
        uu = CLIP(uu, -STATE_MAX, STATE_MAX);
        int64_t vv = decay12(v[n], k_v) + uu + bias + noise;
        vv = CLIP(vv, v_min, v_max);
        int sp = vv > v_th + a[n];
        int64_t aa = decay12(a[n], k_a) + (sp ? d_a : 0);
        u[n] = uu;
        v[n] = sp ? v_reset : vv;
        a[n] = CLIP(aa, a_min, a_max);
        s[n] = (uint8_t)sp;
    }
#else
    const real_t nm = asleep ? c->noise_sleep : c->noise_wake;
    const real_t k_u = c->k_u, gain = c->gain, k_v = c->k_v, bias = c->bias;
    const real_t k_a = adapt && decay_a ? c->k_a : (real_t)1;
    const real_t v_min = c->v_min, v_max = c->v_max, v_th = c->v_thresh, v_reset = c->v_reset;
    const real_t d_a = adapt ? c->delta_a : (real_t)-0.0;
    const real_t a_min = adapt ? c->a_min : (real_t)-INFINITY, a_max = adapt ? c->a_max : (real_t)INFINITY;
    for (int64_t n = 0; n < nn; n++) {
        real_t noise = (real_t)normal_int(k1, k2, (uint32_t)n) * nm;
        real_t uu = u[n] * k_u + d[n] * gain;
        real_t vv = v[n] * k_v + uu + bias + noise;
        vv = CLIP(vv, v_min, v_max);
        int sp = vv > v_th + a[n];
        real_t ak = a[n] * k_a;
        real_t aa = sp ? ak + d_a : ak;
        u[n] = uu;
        v[n] = sp ? v_reset : vv;
        a[n] = CLIP(aa, a_min, a_max);
        s[n] = (uint8_t)sp;
    }
#endif
}

/* ---- input spikes (kernels.encode.input_spikes) -------------------------------------------- */
static void input_update(ctx_t *c, const int64_t *thr) {
    member_t *M = c->M;
    uint8_t *s = c->s;
    if (thr == NULL) {
        memset(s, 0, (size_t)M->nx);
        return;
    }
    const uint32_t k = key4((uint32_t)M->seed, STREAM_INPUT, (uint64_t)M->counters[1], 0);
    const int64_t nx = M->nx;
    uint8_t *restrict sx = s;
    const int64_t *restrict th = thr;
    for (int64_t j = 0; j < nx; j++) sx[j] = (int64_t)hash_idx(k, (uint32_t)j) < th[j];
}

static void build_lists(ctx_t *c) {
    for (int p = 0; p < 3; p++) {
        int64_t n = p == POP_X ? c->M->nx : (p == POP_E ? c->M->ne : c->M->ni);
        const uint8_t *s = c->s + c->soff[p];
        int64_t *l = c->list + c->soff[p], k = 0;
        for (int64_t i = 0; i < n; i++)
            if (s[i]) l[k++] = i;
        c->nlist[p] = k;
    }
}

/* ---- propagation: next step's drive (ReferenceSimulator._propagate), event-driven ----------- */
static void add_columns(ctx_t *c, const path_t *P, real_t *out) {
    int64_t np = P->n_post;
    memset(out, 0, sizeof(real_t) * (size_t)np);
    const int64_t *l = c->list + c->soff[P->pre_pop];
    for (int64_t k = 0; k < c->nlist[P->pre_pop]; k++) {
        const real_t *col = P->m + l[k] * np;
        for (int64_t i = 0; i < np; i++) out[i] += col[i];
    }
}

static void propagate(ctx_t *c) {
    member_t *M = c->M;
    int64_t ne = M->ne, ni = M->ni;
    real_t *dxe = c->work, *dee = c->work + ne, *die = c->work + 2 * ne, *dei = c->work + 3 * ne;
    add_columns(c, &M->path[0], dxe);
    add_columns(c, &M->path[1], dee);
    add_columns(c, &M->path[3], die);
    add_columns(c, &M->path[2], dei);
#if defined(LS_FIXED)
    /* fixed.pathway_drive: (sum * w_mult) >> 8 per pathway (int64 products), then the signs */
    const int64_t wxe = M->path[0].w_mult, wee = M->path[1].w_mult, wei = M->path[2].w_mult;
    const int64_t wie = M->path[3].w_mult;
    for (int64_t i = 0; i < ne; i++)
        M->pending[i] = ((dxe[i] * wxe) >> W_MULT_FRAC_BITS) + ((dee[i] * wee) >> W_MULT_FRAC_BITS)
                        - ((die[i] * wie) >> W_MULT_FRAC_BITS);
    for (int64_t i = 0; i < ni; i++) M->pending[ne + i] = (dei[i] * wei) >> W_MULT_FRAC_BITS;
#else
    for (int64_t i = 0; i < ne; i++) M->pending[i] = (dxe[i] + dee[i]) - die[i];
    for (int64_t i = 0; i < ni; i++) M->pending[ne + i] = dei[i];
#endif
}

/* ---- STDP terms (kernels.stdp.potentiation / depression) ----------------------------------- */
#if !defined(LS_FIXED)
static inline real_t powmu(real_t x, int mode, real_t mu) {
    switch (mode) {
    case MU_ONE: return x;
    case MU_TWO: return x * x;
#if defined(LS_F32)
    case MU_HALF: return sqrtf(x);
    default: return powf(x, mu);
#else
    case MU_HALF: return sqrt(x);
    default: return pow(x, mu);
#endif
    }
}
#endif

/* "diehl_cook" potentiates with (x_pre - alpha) (alpha = x_tar) and otherwise is "stdp" */
static inline real_t pot_term(const path_t *P, real_t m, real_t xpre) {
#if defined(LS_FIXED)
    if (P->rule == RULE_DIEHL_COOK) xpre = xpre - P->i_alpha;
    if (P->rule != RULE_VOGELS && P->mu_mode == MU_ONE) return (P->i_eta_plus * xpre) * (P->i_m_max - m);
    return P->i_eta_plus * xpre;
#else
    if (P->rule == RULE_DIEHL_COOK) xpre = xpre - (real_t)P->alpha;
    if (P->rule != RULE_VOGELS && P->mu_mode != MU_ZERO)
        return ((real_t)P->eta_plus * xpre) * powmu((real_t)P->m_max - m, (int)P->mu_mode, (real_t)P->mu);
    return (real_t)P->eta_plus * xpre;
#endif
}

static inline real_t dep_term(const path_t *P, real_t m, real_t ypost) {
#if defined(LS_FIXED)
    if (P->rule == RULE_VOGELS) return P->i_eta_minus * (ypost - P->i_alpha);
    if (P->mu_mode == MU_ONE) return -((P->i_eta_minus * ypost) * m);
    return -(P->i_eta_minus * ypost);
#else
    if (P->rule == RULE_VOGELS) return (real_t)P->eta_minus * (ypost - (real_t)P->alpha);
    if (P->mu_mode != MU_ZERO)
        return -(((real_t)P->eta_minus * ypost) * powmu(m, (int)P->mu_mode, (real_t)P->mu));
    return -((real_t)P->eta_minus * ypost);
#endif
}

/* acc += dep on one column (existing synapses, non-spiking posts). The common rules get their own
 * branch-free loops (vectorised); acc is left untouched, not "+ 0", where nothing is added. */
static void dep_column(const path_t *P, const real_t *restrict m, real_t *restrict acc,
                       const uint8_t *restrict mask, const uint8_t *restrict spost,
                       const real_t *restrict ypost, int64_t np) {
#if defined(LS_FIXED)
    const int64_t em = P->i_eta_minus, al = P->i_alpha;
#else
    const real_t em = (real_t)P->eta_minus, al = (real_t)P->alpha;
#endif
    if (P->rule == RULE_VOGELS) {
        for (int64_t i = 0; i < np; i++) {
            real_t dv = em * (ypost[i] - al);
            acc[i] = (mask[i] & !spost[i]) ? acc[i] + dv : acc[i];
        }
    } else if (P->mu_mode == MU_ZERO) {
        for (int64_t i = 0; i < np; i++) {
            real_t dv = -(em * ypost[i]);
            acc[i] = (mask[i] & !spost[i]) ? acc[i] + dv : acc[i];
        }
    } else if (P->mu_mode == MU_ONE) {
        for (int64_t i = 0; i < np; i++) {
            real_t dv = -((em * ypost[i]) * m[i]);
            acc[i] = (mask[i] & !spost[i]) ? acc[i] + dv : acc[i];
        }
    } else {
        for (int64_t i = 0; i < np; i++)
            if (mask[i] && !spost[i]) acc[i] += dep_term(P, m[i], ypost[i]);
    }
}

/* acc += dm on the row of spiking post i (existing synapses): potentiation, + depression where the
 * pre spiked too (the oracle's order pot + dep). The row is strided in the (pre, post) layout; the
 * constants sit in locals (stores to acc could alias the structure's int64 fields otherwise), and
 * the soft-bound (mu = 1) and hard-bound forms get their own loops. For "stdp" the offset is 0
 * (x - 0 = x exactly), for "diehl_cook" it is alpha = x_tar. */
static void pot_row(const path_t *P, int64_t i, const uint8_t *restrict spre, const real_t *restrict xpre,
                    real_t ypost_i) {
    const int64_t np = P->n_post, npre = P->n_pre;
    const real_t *restrict m = P->m + i;
    real_t *restrict acc = P->acc + i;
    const uint8_t *restrict mask = P->mask + i;
    const int soft = P->rule != RULE_VOGELS && P->mu_mode == MU_ONE;
    const int hard = P->rule == RULE_VOGELS || P->mu_mode == MU_ZERO;
#if defined(LS_FIXED)
    const int64_t ep = P->i_eta_plus, mx = P->i_m_max, al = P->rule == RULE_DIEHL_COOK ? P->i_alpha : 0;
#else
    const real_t ep = (real_t)P->eta_plus, mx = (real_t)P->m_max;
    const real_t al = P->rule == RULE_DIEHL_COOK ? (real_t)P->alpha : (real_t)0;
#endif
    if (soft) {
        for (int64_t j = 0; j < npre; j++) {
            const int64_t q = j * np;
            if (!mask[q]) continue;
            real_t dm = (ep * (xpre[j] - al)) * (mx - m[q]);
            if (spre[j]) dm = dm + dep_term(P, m[q], ypost_i);
            acc[q] += dm;
        }
    } else if (hard) {
        for (int64_t j = 0; j < npre; j++) {
            const int64_t q = j * np;
            if (!mask[q]) continue;
            real_t dm = ep * (xpre[j] - al);
            if (spre[j]) dm = dm + dep_term(P, m[q], ypost_i);
            acc[q] += dm;
        }
    } else {
        for (int64_t j = 0; j < npre; j++) {
            const int64_t q = j * np;
            if (!mask[q]) continue;
            real_t dm = pot_term(P, m[q], xpre[j]);
            if (spre[j]) dm = dm + dep_term(P, m[q], ypost_i);
            acc[q] += dm;
        }
    }
}

/* dm accumulation of one step (kernels.stdp.stdp_delta) on the touched rows and columns only:
 * dm_ij = [s_i] pot_ij + [s_j] dep_ij; the oracle's sum order (pot + dep) is kept. */
static void stdp_accumulate(ctx_t *c, path_t *P) {
    int64_t np = P->n_post;
    const uint8_t *spre = c->s + c->soff[P->pre_pop], *spost = c->s + c->soff[P->post_pop];
    const real_t *xpre = c->M->x + c->soff[P->pre_pop];
    const real_t *ypost = c->M->y + c->yoff[P->post_pop];
    const int64_t *lpre = c->list + c->soff[P->pre_pop], *lpost = c->list + c->soff[P->post_pop];
    /* columns of spiking pres: depression on non-spiking posts. Without depression (eta- = 0, not
     * vogels: Diehl & Cook's post-only rule) every term is -0, which leaves acc unchanged, and an
     * untouched synapse's epoch update is m + 0 = m: the pass is skipped. */
#if defined(LS_FIXED)
    const int dep_on = P->rule == RULE_VOGELS || P->i_eta_minus != 0;
#else
    const int dep_on = P->rule == RULE_VOGELS || (real_t)P->eta_minus != 0;
#endif
    for (int64_t k = 0; dep_on && k < c->nlist[P->pre_pop]; k++) {
        int64_t j = lpre[k];
        dep_column(P, P->m + j * np, P->acc + j * np, P->mask + j * np, spost, ypost, np);
        P->col_touched[j] = 1;
    }
    /* rows of spiking posts: potentiation (+ depression where the pre spiked too) */
    for (int64_t k = 0; k < c->nlist[P->post_pop]; k++) {
        int64_t i = lpost[k];
        pot_row(P, i, spre, xpre, ypost[i]);
        P->row_touched[i] = 1;
    }
}

/* fixed.rounding_offset of a deterministic mode: nearest 2**(bits - 1), floor 0; -1 for
 * stochastic (the callers then draw r per value) */
static inline int64_t fixed_offset(int64_t mode, int64_t bits) {
    return mode == ROUND_STOCHASTIC ? -1 : (mode == ROUND_NEAREST ? (int64_t)1 << (bits - 1) : 0);
}

/* the rounding offset r of one value: the deterministic rc (>= 0), or (rc < 0) the stochastic draw
 * uniform_u32(key, index) >> (32 - bits). rc is loop-invariant in every caller, so -O3 unswitches
 * the select out of the loops. */
static inline int64_t round_offset(int64_t rc, uint32_t key, uint32_t index, int64_t bits) {
    return rc < 0 ? (int64_t)(hash_idx(key, index) >> (32 - bits)) : rc;
}

/* end of a learning epoch (kernels.stdp.apply_epoch) on the touched synapses: m <- clip(m + acc)
 * (fixed: m + ((acc + r) >> F), r per FixedParams.dw_rounding: rc >= 0 the deterministic offset,
 * rc < 0 stochastic, r from stream STDP_ROUND + p at the oracle's flat index), acc <- 0, also on
 * synapses pruned since they were touched (their acc is kept until the epoch ends, as the
 * oracle's).
 * apply_row: the existing synapses of row i outside the touched columns (strided; constants in
 * locals) */
static void apply_row(const path_t *P, int64_t i, uint32_t key, int64_t fbits, int64_t rc) {
    const int64_t np = P->n_post, npre = P->n_pre;
    real_t *restrict m = P->m + i, *restrict acc = P->acc + i;
    const uint8_t *restrict mask = P->mask + i, *restrict ct = P->col_touched;
#if defined(LS_FIXED)
    const int64_t lo = P->i_m_min, hi = P->i_m_max;
    for (int64_t j = 0; j < npre; j++) {
        const int64_t q = j * np;
        if (ct[j]) continue;
        if (!mask[q]) { /* pruned mid-epoch: the oracle zeroes every accumulator */
            acc[q] = 0;
            continue;
        }
        int64_t nw = m[q] + ((acc[q] + round_offset(rc, key, (uint32_t)(i * npre + j), fbits)) >> fbits);
        m[q] = CLIP(nw, lo, hi);
        acc[q] = 0;
    }
#else
    (void)key;
    (void)fbits;
    (void)rc;
    const real_t lo = (real_t)P->m_min, hi = (real_t)P->m_max;
    for (int64_t j = 0; j < npre; j++) {
        const int64_t q = j * np;
        if (ct[j]) continue;
        if (!mask[q]) { /* pruned mid-epoch: the oracle zeroes every accumulator */
            acc[q] = 0;
            continue;
        }
        real_t nw = m[q] + acc[q];
        m[q] = CLIP(nw, lo, hi);
        acc[q] = 0;
    }
#endif
}

/* the same on column j (existing synapses; acc <- 0 on every one), branch-free (vectorised) */
static void apply_column(const path_t *P, int64_t j, uint32_t key, int64_t fbits, int64_t rc) {
    const int64_t np = P->n_post, npre = P->n_pre;
    real_t *restrict m = P->m + j * np, *restrict acc = P->acc + j * np;
    const uint8_t *restrict mask = P->mask + j * np;
#if defined(LS_FIXED)
    const int64_t lo = P->i_m_min, hi = P->i_m_max;
    for (int64_t i = 0; i < np; i++) {
        int64_t nw = m[i] + ((acc[i] + round_offset(rc, key, (uint32_t)(i * npre + j), fbits)) >> fbits);
        nw = CLIP(nw, lo, hi);
        m[i] = mask[i] ? nw : m[i];
        acc[i] = 0;
    }
#else
    (void)key;
    (void)fbits;
    (void)npre;
    (void)rc;
    const real_t lo = (real_t)P->m_min, hi = (real_t)P->m_max;
    for (int64_t i = 0; i < np; i++) {
        real_t nw = m[i] + acc[i];
        nw = CLIP(nw, lo, hi);
        m[i] = mask[i] ? nw : m[i];
        acc[i] = 0;
    }
#endif
}

static void stdp_apply(ctx_t *c, path_t *P, int p_index, uint64_t epoch) {
    member_t *M = c->M;
    int64_t np = P->n_post, npre = P->n_pre, fbits = M->dw_frac_bits;
    uint32_t key = 0;
    int64_t rc = -1;
#if defined(LS_FIXED)
    rc = fixed_offset(M->dw_rounding, fbits);
    if (rc < 0) key = key4((uint32_t)M->seed, STREAM_STDP_ROUND + (uint32_t)p_index, epoch, 0);
#else
    (void)p_index;
    (void)epoch;
#endif
    for (int64_t j = 0; j < npre; j++)
        if (P->col_touched[j]) apply_column(P, j, key, fbits, rc);
    for (int64_t i = 0; i < np; i++) {
        if (!P->row_touched[i]) continue;
        apply_row(P, i, key, fbits, rc);
        P->row_touched[i] = 0;
    }
    memset(P->col_touched, 0, (size_t)npre);
}

/* ---- learning of one step (ReferenceSimulator._learn) ------------------------------------- */
static void learn_step(ctx_t *c, int active) {
    member_t *M = c->M;
    real_t *x = M->x, *y = M->y;
    /* traces decay (kernels.stdp.trace_step; fixed: rounded per FixedParams.trace_rounding, by
     * default stochastically, kernels.stdp.trace_rounding with the network-wide trace index, which
     * is the position in x and y here; nearest / floor add the constant 2048 / 0 and draw nothing) */
#if defined(LS_FIXED)
    {
        const int64_t kp = M->i_k_plus, km = M->i_k_minus;
        const int64_t rc = fixed_offset(M->trace_rounding, 12);
        uint32_t kx = 0, ky = 0;
        if (rc < 0) {
            uint64_t tk = (uint64_t)M->counters[0];
            kx = key4((uint32_t)M->seed, STREAM_TRACE_ROUND, tk, 0);
            ky = key4((uint32_t)M->seed, STREAM_TRACE_ROUND, tk, 1);
        }
        for (int64_t k = 0; k < c->ns; k++) x[k] = (x[k] * kp + round_offset(rc, kx, (uint32_t)k, 12)) >> 12;
        for (int64_t k = 0; k < c->nn; k++) y[k] = (y[k] * km + round_offset(rc, ky, (uint32_t)k, 12)) >> 12;
    }
#else
    for (int64_t k = 0; k < c->ns; k++) x[k] = x[k] * c->k_plus;
    for (int64_t k = 0; k < c->nn; k++) y[k] = y[k] * c->k_minus;
#endif
    if (active)
        for (int p = 0; p < 4; p++)
            if (M->path[p].plastic) stdp_accumulate(c, &M->path[p]);
    /* traces take this step's spikes (kernels.stdp.trace_add) */
    const uint8_t *s = c->s, *sn = c->s + c->soff[POP_E];
#if defined(LS_FIXED)
    for (int64_t k = 0; k < c->ns; k++)
        if (s[k]) x[k] = CLIP(x[k] + M->trace_impulse, 0, M->trace_max);
    for (int64_t k = 0; k < c->nn; k++)
        if (sn[k]) y[k] = CLIP(y[k] + M->trace_impulse, 0, M->trace_max);
#else
    for (int64_t k = 0; k < c->ns; k++)
        if (s[k]) x[k] = x[k] + (real_t)1;
    for (int64_t k = 0; k < c->nn; k++)
        if (sn[k]) y[k] = y[k] + (real_t)1;
#endif
    uint64_t t = (uint64_t)M->counters[0];
    if ((t + 1) % (uint64_t)M->t_epoch == 0)
        for (int p = 0; p < 4; p++)
            if (M->path[p].plastic) stdp_apply(c, &M->path[p], p, t / (uint64_t)M->t_epoch);
}

/* ---- one simulation step (ReferenceSimulator._step) ---------------------------------------- */
static int step(ctx_t *c, const int64_t *thr, int asleep, int64_t *count_row) {
    member_t *M = c->M;
    call_t *C = c->C;
    neuron_update(c, asleep);
    input_update(c, asleep ? NULL : thr);
    build_lists(c);
    propagate(c);
    int active = C->learn && (!asleep || M->learn_in_sleep);
    learn_step(c, active);
    if (count_row) {
        const uint8_t *se = c->s + c->soff[POP_E];
        for (int64_t i = 0; i < M->ne; i++) count_row[i] += se[i];
    }
    if (C->activity) { /* spike totals per neuron: walk the spike lists (few spikes per step) */
        int64_t *row = C->activity + (asleep ? c->ns : 0);
        for (int p = 0; p < 3; p++) {
            int64_t *r = row + c->soff[p];
            const int64_t *l = c->list + c->soff[p];
            for (int64_t k = 0; k < c->nlist[p]; k++) r[l[k]] += 1;
        }
    }
    if (C->rec_cap > 0) {
        if (C->steps >= C->rec_cap) return -1;
        memcpy(C->rec_x + C->steps * M->nx, c->s, (size_t)M->nx);
        memcpy(C->rec_n + C->steps * c->nn, c->s + c->soff[POP_E], (size_t)c->nn);
        C->rec_asleep[C->steps] = (uint8_t)asleep;
    }
    C->steps += 1;
    M->counters[0] += 1;
    return 0;
}

/* ---- sleep decay of one block (ReferenceSimulator._decay, kernels.sleep) -------------------
 * The decay touches every existing synapse of a plastic pathway; it walks a list of them (built
 * once per call, in the dense (pre, post) order, pruned synapses removed in place) instead of the
 * mostly empty dense matrix. Skipped absent synapses hold exact zeros, so sums are unchanged. */
static void build_synapse_list(ctx_t *c, int p) {
    const path_t *P = &c->M->path[p];
    int64_t np = P->n_post, k = 0;
    for (int64_t j = 0; j < P->n_pre; j++)
        for (int64_t i = 0; i < np; i++)
            if (P->mask[j * np + i]) {
                c->syn_i[p][k] = (int32_t)i;
                c->syn_j[p][k] = (int32_t)j;
                k++;
            }
    c->n_syn[p] = k;
}

static double path_total(ctx_t *c, int p) {
    const path_t *P = &c->M->path[p];
#if defined(LS_FIXED)
    int64_t s = 0;
#else
    double s = 0.0;
#endif
    if (c->syn_i[p] != NULL) {
        for (int64_t k = 0; k < c->n_syn[p]; k++)
            s += P->m[(int64_t)c->syn_j[p][k] * P->n_post + c->syn_i[p][k]];
    } else {
        for (int64_t q = 0; q < P->n_pre * P->n_post; q++) s += P->m[q];
    }
    return (double)s;
}

/* incoming totals per post (row sums of the oracle's (post, pre) matrix) into c->row_sum */
static void row_sums(ctx_t *c, int p) {
    const path_t *P = &c->M->path[p];
    double *rs = c->row_sum;
    for (int64_t i = 0; i < P->n_post; i++) rs[i] = 0.0;
    for (int64_t k = 0; k < c->n_syn[p]; k++) {
        int64_t i = c->syn_i[p][k];
        rs[i] += (double)P->m[(int64_t)c->syn_j[p][k] * P->n_post + i];
    }
}

/* floor and prune (kernels.sleep.floor_and_prune); returns 0 when the synapse was pruned */
static inline int store_floored(const member_t *M, path_t *P, int64_t q, real_t nw, real_t fl) {
    if (nw < fl) {
        if (M->prune) {
            P->m[q] = 0;
            P->mask[q] = 0;
            return 0;
        }
        nw = fl;
    }
    P->m[q] = nw;
    return 1;
}

static void decay_path(ctx_t *c, int p, int64_t K) {
    member_t *M = c->M;
    path_t *P = &M->path[p];
    int64_t np = P->n_post, npre = P->n_pre, n_syn = c->n_syn[p], kept = 0;
    int32_t *si = c->syn_i[p], *sj = c->syn_j[p];
    uint64_t t = (uint64_t)M->counters[0];
    double *rs = c->row_sum;
    if (M->target != TARGET_STATIC) row_sums(c, p);
#if defined(LS_FIXED)
    int64_t D = M->decay_frac_bits, one = (int64_t)1 << D, lk = M->lk_tab[K];
    uint32_t key = key4((uint32_t)M->seed, STREAM_DECAY + (uint32_t)p, t, 0);
    int64_t a_group = one;
    if (M->target == TARGET_GROUP) {
        int64_t tot = 0;
        for (int64_t i = 0; i < np; i++) tot += (int64_t)rs[i];
        if (tot > 0) a_group = lk + ((one - lk) * P->i_total0) / tot;
    }
    if (M->target == TARGET_NEURON) /* per-row A, kept in rs as exact integers (< 2^53) */
        for (int64_t i = 0; i < np; i++) {
            int64_t tot = (int64_t)rs[i];
            rs[i] = (double)(tot > 0 ? lk + ((one - lk) * (int64_t)P->row_total0[i]) / tot : one);
        }
    int64_t b = M->target == TARGET_STATIC ? P->b_tab[K] : 0;
    int64_t *restrict rb = c->syn_buf; /* stochastic rounding terms, in a vectorisable pass */
    for (int64_t k = 0; k < n_syn; k++)
        rb[k] = (int64_t)(hash_idx(key, (uint32_t)((int64_t)si[k] * npre + sj[k])) >> (32 - D));
    for (int64_t k = 0; k < n_syn; k++) {
        int64_t i = si[k], j = sj[k], q = j * np + i;
        int64_t r = rb[k];
        int64_t m = P->m[q], nw;
        if (M->target == TARGET_STATIC) nw = (m * lk + b + r) >> D;
        else if (M->target == TARGET_GROUP) nw = (a_group * m + r) >> D;
        else nw = ((int64_t)rs[i] * m + r) >> D;
        nw = CLIP(nw, P->i_m_min, P->i_m_max);
        if (store_floored(M, P, q, nw, P->i_m_floor)) {
            si[kept] = (int32_t)i;
            sj[kept++] = (int32_t)j;
        }
    }
#else
    /* c = 1 - lam**K as a Python float; the oracle mixes it into real_t arithmetic as NumPy does:
     * the scalar is rounded to real_t where it meets an array, (1 - c) is formed in double. */
    double cd = M->c_tab[K];
    real_t c_r = (real_t)cd, omc_r = (real_t)(1.0 - cd);
    real_t noise = (real_t)M->decay_noise;
    int noisy = M->decay_noise > 0.0;
    uint32_t k1 = 0, k2 = 0;
    if (noisy) {
        k1 = key4((uint32_t)M->seed, STREAM_DECAY + (uint32_t)p, t, 0);
        k2 = key4((uint32_t)M->seed, STREAM_DECAY + (uint32_t)p, t, 1);
    }
    real_t ts = (real_t)P->static_target;
    real_t ratio_g = (real_t)1;
    if (M->target == TARGET_GROUP) {
        double tot = 0.0;
        for (int64_t i = 0; i < np; i++) tot += (double)(real_t)rs[i];
        real_t tot_r = (real_t)tot;
        if (tot_r > 0) ratio_g = (real_t)P->total0 / tot_r;
    }
    if (M->target == TARGET_NEURON)
        for (int64_t i = 0; i < np; i++) {
            real_t tot_r = (real_t)rs[i];
            rs[i] = (double)(tot_r > 0 ? P->row_total0[i] / tot_r : (real_t)1);
        }
    /* log form with a row ratio: ratio**c as exp(c log(ratio)), one log per row (within an ulp or
     * two of pow, which itself differs between libm and NumPy in the last bit) */
    double *lr = c->row_log;
    if (M->target != TARGET_STATIC && M->form == FORM_LOG)
        for (int64_t i = 0; i < np; i++) {
#if defined(LS_F32)
            lr[i] = (double)logf(M->target == TARGET_GROUP ? ratio_g : (real_t)rs[i]);
#else
            lr[i] = log(M->target == TARGET_GROUP ? (double)ratio_g : rs[i]);
#endif
        }
    real_t lo = (real_t)P->m_min, hi = (real_t)P->m_max, fl = (real_t)P->m_floor;
    /* noisy strengths c_ij (kernels.sleep.decay_strength) in a vectorisable pass */
    real_t *restrict cb = (real_t *)c->syn_buf;
    if (noisy)
        for (int64_t k = 0; k < n_syn; k++) {
            real_t xi = (real_t)normal_int(k1, k2, (uint32_t)((int64_t)si[k] * npre + sj[k]))
                        / (real_t)NORMAL_INT_SD;
            real_t cij = c_r * ((real_t)1 + noise * xi);
            cb[k] = CLIP(cij, (real_t)0, (real_t)1);
        }
    for (int64_t k = 0; k < n_syn; k++) {
        int64_t i = si[k], j = sj[k], q = j * np + i;
        real_t m = P->m[q], nw;
        real_t cij = c_r, omc = omc_r;
        if (noisy) {
            cij = cb[k];
            omc = (real_t)1 - cij;
        }
        if (M->target == TARGET_STATIC) {
            if (M->form == FORM_LOG) {
#if defined(LS_F32)
                nw = m > 0 ? ts * powf(m / ts, omc) : (real_t)0;
#else
                nw = m > 0 ? ts * pow(m / ts, omc) : (real_t)0;
#endif
            } else {
                nw = ts + (m - ts) * omc;
            }
        } else if (M->form == FORM_LOG) {
#if defined(LS_F32)
            nw = m * expf(cij * (real_t)lr[i]);
#else
            nw = m * exp(cij * lr[i]);
#endif
        } else {
            real_t ratio = M->target == TARGET_GROUP ? ratio_g : (real_t)rs[i];
            nw = m * ((real_t)1 + cij * (ratio - (real_t)1));
        }
        nw = CLIP(nw, lo, hi);
        if (store_floored(M, P, q, nw, fl)) {
            si[kept] = (int32_t)i;
            sj[kept++] = (int32_t)j;
        }
    }
#endif
    c->n_syn[p] = kept;
}

/* ---- per-image normalization (ReferenceSimulator._normalize) --------------------------------
 * kernels.sleep.decay_block with normalize_consts: the linear neuron-target form with lam = 0
 * (c = 1), K = 1, no noise, no floor, no pruning. Float: m <- m (1 + 1 (T0_i/T_i - 1)), the factor
 * formed per row as the oracle forms it; fixed: A_i = (2^D T0_i) // T_i, m <- (A_i m + r) >> D with
 * r from stream DECAY + p, counter t (the already advanced step counter), draw NORMALIZE_DRAW, at
 * the oracle's flat index; T_i = 0 leaves the row unchanged. Then clip to [m_min, m_max]. It runs
 * once per image slot on the dense (pre, post) matrix: row totals column by column, then one
 * branch-free pass; absent synapses hold 0 and are left alone. */
static void normalize_path(ctx_t *c, int p) {
    member_t *M = c->M;
    path_t *P = &M->path[p];
    const int64_t np = P->n_post, npre = P->n_pre;
    real_t *restrict f = c->norm_f;
#if defined(LS_FIXED)
    int64_t *restrict tot = c->norm_tot;
    for (int64_t i = 0; i < np; i++) tot[i] = 0;
    for (int64_t j = 0; j < npre; j++) {
        const int64_t *restrict col = P->m + j * np;
        for (int64_t i = 0; i < np; i++) tot[i] += col[i];
    }
    const int64_t D = M->decay_frac_bits, one = (int64_t)1 << D;
    for (int64_t i = 0; i < np; i++) f[i] = tot[i] > 0 ? (one * P->row_total0[i]) / tot[i] : one;
    const uint32_t key = key4((uint32_t)M->seed, STREAM_DECAY + (uint32_t)p, (uint64_t)M->counters[0],
                              NORMALIZE_DRAW);
    const int64_t lo = P->i_m_min, hi = P->i_m_max;
    for (int64_t j = 0; j < npre; j++) {
        int64_t *restrict m = P->m + j * np;
        const uint8_t *restrict mask = P->mask + j * np;
        for (int64_t i = 0; i < np; i++) {
            int64_t r = (int64_t)(hash_idx(key, (uint32_t)(i * npre + j)) >> (32 - D));
            int64_t nw = (f[i] * m[i] + r) >> D;
            nw = CLIP(nw, lo, hi);
            m[i] = mask[i] ? nw : m[i];
        }
    }
#else
    double *restrict tot = c->row_sum;
    for (int64_t i = 0; i < np; i++) tot[i] = 0.0;
    for (int64_t j = 0; j < npre; j++) {
        const real_t *restrict col = P->m + j * np;
        for (int64_t i = 0; i < np; i++) tot[i] += (double)col[i];
    }
    for (int64_t i = 0; i < np; i++) {
        real_t tot_r = (real_t)tot[i];
        real_t ratio = tot_r > 0 ? P->row_total0[i] / tot_r : (real_t)1;
        f[i] = (real_t)1 + (ratio - (real_t)1); /* 1 + c (ratio - 1) with c = 1 */
    }
    const real_t lo = (real_t)P->m_min, hi = (real_t)P->m_max;
    for (int64_t j = 0; j < npre; j++) {
        real_t *restrict m = P->m + j * np;
        const uint8_t *restrict mask = P->mask + j * np;
        for (int64_t i = 0; i < np; i++) {
            real_t nw = m[i] * f[i];
            nw = CLIP(nw, lo, hi);
            m[i] = mask[i] ? nw : m[i];
        }
    }
#endif
}

static int wake_check(ctx_t *c) {
    member_t *M = c->M;
    if (M->tol <= 0.0) return 0;
    int any = 0;
    for (int p = 0; p < 4; p++) {
        path_t *P = &M->path[p];
        if (!P->plastic) continue;
        any = 1;
#if defined(LS_FIXED)
        double t0 = (double)P->i_total0;
#else
        double t0 = P->total0;
#endif
        if (!(fabs(path_total(c, p) - t0) <= M->tol * t0)) return 0;
    }
    return any;
}

static void totals(ctx_t *c, double *out) {
    for (int p = 0; p < 4; p++) out[p] = path_total(c, p);
}

/* ---- one sleep episode (ReferenceSimulator._sleep_episode) ---------------------------------
 * Scheduled (on_demand 0): the schedule's episode counter n_episodes advances and names the
 * record; a planned length 0 is counted, not run. On demand (ls_sleep): n_episodes is left alone
 * and the record is episode 0. Recorded into the call's next eps_i / eps_tot row. */
static int sleep_episode(ctx_t *c, int64_t planned, int on_demand) {
    member_t *M = c->M;
    call_t *C = c->C;
    if (C->n_eps >= C->eps_cap) return -2;
    if (!on_demand) M->counters[2] += 1;
    if (planned <= 0) {
        C->eps_i[C->n_eps * 6] = -1; /* marks a zero-length episode (no record) */
        C->n_eps += 1;
        return 0;
    }
    double *tot = C->eps_tot + C->n_eps * 8;
    totals(c, tot);
    int64_t start = M->counters[0], used = 0, since = 0, woke = 0;
    while (used < planned) {
        if (step(c, NULL, 1, NULL)) return -1;
        used++;
        since++;
        /* SleepParams.settles / decay_steps */
        if (M->onchip ? M->counters[0] % M->block == 0 : (used % M->block == 0 || used == planned)) {
            for (int p = 0; p < 4; p++)
                if (M->path[p].plastic) decay_path(c, p, M->onchip ? M->block : since);
            since = 0;
            if (used < planned && wake_check(c)) {
                woke = 1;
                break;
            }
        }
    }
    M->counters[3] += used;
    C->sleep_steps += used;
    int64_t *e = C->eps_i + C->n_eps * 6;
    e[0] = on_demand ? 0 : M->counters[2];
    e[1] = start;
    e[2] = M->counters[1];
    e[3] = planned;
    e[4] = used;
    e[5] = woke;
    totals(c, tot + 4);
    C->n_eps += 1;
    return 0;
}

/* ---- per-call context: constants in real_t, scratch buffers, synapse lists ---------------- */
/* Synapse lists are built for the plastic pathways whose bit is set in list_bits. Returns 0, or
 * -3 when memory is short (ctx_free must still be called). */
static int ctx_init(ctx_t *c, member_t *M, call_t *C, int list_bits) {
    memset(c, 0, sizeof(*c));
    c->M = M;
    c->C = C;
    c->nn = M->ne + M->ni;
    c->ns = M->nx + c->nn;
    c->soff[POP_X] = 0;
    c->soff[POP_E] = M->nx;
    c->soff[POP_I] = M->nx + M->ne;
    c->yoff[POP_E] = 0;
    c->yoff[POP_I] = M->ne;
#if !defined(LS_FIXED)
    c->k_u = (real_t)M->k_u;
    c->k_v = (real_t)M->k_v;
    c->k_a = (real_t)M->k_a;
    c->gain = (real_t)M->gain;
    c->v_thresh = (real_t)M->v_thresh;
    c->v_reset = (real_t)M->v_reset;
    c->v_min = (real_t)M->v_min;
    c->v_max = (real_t)M->v_max;
    c->a_min = (real_t)M->a_min;
    c->a_max = (real_t)M->a_max;
    c->delta_a = (real_t)M->delta_a;
    c->bias = (real_t)M->bias;
    c->noise_wake = (real_t)M->noise_wake;
    c->noise_sleep = (real_t)M->noise_sleep;
    c->k_plus = (real_t)M->k_plus;
    c->k_minus = (real_t)M->k_minus;
#endif
    int64_t maxpost = M->ne > M->ni ? M->ne : M->ni;
    c->s = (uint8_t *)calloc((size_t)c->ns, 1);
    c->list = (int64_t *)calloc((size_t)c->ns, sizeof(int64_t));
    c->work = M->drive ? M->drive : (real_t *)calloc((size_t)(3 * M->ne + M->ni + 1), sizeof(real_t));
    c->row_sum = (double *)calloc((size_t)maxpost + 1, sizeof(double));
    c->row_log = (double *)calloc((size_t)maxpost + 1, sizeof(double));
    c->norm_tot = (real_t *)calloc((size_t)maxpost + 1, sizeof(real_t));
    c->norm_f = (real_t *)calloc((size_t)maxpost + 1, sizeof(real_t));
    int ok = c->s && c->list && c->work && c->row_sum && c->row_log && c->norm_tot && c->norm_f;
    size_t max_syn = 1;
    for (int p = 0; p < 4; p++)
        if ((list_bits >> p & 1) && M->path[p].plastic
            && (size_t)(M->path[p].n_pre * M->path[p].n_post) + 1 > max_syn)
            max_syn = (size_t)(M->path[p].n_pre * M->path[p].n_post) + 1;
    if (ok && list_bits) {
        c->syn_buf = (int64_t *)malloc(max_syn * sizeof(int64_t));
        ok = c->syn_buf != NULL;
    }
    for (int p = 0; p < 4 && ok; p++) {
        if (!(list_bits >> p & 1) || !M->path[p].plastic) continue;
        size_t n = (size_t)(M->path[p].n_pre * M->path[p].n_post) + 1;
        c->syn_i[p] = (int32_t *)malloc(n * sizeof(int32_t));
        c->syn_j[p] = (int32_t *)malloc(n * sizeof(int32_t));
        ok = c->syn_i[p] && c->syn_j[p];
        if (ok) build_synapse_list(c, p);
    }
    return ok ? 0 : -3;
}

static void ctx_free(ctx_t *c) {
    free(c->s);
    free(c->list);
    if (!c->M->drive) free(c->work);
    free(c->row_sum);
    free(c->row_log);
    free(c->norm_tot);
    free(c->norm_f);
    free(c->syn_buf);
    for (int p = 0; p < 4; p++) {
        free(c->syn_i[p]);
        free(c->syn_j[p]);
    }
}

/* ---- ReferenceSimulator.run for one member ------------------------------------------------- */
/* Each image's slot is C->spi presentation steps and C->rest rest steps (input gate closed, not
 * counted in C->counts); while learning, pathways with normalize are normalized after the slot's
 * last step, before a sleep episode that starts at that wake step. */
int64_t ls_run(member_t *M, call_t *C) {
    ctx_t c;
    C->n_eps = C->steps = C->sleep_steps = C->status = 0;
    int sleeping = M->sleeping && C->sleep_on;
    int normalize = 0;
    for (int p = 0; p < 4; p++)
        if (C->learn && M->path[p].plastic && M->path[p].normalize) normalize = 1;
    const int64_t slot = C->spi + (C->rest > 0 ? C->rest : 0);
    C->status = ctx_init(&c, M, C, sleeping ? 0xF : 0);
    for (int64_t im = 0; im < C->n_images && C->status == 0; im++) {
        const int64_t *thr = C->thr + im * M->nx;
        int64_t *cnt = C->counts + im * M->ne;
        for (int64_t k = 0; k < slot; k++) {
            int present = k < C->spi;
            if (step(&c, present ? thr : NULL, 0, present ? cnt : NULL)) {
                C->status = -1;
                break;
            }
            M->counters[1] += 1;
            if (normalize && k == slot - 1)
                for (int p = 0; p < 4; p++)
                    if (M->path[p].plastic && M->path[p].normalize) normalize_path(&c, p);
            if (sleeping && M->counters[1] % M->period == 0) {
                int r = C->n_eps < C->eps_cap ? sleep_episode(&c, C->planned[C->n_eps], 0) : -2;
                if (r) {
                    C->status = r;
                    break;
                }
            }
        }
    }
    ctx_free(&c);
    return C->status;
}

/* ---- one on-demand sleep episode of `planned` steps for one member (ReferenceSimulator.sleep) -
 * Exactly a scheduled episode (sleep_episode), also for members without a schedule (fraction 0:
 * M->sleeping is 0, the decay constants are set all the same), with the schedule's episode
 * counter unchanged. C: learn, activity, rec_cap/rec_* (capacity >= planned), eps_cap >= 1 and
 * the eps_i / eps_tot rows; C->n_eps, steps, sleep_steps and status are set here. */
int64_t ls_sleep(member_t *M, call_t *C, int64_t planned) {
    ctx_t c;
    C->n_eps = C->steps = C->sleep_steps = C->status = 0;
    if (planned < 0 || C->eps_cap < 1) return C->status = -4;
    C->status = ctx_init(&c, M, C, 0xF);
    if (C->status == 0) C->status = sleep_episode(&c, planned, 1);
    ctx_free(&c);
    return C->status;
}

/* ---- one network step for the fused Lava model --------------------------------------------
 * C->thr: thresholds of the current image (ignored when asleep); C->counts: NULL or the E spike
 * count row this wake step adds to; C->learn; C->rec_cap 0 or 1 with one-row rec buffers;
 * C->activity NULL (the fused Lava model leaves it so) or the (2, ns) totals the step adds to. The
 * schedule (when to sleep, decay blocks) is the caller's; a wake step advances the wake counter. */
int64_t ls_step(member_t *M, call_t *C, int64_t asleep) {
    ctx_t c;
    C->steps = 0;
    C->status = ctx_init(&c, M, C, 0);
    if (C->status == 0) {
        if (step(&c, asleep ? NULL : C->thr, (int)asleep, asleep ? NULL : C->counts)) C->status = -1;
        else if (!asleep) M->counters[1] += 1;
    }
    ctx_free(&c);
    return C->status;
}

/* ---- one sleep decay block of K steps on plastic pathway p (ReferenceSimulator._decay) ------
 * Keys use the step counter M->counters[0], which must already count the block's last step. */
int64_t ls_decay(member_t *M, int64_t p, int64_t K) {
    if (p < 0 || p > 3 || !M->path[p].plastic || K < 0 || K > M->block) return -4;
    ctx_t c;
    int64_t status = ctx_init(&c, M, NULL, 1 << p);
    if (status == 0) decay_path(&c, (int)p, K);
    ctx_free(&c);
    return status;
}

/* ---- per-image normalization of plastic pathway p (ReferenceSimulator._normalize) -----------
 * For the fused Lava model: call after the slot's last step (keys use M->counters[0], which must
 * already count that step). */
int64_t ls_normalize(member_t *M, int64_t p) {
    if (p < 0 || p > 3 || !M->path[p].plastic) return -4;
    ctx_t c;
    int64_t status = ctx_init(&c, M, NULL, 0);
    if (status == 0) normalize_path(&c, (int)p);
    ctx_free(&c);
    return status;
}

/* structure sizes, checked against the ctypes mirrors when the library is loaded */
int64_t ls_struct_size(int64_t which) {
    return which == 0 ? (int64_t)sizeof(path_t) : which == 1 ? (int64_t)sizeof(member_t)
                                                             : (int64_t)sizeof(call_t);
}

/* rng.uniform_u32(rng.key(seed, stream, counter, draw), index), exported for tests */
int64_t ls_uniform_u32(int64_t seed, int64_t stream, int64_t counter, int64_t draw, int64_t index) {
    return (int64_t)hash_idx(key4((uint32_t)seed, (uint32_t)stream, (uint64_t)counter, (uint32_t)draw),
                             (uint32_t)index);
}
