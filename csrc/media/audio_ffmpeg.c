/* audio_ffmpeg.c — the formats libsndfile does not read (AAC/M4A, Opus in WebM, a video's sound
 * track, ...), decoded with FFmpeg. Compressed streams do not seek to an exact sample, so both
 * entry points decode from the start: one pass counts the samples, one pass copies the wanted
 * stretches out and keeps nothing else, so memory stays bounded by the stretches. */
#include "../core/internal.h"
#include "audio_internal.h"
#include "ffmpeg_stream.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Sample i of channel c of the frame, as torchaudio scales it: integers to [-1, 1). */
static float sample_at(const AVFrame *f, int c, int64_t i, int channels) {
    enum AVSampleFormat fmt = f->format;
    int planar = av_sample_fmt_is_planar(fmt);
    const uint8_t *p = f->extended_data[planar ? c : 0];
    int64_t k = planar ? i : i * channels + c;
    switch (av_get_packed_sample_fmt(fmt)) {
    case AV_SAMPLE_FMT_U8: return ((int)p[k] - 128) / 128.0f;
    case AV_SAMPLE_FMT_S16: return ((const int16_t *)p)[k] / 32768.0f;
    case AV_SAMPLE_FMT_S32: return (float)(((const int32_t *)p)[k] / 2147483648.0);
    case AV_SAMPLE_FMT_S64: return (float)(((const int64_t *)p)[k] / 9223372036854775808.0);
    case AV_SAMPLE_FMT_FLT: return ((const float *)p)[k];
    case AV_SAMPLE_FMT_DBL: return (float)((const double *)p)[k];
    default: return 0;
    }
}

int locus_ff_audio_probe(const char *path, locus_audio_info *info) {
    locus_ff_stream d;
    if (locus_ff_open(&d, path, AVMEDIA_TYPE_AUDIO, true)) return -1;
    int channels = d.dec->ch_layout.nb_channels, rate = d.dec->sample_rate;
    int64_t frames = 0;
    int e;
    while ((e = locus_ff_next_frame(&d)) >= 0) {
        if (d.frame->ch_layout.nb_channels != channels || d.frame->sample_rate != rate) {
            locus_ff_close(&d);
            return locus_fail("%s: the sound's channels or rate change mid-stream", path);
        }
        frames += d.frame->nb_samples;
    }
    locus_ff_close(&d);
    if (e != AVERROR_EOF) {
        char err[128];
        av_strerror(e, err, sizeof err);
        return locus_fail("%s: corrupt sound after %lld samples: %s", path, (long long)frames, err);
    }
    info->frames = frames;
    info->sample_rate = rate;
    info->channels = channels;
    info->decoder = LOCUS_AUDIO_FFMPEG;
    return 0;
}

int locus_ff_audio_read_spans(const char *path, const locus_audio_info *info, int n, const int64_t *first, const int64_t *count, float **bufs) {
    locus_ff_stream d;
    if (locus_ff_open(&d, path, AVMEDIA_TYPE_AUDIO, true)) return -1;
    int ch = info->channels, e;
    int64_t at = 0, last = 0; /* at: the first sample of the current frame; last: where the spans end */
    for (int s = 0; s < n; s++)
        if (first[s] + count[s] > last) last = first[s] + count[s];
    while (at < last && (e = locus_ff_next_frame(&d)) >= 0) {
        int64_t len = d.frame->nb_samples;
        if (d.frame->ch_layout.nb_channels != ch) {
            locus_ff_close(&d);
            return locus_fail("%s: the sound's channel count changes mid-stream", path);
        }
        for (int s = 0; s < n; s++) { /* the overlap of [at, at + len) and [first, first + count) */
            int64_t a = at > first[s] ? at : first[s];
            int64_t b = at + len < first[s] + count[s] ? at + len : first[s] + count[s];
            for (int c = 0; c < ch; c++)
                for (int64_t i = a; i < b; i++) {
                    float v = sample_at(d.frame, c, i - at, ch);
                    bufs[s][c * count[s] + (i - first[s])] = isfinite(v) ? v : 0.0f;
                }
        }
        at += len;
    }
    locus_ff_close(&d);
    if (at < last && at < info->frames)
        return locus_fail("%s: truncated or corrupt sound (decoding stopped at sample %lld of %lld)", path, (long long)at, (long long)info->frames);
    return 0;
}
