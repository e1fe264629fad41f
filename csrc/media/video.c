/* video.c — frames out of any container and codec FFmpeg reads (libavformat, libavcodec,
 * libswscale): the frame count and duration, then chosen frames as RGB, turned upright by the
 * stream's rotation and resized with Pillow's bicubic (image.c).
 *
 * Frames are resized as decord (which GroundingGPT reads videos with) and the ffmpeg CLI resize:
 * one swscale pass, bicubic, from the stream's pixel format straight to RGB at the target size,
 * with the frame's colour matrix and range. Rotated streams are turned upright at full size first and then resized with
 * Pillow's bicubic (decord ignores rotation; locus honours it).
 *
 * Frames are numbered in presentation order. For the frames asked for (ascending), the decoder
 * seeks to the keyframe before a frame when it is far ahead and decodes forward from there, so
 * picking 64 frames from a long file decodes a few GOPs each, not the whole file. A frame's number
 * is its presentation time over the stream's frame duration. */
#include "../core/internal.h"
#include "ffmpeg_stream.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* Seconds per frame from the stream's average (or real) frame rate. */
static double frame_seconds(const AVStream *st) {
    AVRational r = st->avg_frame_rate.num > 0 ? st->avg_frame_rate : st->r_frame_rate;
    return r.num > 0 && r.den > 0 ? (double)r.den / r.num : 0;
}

static int rotation_of(const AVStream *st) {
    size_t size = 0;
    const uint8_t *m = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, &size);
    if (!m || size < 9 * 4) return 0;
    double deg = -av_display_rotation_get((const int32_t *)m); /* clockwise degrees to turn it upright */
    int r = (int)lround(deg / 90.0) * 90 % 360;
    return r < 0 ? r + 360 : r;
}

int locus_video_probe(const char *path, locus_video_info *info, int count) {
    if (!path || !info) return locus_fail("video: NULL argument");
    locus_ff_stream r;
    if (locus_ff_open(&r, path, AVMEDIA_TYPE_VIDEO, false)) return -1;
    memset(info, 0, sizeof *info);
    info->width = r.st->codecpar->width;
    info->height = r.st->codecpar->height;
    info->rotation = rotation_of(r.st);
    double fs = frame_seconds(r.st);
    info->fps = fs > 0 ? 1.0 / fs : 0;
    if (r.st->duration != AV_NOPTS_VALUE && r.st->duration > 0)
        info->duration = r.st->duration * av_q2d(r.st->time_base);
    else if (r.fmt->duration > 0)
        info->duration = (double)r.fmt->duration / AV_TIME_BASE;
    info->frames = r.st->nb_frames;
    if (info->frames <= 0 || count) { /* not stated (or not trusted): count the stream's packets, no decoding */
        AVPacket *pkt = av_packet_alloc();
        int64_t n = 0;
        while (pkt && av_read_frame(r.fmt, pkt) >= 0) {
            if (pkt->stream_index == r.index) n++;
            av_packet_unref(pkt);
        }
        av_packet_free(&pkt);
        info->frames = n;
        info->counted = 1;
    }
    locus_ff_close(&r);
    if (info->frames <= 0 || info->width <= 0 || info->height <= 0)
        return locus_fail("%s: a video stream without frames (empty or truncated file)", path);
    if (info->duration <= 0 && info->fps > 0) info->duration = info->frames / info->fps;
    return 0;
}

/* The frame's number from its presentation time. */
static int64_t frame_number(const locus_ff_stream *r, const AVFrame *f, double fs) {
    int64_t pts = f->best_effort_timestamp;
    if (pts == AV_NOPTS_VALUE || fs <= 0) return -1;
    int64_t start = r->st->start_time != AV_NOPTS_VALUE ? r->st->start_time : 0;
    return llround((pts - start) * av_q2d(r->st->time_base) / fs);
}

/* Row stride of the RGB conversion buffer: 64-byte aligned, as FFmpeg's own frames are (swscale
 * treats the last pixels of a row differently when the destination rows are not aligned). */
static int rgb_stride(int w) { return (w * 3 + 63) / 64 * 64; }

/* RGB of frame f resized to w x h (swscale bicubic, one step from the stream's pixel format, as the
 * ffmpeg CLI's scale filter and decord do) and turned upright, into dst (rows packed). */
static int frame_rgb(AVFrame *f, struct SwsContext **sws, uint8_t *rgb, int rotation, int w, int h, uint8_t *dst) {
    *sws = sws_getCachedContext(*sws, f->width, f->height, f->format, w, h, AV_PIX_FMT_RGB24, SWS_BICUBIC, NULL, NULL, NULL);
    if (!*sws) return -1;
    /* the frame's own matrix and range, as the ffmpeg CLI's scale filter takes them */
    int cs = f->colorspace == AVCOL_SPC_BT709 ? SWS_CS_ITU709 : SWS_CS_DEFAULT;
    sws_setColorspaceDetails(*sws, sws_getCoefficients(cs), f->color_range == AVCOL_RANGE_JPEG, sws_getCoefficients(SWS_CS_DEFAULT),
                             1, 0, 1 << 16, 1 << 16);
    int stride = rgb_stride(w);
    uint8_t *planes[4] = {rgb};
    int strides[4] = {stride};
    sws_scale(*sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, planes, strides);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int ox = x, oy = y, ow = rotation % 180 ? h : w;
            if (rotation == 90) ox = h - 1 - y, oy = x;          /* clockwise */
            else if (rotation == 270) ox = y, oy = w - 1 - x;
            else if (rotation == 180) ox = w - 1 - x, oy = h - 1 - y;
            memcpy(dst + ((size_t)oy * ow + ox) * 3, rgb + (size_t)y * stride + (size_t)x * 3, 3);
        }
    return 0;
}

locus_tensor *locus_video_frames(const char *path, const int64_t *indices, int64_t n, int32_t out_w, int32_t out_h,
                                 int64_t *frames_held) {
    if (frames_held) *frames_held = -1;
    if (!path || (n > 0 && !indices)) return locus_fail_null("video: NULL argument");
    if (n < 1 || out_w < 1 || out_h < 1) return locus_fail_null("video: need at least one frame and a positive size");
    for (int64_t i = 0; i < n; i++)
        if (indices[i] < 0 || (i && indices[i] < indices[i - 1]))
            return locus_fail_null("video: frame indices must be non-negative and ascending");
    locus_ff_stream r;
    if (locus_ff_open(&r, path, AVMEDIA_TYPE_VIDEO, true)) return NULL;
    int rotation = rotation_of(r.st);
    int w = r.dec->width, h = r.dec->height, uw = rotation % 180 ? h : w, uh = rotation % 180 ? w : h;
    double fs = frame_seconds(r.st);
    int64_t shape[4] = {n, out_h, out_w, 3}, one[3] = {uh, uw, 3};
    locus_tensor *out = locus_tensor_empty(LOCUS_U8, 4, shape), *upright = locus_tensor_empty(LOCUS_U8, 3, one);
    uint8_t *rgb = av_malloc((size_t)rgb_stride(w > out_w ? w : out_w) * (h > out_h ? h : out_h) + 64);
    /* unrotated streams are resized in the conversion itself, as decord does */
    bool pre_scale = rotation == 0 && (out_w != w || out_h != h);
    if (pre_scale) {
        locus_tensor_free(upright);
        int64_t small[3] = {out_h, out_w, 3};
        upright = locus_tensor_empty(LOCUS_U8, 3, small);
    }
    struct SwsContext *sws = NULL;
    int64_t have = -1; /* the number of the frame just decoded */
    int64_t counted = -1; /* frames decoded since the start, when timestamps are missing */
    bool ok = out && upright && rgb;
    for (int64_t i = 0; ok && i < n; i++) {
        int64_t want = indices[i];
        /* far ahead: seek to the keyframe before it instead of decoding everything between */
        if (fs > 0 && want > have + 64 && counted < 0) {
            int64_t start = r.st->start_time != AV_NOPTS_VALUE ? r.st->start_time : 0;
            int64_t ts = start + (int64_t)llround(want * fs / av_q2d(r.st->time_base));
            if (av_seek_frame(r.fmt, r.index, ts, AVSEEK_FLAG_BACKWARD) >= 0) {
                avcodec_flush_buffers(r.dec);
                have = -1;
            }
        }
        bool found = have == want; /* asked for twice: still in r.frame */
        while (!found) {
            int e = locus_ff_next_frame(&r);
            if (e < 0) break;
            int64_t num = frame_number(&r, r.frame, fs);
            if (num < 0) num = ++counted; /* no timestamps: count from the start */
            have = num;
            if (num >= want) found = true;
        }
        if (!found) {
            locus_fail("%s: frame %lld is past the end of the video (decoding stopped at frame %lld)", path, (long long)want,
                      (long long)have);
            if (frames_held) *frames_held = have + 1;
            ok = false;
            break;
        }
        if (r.frame->width != w || r.frame->height != h) {
            locus_fail("%s: the frame size changes mid-stream (%dx%d, then %dx%d)", path, w, h, r.frame->width, r.frame->height);
            ok = false;
            break;
        }
        int64_t slot_shape[3] = {out_h, out_w, 3};
        locus_tensor *slot = locus_tensor_from_storage(out->storage, LOCUS_U8, i * out_h * out_w * 3, 3, slot_shape, NULL);
        ok = slot && frame_rgb(r.frame, &sws, rgb, rotation, pre_scale ? out_w : w, pre_scale ? out_h : h,
                               locus_tensor_data(upright)) == 0 &&
             ((pre_scale || (uw == out_w && uh == out_h)) ? locus_copy(slot, upright) == 0 : locus_image_resize(slot, upright) == 0);
        locus_tensor_free(slot);
        if (!ok && !locus_last_error()[0]) locus_fail("%s: cannot convert a frame to RGB", path);
    }
    sws_freeContext(sws);
    av_free(rgb);
    locus_tensor_free(upright);
    locus_ff_close(&r);
    if (!ok) {
        locus_tensor_free(out);
        return NULL;
    }
    return out;
}
