/* zip.c — reads a zip archive's central directory, including ZIP64 records (PyTorch writes those
 * for checkpoints over 4 GB).
 * Written by hand rather than through libzip because the loader needs the byte offset of each
 * stored entry's data, to map tensors in place; zip libraries only offer to copy entries out. */
#include "zip.h"

#include "../core/internal.h"

#include <stdlib.h>

/* Reads the ZIP64 extra field for the members that overflowed their 32-bit slots. */
static int zip64_extra(const unsigned char *extra, uint64_t len, uint64_t *usize, uint64_t *csize, uint64_t *offset) {
    for (uint64_t p = 0; p + 4 <= len;) {
        uint64_t id = locus_read_le(extra + p, 2), sz = locus_read_le(extra + p + 2, 2);
        if (p + 4 + sz > len) return -1;
        if (id == 1) {
            const unsigned char *f = extra + p + 4;
            uint64_t used = 0;
            uint64_t *fields[3] = {usize, csize, offset};
            for (int i = 0; i < 3; i++) {
                if (*fields[i] != 0xffffffffu) continue;
                if (used + 8 > sz) return -1;
                *fields[i] = locus_read_le(f + used, 8);
                used += 8;
            }
            return 0;
        }
        p += 4 + sz;
    }
    return 0;
}

int locus_zip_entries(const unsigned char *buf, uint64_t size, const char *path, zip_entry **entries, int64_t *count) {
    *entries = NULL;
    *count = 0;
    if (size < 22) return locus_fail("%s: truncated zip archive (no end-of-directory record)", path);
    /* the end-of-central-directory record sits in the last 22 + 65535 bytes */
    int64_t eocd = -1;
    for (int64_t p = (int64_t)size - 22; p >= 0 && p >= (int64_t)size - 22 - 65535; p--)
        if (locus_read_le(buf + p, 4) == 0x06054b50) {
            eocd = p;
            break;
        }
    if (eocd < 0) return locus_fail("%s: truncated or corrupt zip archive (no end-of-directory record)", path);
    uint64_t n = locus_read_le(buf + eocd + 10, 2), cd_size = locus_read_le(buf + eocd + 12, 4), cd_off = locus_read_le(buf + eocd + 16, 4);
    if (n == 0xffff || cd_size == 0xffffffffu || cd_off == 0xffffffffu) {
        if (eocd < 20 || locus_read_le(buf + eocd - 20, 4) != 0x07064b50) return locus_fail("%s: corrupt ZIP64 locator", path);
        uint64_t z = locus_read_le(buf + eocd - 12, 8);
        if (size < 56 || z > size - 56 || locus_read_le(buf + z, 4) != 0x06064b50)
            return locus_fail("%s: corrupt ZIP64 directory record", path);
        n = locus_read_le(buf + z + 32, 8);
        cd_size = locus_read_le(buf + z + 40, 8);
        cd_off = locus_read_le(buf + z + 48, 8);
    }
    if (cd_off > size || cd_size > size - cd_off || n > cd_size / 46)
        return locus_fail("%s: zip directory (%llu entries at %llu) lies outside the file", path, (unsigned long long)n,
                         (unsigned long long)cd_off);
    zip_entry *list = calloc(n ? n : 1, sizeof *list);
    if (!list) return locus_fail("%s: out of memory", path);
    uint64_t p = cd_off, end = cd_off + cd_size;
    for (uint64_t i = 0; i < n; i++) {
        if (p + 46 > end || locus_read_le(buf + p, 4) != 0x02014b50) goto corrupt;
        uint64_t method = locus_read_le(buf + p + 10, 2), csize = locus_read_le(buf + p + 20, 4), usize = locus_read_le(buf + p + 24, 4);
        uint64_t name_len = locus_read_le(buf + p + 28, 2), extra_len = locus_read_le(buf + p + 30, 2), comment_len = locus_read_le(buf + p + 32, 2);
        uint64_t local = locus_read_le(buf + p + 42, 4);
        if (p + 46 + name_len + extra_len + comment_len > end) goto corrupt;
        if (zip64_extra(buf + p + 46 + name_len, extra_len, &usize, &csize, &local)) goto corrupt;
        if (size < 30 || local > size - 30 || locus_read_le(buf + local, 4) != 0x04034b50) goto corrupt;
        uint64_t data = local + 30 + locus_read_le(buf + local + 26, 2) + locus_read_le(buf + local + 28, 2);
        if (data > size || csize > size - data) {
            free(list);
            return locus_fail("%s: zip entry '%.*s' runs past the end of the file (truncated?)", path, (int)name_len,
                             (const char *)buf + p + 46);
        }
        list[i] = (zip_entry){(const char *)buf + p + 46, name_len, (int)method, data, csize};
        p += 46 + name_len + extra_len + comment_len;
    }
    *entries = list;
    *count = (int64_t)n;
    return 0;
corrupt:
    free(list);
    return locus_fail("%s: corrupt zip directory", path);
}
