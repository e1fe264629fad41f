/* ffmpeg_stream.h — one stream of a media file through FFmpeg, as video.c and audio_ffmpeg.c read
 * it: open the container, pick the best stream of a type, start its decoder, pull decoded frames. */
#pragma once
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <stdbool.h>

typedef struct {
    AVFormatContext *fmt;
    AVCodecContext *dec; /* NULL when opened without a decoder (probing) */
    AVStream *st;
    int index;
    AVPacket *pkt;
    AVFrame *frame;
    int read_error; /* the error that ended reading early, if any (0: none or end of file) */
} locus_ff_stream;

/* Opens `path` and its best stream of `type` (AVMEDIA_TYPE_VIDEO or AVMEDIA_TYPE_AUDIO), with its
 * decoder when `decode`. 0, or -1 with an error naming the file and what is missing. */
int locus_ff_open(locus_ff_stream *s, const char *path, enum AVMediaType type, bool decode);
void locus_ff_close(locus_ff_stream *s);
/* The next decoded frame into s->frame: 0, AVERROR_EOF once every frame is out, or a negative
 * FFmpeg error. Packets the decoder calls invalid are skipped; a read error ends the stream like
 * its end does (the decoder is drained first), and is then returned instead of AVERROR_EOF. */
int locus_ff_next_frame(locus_ff_stream *s);
