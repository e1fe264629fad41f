/* audio_ffmpeg.c — the formats libsndfile does not read (AAC/M4A, Opus in WebM, a video's sound
 * track, ...), decoded with FFmpeg. Compressed streams do not seek to an exact sample, so both
 * entry points decode from the start: one pass counts the samples, one pass copies the wanted
 * stretches out and keeps nothing else, so memory stays bounded by the stretches. */
#include "../core/internal.h"
#include "audio_internal.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    AVFormatContext *fmt;
    AVCodecContext *dec;
    int index;
    AVPacket *pkt;
    AVFrame *frame;
} decoder;

static void close_decoder(decoder *d) {
    av_frame_free(&d->frame);
    av_packet_free(&d->pkt);
    avcodec_free_context(&d->dec);
    avformat_close_input(&d->fmt);
}

static int open_decoder(decoder *d, const char *path) {
    memset(d, 0, sizeof *d);
    av_log_set_level(AV_LOG_QUIET); /* problems reach the caller as locus errors */
    char err[128];
    int e = avformat_open_input(&d->fmt, path, NULL, NULL);
    if (e >= 0) e = avformat_find_stream_info(d->fmt, NULL);
    if (e < 0) {
        av_strerror(e, err, sizeof err);
        close_decoder(d);
        return locus_fail("%s: cannot read as audio: %s", path, err);
    }
    const AVCodec *codec = NULL;
    d->index = av_find_best_stream(d->fmt, AVMEDIA_TYPE_AUDIO, -1, -1, &codec, 0);
    if (d->index < 0 || !codec) {
        close_decoder(d);
        return locus_fail("%s: %s", path, d->index < 0 ? "has no sound track" : "no decoder for its sound's codec");
    }
    d->dec = avcodec_alloc_context3(codec);
    d->pkt = av_packet_alloc();
    d->frame = av_frame_alloc();
    if (!d->dec || !d->pkt || !d->frame || avcodec_parameters_to_context(d->dec, d->fmt->streams[d->index]->codecpar) < 0 ||
        avcodec_open2(d->dec, codec, NULL) < 0) {
        close_decoder(d);
        return locus_fail("%s: cannot start the audio decoder", path);
    }
    return 0;
}

/* The next decoded frame, AVERROR_EOF at the end, or another negative code for broken data. */
static int next_frame(decoder *d) {
    for (;;) {
        int e = avcodec_receive_frame(d->dec, d->frame);
        if (e != AVERROR(EAGAIN)) return e;
        e = av_read_frame(d->fmt, d->pkt);
        if (e == AVERROR_EOF) {
            avcodec_send_packet(d->dec, NULL); /* drain */
            continue;
        }
        if (e < 0) return e;
        if (d->pkt->stream_index == d->index) {
            e = avcodec_send_packet(d->dec, d->pkt);
            av_packet_unref(d->pkt);
            if (e < 0 && e != AVERROR(EAGAIN) && e != AVERROR_INVALIDDATA) return e;
        } else {
            av_packet_unref(d->pkt);
        }
    }
}

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
    decoder d;
    if (open_decoder(&d, path)) return -1;
    int channels = d.dec->ch_layout.nb_channels, rate = d.dec->sample_rate;
    int64_t frames = 0;
    int e;
    while ((e = next_frame(&d)) >= 0) {
        if (d.frame->ch_layout.nb_channels != channels || d.frame->sample_rate != rate) {
            close_decoder(&d);
            return locus_fail("%s: the sound's channels or rate change mid-stream", path);
        }
        frames += d.frame->nb_samples;
    }
    close_decoder(&d);
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
    decoder d;
    if (open_decoder(&d, path)) return -1;
    int ch = info->channels, e;
    int64_t at = 0, last = 0; /* at: the first sample of the current frame; last: where the spans end */
    for (int s = 0; s < n; s++)
        if (first[s] + count[s] > last) last = first[s] + count[s];
    while (at < last && (e = next_frame(&d)) >= 0) {
        int64_t len = d.frame->nb_samples;
        if (d.frame->ch_layout.nb_channels != ch) {
            close_decoder(&d);
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
    close_decoder(&d);
    if (at < last && at < info->frames)
        return locus_fail("%s: truncated or corrupt sound (decoding stopped at sample %lld of %lld)", path, (long long)at, (long long)info->frames);
    return 0;
}
