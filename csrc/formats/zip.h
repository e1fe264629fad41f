/* zip.h — the directory of a zip archive held in memory (PyTorch checkpoints are zips). */
#ifndef LOCUS_ZIP_H
#define LOCUS_ZIP_H

#include <stddef.h>
#include <stdint.h>

typedef struct zip_entry {
    const char *name; /* points into the archive; not NUL-terminated */
    size_t name_len;
    int method;       /* 0 = stored; anything else is compressed */
    uint64_t offset;  /* where the entry's data starts in the archive */
    uint64_t size;    /* compressed size (= size for stored entries) */
} zip_entry;

/* Lists the entries of the archive in buf[0..size). *entries is malloc'd. */
int locus_zip_entries(const unsigned char *buf, uint64_t size, const char *path, zip_entry **entries, int64_t *count);

#endif
