/* audio.c — sound in, as ImageBind's audio pipeline (which GroundingGPT uses) prepares it:
 * decoding (libsndfile: WAV, FLAC, Ogg, AIFF, ...), resampling to 16 kHz as
 * torchaudio.functional.resample does, and Kaldi filter banks as torchaudio.compliance.kaldi.fbank
 * computes them.
 *
 * The resampler and the filter banks are written out here because their exact arithmetic is what
 * parity needs and no C library computes the same thing: torchaudio's windowed-sinc kernel
 * (Hann-squared window, lowpass 0.99, width 6, built in float32) applied as its strided
 * convolution, and Kaldi's framing (25 ms / 10 ms, snip edges), DC removal, pre-emphasis 0.97,
 * Hann window, 512-point power spectrum, triangular mel banks on HTK's mel scale and log with a
 * FLT_EPSILON floor. The FFT is a plain radix-2 one (512 points).
 *
 * Reading is by stretches: locus_audio_read computes samples [start, end) of the resampled signal
 * from just the input samples that the resampling filter touches for them, so three 2-s clips
 * of a three-hour file cost three small reads, and agree exactly with resampling the whole file. */
#include "../core/internal.h"
#include "../kernels/vec.h"
#include "audio_internal.h"

#include <float.h>
#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { LOWPASS_WIDTH = 6, MAX_RATE = 1000000 };

/* the longest sound a file may claim: a week, or LOCUS_MAX_AUDIO_HOURS */
static double max_seconds(void) {
    static double limit = 0;
    if (limit == 0) {
        const char *env = getenv("LOCUS_MAX_AUDIO_HOURS");
        limit = (env && atof(env) > 0 ? atof(env) : 7 * 24) * 3600;
    }
    return limit;
}

int locus_audio_probe(const char *path, locus_audio_info *out) {
    if (!path || !out) return locus_fail("audio: NULL argument");
    memset(out, 0, sizeof *out);
    SF_INFO info = {0};
    SNDFILE *f = sf_open(path, SFM_READ, &info);
    if (f) {
        sf_close(f);
        out->frames = info.frames, out->sample_rate = info.samplerate, out->channels = info.channels;
        out->decoder = LOCUS_AUDIO_SNDFILE;
    } else if (locus_ff_audio_probe(path, out)) {
        return -1;
    }
    if (out->channels < 1 || out->channels > 64) return locus_fail("%s: %d audio channels", path, out->channels);
    if (out->sample_rate < 1 || out->sample_rate > MAX_RATE) return locus_fail("%s: sample rate %d Hz", path, out->sample_rate);
    /* libsndfile gives SF_COUNT_MAX when it cannot find a stream's end: an Ogg cut short */
    if (out->frames < 0 || out->frames == SF_COUNT_MAX)
        return locus_fail("%s: the length of the sound is unknown (a truncated file?)", path);
    if ((double)out->frames / out->sample_rate > max_seconds())
        return locus_fail("%s: claims %lld samples at %d Hz, more than %.0f hours (LOCUS_MAX_AUDIO_HOURS)", path,
                          (long long)out->frames, out->sample_rate, max_seconds() / 3600);
    out->duration = (double)out->frames / out->sample_rate;
    return 0;
}

/* Input frames [start, start + n) into xd [channels, n] (planar); frames outside the file are 0,
 * as torchaudio's zero padding makes them. NaN and infinite samples become 0. */
static int read_frames(SNDFILE *f, const char *path, const SF_INFO *info, int64_t start, int64_t n, float *xd) {
    int ch = info->channels;
    for (int64_t i = 0; i < n * ch; i++) xd[i] = 0;
    int64_t a = start < 0 ? 0 : start, b = start + n > info->frames ? info->frames : start + n;
    if (a >= b) return 0;
    if (sf_seek(f, a, SEEK_SET) != a) return locus_fail("%s: cannot seek to frame %lld", path, (long long)a);
    enum { CHUNK = 4096 };
    float *inter = malloc((size_t)CHUNK * ch * sizeof(float));
    if (!inter) return locus_fail("%s: out of memory", path);
    for (int64_t at = a; at < b;) {
        sf_count_t want = b - at < CHUNK ? b - at : CHUNK;
        sf_count_t got = sf_readf_float(f, inter, want);
        if (got != want) {
            free(inter);
            return locus_fail("%s: truncated or corrupt audio (frame %lld of %lld unreadable: %s)", path, (long long)(at + (got > 0 ? got : 0)),
                             (long long)info->frames, sf_strerror(f));
        }
        for (sf_count_t i = 0; i < got; i++)
            for (int c = 0; c < ch; c++) {
                float v = inter[i * ch + c];
                xd[c * n + (at + i - start)] = isfinite(v) ? v : 0.0f; /* NaN/inf would poison everything downstream */
            }
        at += got;
    }
    free(inter);
    return 0;
}

static int64_t gcd(int64_t a, int64_t b) {
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* torchaudio's resampler after reducing the rates by their gcd: `neu` output phases per `orig`
 * input samples, each phase a kernel of klen = 2 width + orig taps over input [f orig - width, ...).
 * The kernel is kept whole ([neu, klen], as torchaudio builds it) up to KERNEL_KEPT floats. Rates
 * with a small gcd (44101 -> 16000: 16000 phases of 44135 taps, 2.8 GB) would need far more; then
 * each output's taps are computed as it is made, and only those inside the lowpass window: outside
 * it every tap of a phase is one clamped value (the window's edge), applied to the sum of the
 * inputs there. */
enum { KERNEL_KEPT = 1 << 22 };

typedef struct resampler {
    int64_t orig, neu, width, klen;
    float base, scale;
    float *kernel; /* [neu, klen], or NULL: taps computed per output */
} resampler;

/* tap j of phase i, in float32 as torchaudio computes it */
static float tap(const resampler *r, int64_t i, int64_t j) {
    float t = ((float)-i / (float)r->neu + (float)(j - r->width) / (float)r->orig) * r->base;
    if (t < -LOWPASS_WIDTH) t = -LOWPASS_WIDTH;
    if (t > LOWPASS_WIDTH) t = LOWPASS_WIDTH;
    float c = cosf(t * (float)M_PI / LOWPASS_WIDTH / 2);
    float window = c * c;
    t *= (float)M_PI;
    float k = t == 0 ? 1.0f : sinf(t) / t;
    return k * (window * r->scale);
}

static int resampler_init(resampler *r, int64_t from, int64_t to) {
    int64_t g = gcd(from, to);
    r->orig = from / g, r->neu = to / g;
    double base = (double)(r->orig < r->neu ? r->orig : r->neu) * 0.99;
    r->width = (int64_t)ceil(LOWPASS_WIDTH * (double)r->orig / base);
    r->klen = 2 * r->width + r->orig;
    r->base = (float)base, r->scale = (float)(base / (double)r->orig); /* float32 throughout, as torchaudio */
    r->kernel = NULL;
    if (r->neu * r->klen > KERNEL_KEPT) return 0;
    r->kernel = malloc((size_t)(r->neu * r->klen) * sizeof(float));
    if (!r->kernel) return locus_fail("resample: out of memory");
    for (int64_t i = 0; i < r->neu; i++)
        for (int64_t j = 0; j < r->klen; j++) r->kernel[i * r->klen + j] = tap(r, i, j);
    return 0;
}

/* Output o from its klen inputs x, the taps computed here (r->kernel NULL); sums: prefix sums of
 * x's channel (sums[k] = x[0] + ... + x[k - 1], in double) for the taps outside the window. */
static float resample_one(const resampler *r, int64_t i, const float *x, const double *sums) {
    /* the window |t| < LOWPASS_WIDTH: j - width within orig (i / neu +- LOWPASS_WIDTH / base), widened
     * by two taps so that every tap left out is clamped */
    double centre = (double)r->width + (double)r->orig * (double)i / (double)r->neu;
    double half = (double)r->orig * LOWPASS_WIDTH / (double)r->base;
    int64_t lo = (int64_t)floor(centre - half) - 2, hi = (int64_t)ceil(centre + half) + 3;
    if (lo < 0) lo = 0;
    if (hi > r->klen) hi = r->klen;
    float acc = 0;
    for (int64_t j = lo; j < hi; j++) acc += tap(r, i, j) * x[j];
    double outside = (sums[lo] - sums[0]) + (sums[r->klen] - sums[hi]);
    return acc + tap(r, i, 0) * (float)outside; /* tap 0 is clamped: the edge value */
}

/* Output samples [o0, o1) of every channel, from xd [ch, n] holding input samples [in0, in0 + n)
 * (zeros outside the signal included), into y [ch, o1 - o0]. */
static int resample_span(const resampler *r, const float *xd, int64_t ch, int64_t n, int64_t in0, int64_t o0, int64_t o1, float *y) {
    int64_t m = o1 - o0;
    const locus_vec_kernels *vec = locus_vec_active();
    double *sums = NULL;
    if (!r->kernel) {
        if (!(sums = malloc((size_t)(ch * (n + 1)) * sizeof(double)))) return locus_fail("resample: out of memory");
        for (int64_t c = 0; c < ch; c++) {
            double *s = sums + c * (n + 1);
            s[0] = 0;
            for (int64_t k = 0; k < n; k++) s[k + 1] = s[k] + xd[c * n + k];
        }
    }
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t c = 0; c < ch; c++)
        for (int64_t o = o0; o < o1; o++) {
            int64_t f = o / r->neu, i = o % r->neu, at = f * r->orig - r->width - in0;
            const float *x = xd + c * n + at;
            y[c * m + (o - o0)] = r->kernel ? vec->dot_f32(x, r->kernel + i * r->klen, r->klen)
                                            : resample_one(r, i, x, sums + c * (n + 1) + at);
        }
    free(sums);
    return 0;
}

/* The input samples that outputs [o0, o1) read: [first, last) */
static void span_inputs(const resampler *r, int64_t o0, int64_t o1, int64_t *first, int64_t *last) {
    *first = (o0 / r->neu) * r->orig - r->width;
    *last = ((o1 - 1) / r->neu) * r->orig - r->width + r->klen;
}

int64_t locus_audio_resampled_length(int64_t n, int64_t from, int64_t to) {
    int64_t g = gcd(from, to);
    return (int64_t)ceil((double)(to / g) * (double)n / (double)(from / g));
}

/* Input samples [first[s], first[s] + count[s]) into bufs[s] [channels, count[s]] (zeros outside the signal) */
static int read_input(const char *path, const locus_audio_info *ai, int n, const int64_t *first, const int64_t *count, float **bufs) {
    if (ai->decoder == LOCUS_AUDIO_FFMPEG) return locus_ff_audio_read_spans(path, ai, n, first, count, bufs);
    SF_INFO info = {0};
    SNDFILE *f = sf_open(path, SFM_READ, &info);
    if (!f) return locus_fail("%s: cannot read as audio: %s", path, sf_strerror(NULL));
    if (info.channels != ai->channels || info.frames != ai->frames) {
        sf_close(f);
        return locus_fail("%s: the file changed while being read", path);
    }
    int failed = 0;
    for (int s = 0; s < n && !failed; s++) failed = read_frames(f, path, &info, first[s], count[s], bufs[s]);
    sf_close(f);
    return failed;
}

int locus_audio_read_spans(const char *path, const locus_audio_info *info, int64_t rate, int n, const int64_t *starts, const int64_t *ends,
                          locus_tensor **out) {
    if (!path || n < 0 || n > 1024 || (n && (!starts || !ends || !out))) return locus_fail("audio: bad arguments to read_spans");
    for (int s = 0; s < n; s++) out[s] = NULL;
    locus_audio_info ai;
    if (info) ai = *info;
    else if (locus_audio_probe(path, &ai)) return -1;
    if (rate < 1 || rate > MAX_RATE) return locus_fail("%s: cannot resample to %lld Hz", path, (long long)rate);
    int64_t total = locus_audio_resampled_length(ai.frames, ai.sample_rate, rate);
    resampler r = {0};
    if (rate != ai.sample_rate && resampler_init(&r, ai.sample_rate, rate)) return -1;
    int64_t *first = calloc((size_t)n + 1, sizeof(int64_t)), *count = calloc((size_t)n + 1, sizeof(int64_t));
    int64_t *o0 = calloc((size_t)n + 1, sizeof(int64_t)), *o1 = calloc((size_t)n + 1, sizeof(int64_t));
    float **bufs = calloc((size_t)n + 1, sizeof(float *));
    int failed = !first || !count || !o0 || !o1 || !bufs ? locus_fail("%s: out of memory", path) : 0;
    for (int s = 0; s < n && !failed; s++) {
        o0[s] = starts[s] < 0 ? 0 : starts[s];
        o1[s] = ends[s] > total ? total : ends[s];
        if (o1[s] < o0[s]) o1[s] = o0[s];
        if ((o1[s] - o0[s]) * ai.channels > ((int64_t)1 << 31)) {
            failed = locus_fail("%s: %lld samples asked for in one read (read shorter stretches)", path, (long long)(o1[s] - o0[s]));
            break;
        }
        int64_t shape[2] = {ai.channels, o1[s] - o0[s]};
        out[s] = locus_tensor_new(LOCUS_F32, 2, shape);
        if (!out[s]) failed = -1;
        else if (o1[s] == o0[s]) continue;
        else if (rate == ai.sample_rate) first[s] = o0[s], count[s] = o1[s] - o0[s];
        else {
            int64_t last;
            span_inputs(&r, o0[s], o1[s], &first[s], &last);
            count[s] = last - first[s];
        }
        if (!failed && count[s] && !(bufs[s] = calloc((size_t)count[s] * (size_t)ai.channels, sizeof(float))))
            failed = locus_fail("%s: out of memory", path);
    }
    if (!failed) failed = read_input(path, &ai, n, first, count, bufs);
    for (int s = 0; s < n && !failed; s++) {
        if (!count[s]) continue;
        if (rate == ai.sample_rate) memcpy(locus_tensor_data(out[s]), bufs[s], (size_t)count[s] * ai.channels * sizeof(float));
        else failed = resample_span(&r, bufs[s], ai.channels, count[s], first[s], o0[s], o1[s], locus_tensor_data(out[s]));
    }
    for (int s = 0; s < n; s++) {
        if (bufs) free(bufs[s]);
        if (failed) {
            locus_tensor_free(out[s]);
            out[s] = NULL;
        }
    }
    free(bufs), free(first), free(count), free(o0), free(o1), free(r.kernel);
    return failed ? -1 : 0;
}

locus_tensor *locus_audio_read(const char *path, int64_t rate, int64_t start, int64_t end) {
    locus_tensor *out = NULL;
    return locus_audio_read_spans(path, NULL, rate, 1, &start, &end, &out) ? NULL : out;
}

locus_tensor *locus_audio_resample(const locus_tensor *x, int64_t from, int64_t to) {
    if (locus_check_tensor(x, "resample", "x")) return NULL;
    if (x->type != LOCUS_F32 || x->ndim != 2 || !locus_tensor_is_contiguous(x))
        return locus_fail_null("resample: x must be contiguous f32 [channels, samples], got %s", locus_tensor_describe(x));
    if (from < 1 || to < 1 || from > MAX_RATE || to > MAX_RATE)
        return locus_fail_null("resample: bad rates %lld -> %lld", (long long)from, (long long)to);
    if (from == to) return locus_clone(x);
    int64_t ch = x->sizes[0], n = x->sizes[1], target = locus_audio_resampled_length(n, from, to);
    resampler r;
    if (resampler_init(&r, from, to)) return NULL;
    int64_t shape[2] = {ch, target}, first = 0, last = 0;
    locus_tensor *out = locus_tensor_new(LOCUS_F32, 2, shape);
    if (out && target > 0) {
        span_inputs(&r, 0, target, &first, &last);
        float *xd = calloc((size_t)(last - first) * (size_t)ch, sizeof(float)); /* x with the zero padding */
        if (!xd) {
            locus_tensor_free(out);
            out = locus_fail_null("resample: out of memory");
        } else {
            const float *src = locus_tensor_data(x);
            for (int64_t c = 0; c < ch; c++)
                for (int64_t i = 0; i < n; i++) xd[c * (last - first) + (i - first)] = src[c * n + i];
            if (resample_span(&r, xd, ch, last - first, first, 0, target, locus_tensor_data(out))) {
                locus_tensor_free(out);
                out = NULL;
            }
            free(xd);
        }
    }
    free(r.kernel);
    return out;
}

/* ---- torchaudio.compliance.kaldi.fbank ------------------------------------------------------------ */

enum { FRAME = 400, SHIFT = 160, NFFT = 512, NBINS = NFFT / 2 + 1 };

/* Per-call constants: the Hann window, the FFT's twiddles, and each mel bank as its nonzero stretch
 * of FFT bins (a bank spans a few bins, so the mel product skips the zeros). */
typedef struct fbank_tables {
    double window[FRAME];
    double cos_t[NFFT / 2], sin_t[NFFT / 2]; /* e^{-2 pi i k / NFFT} */
    int32_t mel_bins;
    int32_t *lo, *hi;                        /* [mel_bins]: bins [lo, hi) are nonzero */
    double *weights;                         /* [mel_bins, NBINS] */
} fbank_tables;

/* In-place radix-2 FFT of NFFT complex values. */
static void fft(const fbank_tables *t, double *re, double *im) {
    for (int i = 1, j = 0; i < NFFT; i++) {
        int bit = NFFT >> 1;
        for (; j & bit; bit >>= 1) j ^= bit;
        j ^= bit;
        if (i < j) {
            double x = re[i];
            re[i] = re[j];
            re[j] = x;
            x = im[i];
            im[i] = im[j];
            im[j] = x;
        }
    }
    for (int len = 2; len <= NFFT; len <<= 1) {
        int step = NFFT / len;
        for (int i = 0; i < NFFT; i += len)
            for (int k = 0; k < len / 2; k++) {
                double wr = t->cos_t[k * step], wi = t->sin_t[k * step];
                double ur = re[i + k], ui = im[i + k];
                double vr = re[i + k + len / 2] * wr - im[i + k + len / 2] * wi;
                double vi = re[i + k + len / 2] * wi + im[i + k + len / 2] * wr;
                re[i + k] = ur + vr, im[i + k] = ui + vi;
                re[i + k + len / 2] = ur - vr, im[i + k + len / 2] = ui - vi;
            }
    }
}

static double mel(double f) { return 1127.0 * log(1.0 + f / 700.0); }

static void free_tables(fbank_tables *t) {
    free(t->lo), free(t->hi), free(t->weights);
}

static int make_tables(fbank_tables *t, int64_t sample_rate, int32_t mel_bins) {
    for (int i = 0; i < FRAME; i++) t->window[i] = 0.5 - 0.5 * cos(2 * M_PI * i / (FRAME - 1)); /* Hann, symmetric */
    for (int k = 0; k < NFFT / 2; k++) t->cos_t[k] = cos(-2 * M_PI * k / NFFT), t->sin_t[k] = sin(-2 * M_PI * k / NFFT);
    t->mel_bins = mel_bins;
    t->lo = calloc((size_t)mel_bins, sizeof(int32_t));
    t->hi = calloc((size_t)mel_bins, sizeof(int32_t));
    t->weights = calloc((size_t)mel_bins * NBINS, sizeof(double));
    if (!t->lo || !t->hi || !t->weights) {
        free_tables(t);
        return locus_fail("fbank: out of memory");
    }
    /* triangular banks over the 256 FFT bins between 20 Hz and Nyquist (the 257th bin gets 0) */
    double lo = mel(20.0), hi = mel(sample_rate / 2.0), delta = (hi - lo) / (mel_bins + 1);
    for (int b = 0; b < mel_bins; b++) {
        double left = lo + b * delta, center = left + delta, right = center + delta;
        t->lo[b] = NBINS, t->hi[b] = 0;
        for (int k = 0; k < NFFT / 2; k++) {
            double m = mel((double)sample_rate / NFFT * k);
            double up = (m - left) / (center - left), down = (right - m) / (right - center);
            double v = up < down ? up : down;
            if (v <= 0) continue;
            t->weights[b * NBINS + k] = v;
            if (k < t->lo[b]) t->lo[b] = k;
            t->hi[b] = k + 1;
        }
    }
    return 0;
}

int locus_audio_fbank(locus_tensor *out, const locus_tensor *wave, int64_t sample_rate, int32_t mel_bins) {
    if (locus_check_tensor(wave, "fbank", "waveform")) return -1;
    if (wave->type != LOCUS_F32 || wave->ndim != 1 || !locus_tensor_is_contiguous(wave))
        return locus_fail("fbank: the waveform must be contiguous f32 [samples], got %s", locus_tensor_describe(wave));
    if (sample_rate != 16000) return locus_fail("fbank: locus's filter banks are for 16 kHz (resample first), got %lld", (long long)sample_rate);
    int64_t n = wave->sizes[0], frames = n < FRAME ? 0 : 1 + (n - FRAME) / SHIFT;
    int64_t shape[2] = {frames, mel_bins};
    if (mel_bins < 1 || mel_bins > 512) return locus_fail("fbank: %d mel bins", mel_bins);
    if (locus_check_out(out, "fbank", 2, shape)) return -1;
    if (frames == 0) return 0;
    fbank_tables t;
    if (make_tables(&t, sample_rate, mel_bins)) return -1;
    const float *x = locus_tensor_data(wave);
    float *y = locus_tensor_data(out);
#pragma omp parallel for schedule(static)
    for (int64_t f = 0; f < frames; f++) {
        double re[NFFT], im[NFFT], frame[FRAME], power[NBINS];
        double mean = 0;
        for (int i = 0; i < FRAME; i++) mean += frame[i] = x[f * SHIFT + i];
        mean /= FRAME;
        for (int i = 0; i < FRAME; i++) frame[i] -= mean;                     /* DC removal */
        for (int i = FRAME - 1; i > 0; i--) frame[i] -= 0.97 * frame[i - 1]; /* pre-emphasis; */
        frame[0] -= 0.97 * frame[0];                                          /* Kaldi repeats x[0] */
        for (int i = 0; i < NFFT; i++) re[i] = i < FRAME ? frame[i] * t.window[i] : 0, im[i] = 0;
        fft(&t, re, im);
        for (int k = 0; k < NBINS; k++) power[k] = re[k] * re[k] + im[k] * im[k];
        for (int b = 0; b < mel_bins; b++) {
            double e = 0;
            for (int k = t.lo[b]; k < t.hi[b]; k++) e += power[k] * t.weights[b * NBINS + k];
            y[f * mel_bins + b] = (float)log(e > FLT_EPSILON ? e : FLT_EPSILON);
        }
    }
    free_tables(&t);
    return 0;
}

/* ---- clips, as pytorchvideo's ConstantClipsPerVideoSampler places them --------------------------- */

/* x = m 2^e exactly, m an integer */
static void split_double(double x, int64_t *m, int *e) {
    int e2;
    double f = frexp(x, &e2);
    *m = (int64_t)ldexp(f, 53);
    *e = e2 - 53;
}

/* The sampler's times are Fractions built from Python floats, and the reference slices
 * waveform[int(t0 * rate) : int(t1 * rate)]; the floors are taken here on the exact rationals, as
 * Python takes them, because the same floors taken on double products differ from them for many
 * lengths (34058 samples, for one). */
int locus_audio_clip_span(int64_t samples, int64_t rate, double clip_seconds, int64_t index, int64_t clips, int64_t *start, int64_t *end) {
    if (!start || !end) return locus_fail("audio clips: NULL argument");
    if (samples < 0 || rate < 1 || rate > MAX_RATE || !(clip_seconds > 0 && clip_seconds <= 3600) || clips < 1 || clips > 1000 || index < 0 || index >= clips)
        return locus_fail("audio clips: bad arguments (%lld samples at %lld Hz, %g s clips, clip %lld of %lld)", (long long)samples, (long long)rate,
                         clip_seconds, (long long)index, (long long)clips);
    double duration = (double)samples / (double)rate;
    double max_start = duration - clip_seconds > 0 ? duration - clip_seconds : 0;
    int64_t ma = 0, mc;
    int ea = 0, ec;
    split_double(clip_seconds, &mc, &ec);
    if (max_start > 0) split_double(max_start, &ma, &ea);
    else ea = ec; /* ma = 0: no scale of its own */
    int e = ea < ec ? ea : ec;
    if (e > 0) e = 0;
    if (-e > 100 || ea - e > 40 || ec - e > 40) /* keeps every product below 2^127 */
        return locus_fail("audio clips: %g s clips over %g s of audio are beyond exact placement", clip_seconds, duration);
    /* t0 = index * max_start / clips, t1 = t0 + clip_seconds, both over the denominator clips 2^-e */
    __int128 den = (__int128)clips << -e;
    __int128 n0 = ((__int128)index * ma) << (ea - e);
    __int128 n1 = n0 + (((__int128)clips * mc) << (ec - e));
    *start = (int64_t)(n0 * rate / den);
    *end = (int64_t)(n1 * rate / den);
    return 0;
}
