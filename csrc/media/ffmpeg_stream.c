/* ffmpeg_stream.c — see ffmpeg_stream.h. */
#include "ffmpeg_stream.h"

#include "../core/internal.h"

void locus_ff_close(locus_ff_stream *s) {
    av_frame_free(&s->frame);
    av_packet_free(&s->pkt);
    avcodec_free_context(&s->dec);
    avformat_close_input(&s->fmt);
}

int locus_ff_open(locus_ff_stream *s, const char *path, enum AVMediaType type, bool decode) {
    memset(s, 0, sizeof *s);
    av_log_set_level(AV_LOG_QUIET); /* problems reach the caller as locus errors, not as stderr noise */
    bool video = type == AVMEDIA_TYPE_VIDEO;
    const char *what = video ? "video" : "sound";
    char err[128];
    int e = avformat_open_input(&s->fmt, path, NULL, NULL);
    if (e >= 0) e = avformat_find_stream_info(s->fmt, NULL);
    if (e < 0) {
        av_strerror(e, err, sizeof err);
        locus_ff_close(s);
        return locus_fail("%s: cannot read as %s: %s", path, video ? "a video" : "audio", err);
    }
    const AVCodec *codec = NULL;
    s->index = av_find_best_stream(s->fmt, type, -1, -1, &codec, 0);
    if (s->index < 0) {
        locus_ff_close(s);
        return locus_fail("%s: has no %s", path, video ? "video stream (audio only?)" : "sound track");
    }
    s->st = s->fmt->streams[s->index];
    if (!decode) return 0;
    if (!codec) {
        locus_ff_close(s);
        return locus_fail("%s: no decoder for its %s's codec", path, what);
    }
    s->dec = avcodec_alloc_context3(codec);
    s->pkt = av_packet_alloc();
    s->frame = av_frame_alloc();
    if (!s->dec || !s->pkt || !s->frame || avcodec_parameters_to_context(s->dec, s->st->codecpar) < 0 ||
        avcodec_open2(s->dec, codec, NULL) < 0) {
        locus_ff_close(s);
        return locus_fail("%s: cannot start the %s decoder", path, what);
    }
    return 0;
}

int locus_ff_next_frame(locus_ff_stream *s) {
    for (;;) {
        int e = avcodec_receive_frame(s->dec, s->frame);
        if (e == AVERROR_EOF && s->read_error) return s->read_error;
        if (e != AVERROR(EAGAIN)) return e;
        e = av_read_frame(s->fmt, s->pkt);
        if (e < 0) { /* the end, or a read error: drain what the decoder holds */
            if (e != AVERROR_EOF) s->read_error = e;
            avcodec_send_packet(s->dec, NULL);
            continue;
        }
        if (s->pkt->stream_index == s->index) {
            e = avcodec_send_packet(s->dec, s->pkt);
            av_packet_unref(s->pkt);
            if (e < 0 && e != AVERROR(EAGAIN) && e != AVERROR_INVALIDDATA) return e;
        } else {
            av_packet_unref(s->pkt);
        }
    }
}
