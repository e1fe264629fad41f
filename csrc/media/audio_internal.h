/* audio_internal.h — what audio.c needs from audio_ffmpeg.c. */
#pragma once
#include "../locus.h"

/* locus_audio_probe for files libsndfile does not read: decodes once to count the samples. */
int locus_ff_audio_probe(const char *path, locus_audio_info *info);
/* Copies input samples [first[s], first[s] + count[s]) of every channel into bufs[s] (planar
 * [channels, count[s]], zeroed by the caller; samples past the end stay 0), in one decoding pass. */
int locus_ff_audio_read_spans(const char *path, const locus_audio_info *info, int n, const int64_t *first, const int64_t *count, float **bufs);
