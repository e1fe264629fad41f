/* image.c — pictures in: decoding, EXIF orientation, and the resampling and normalization
 * GroundingGPT's preprocessing does.
 *
 * JPEGs are decoded by libjpeg-turbo with its defaults (integer IDCT, fancy upsampling), the
 * library and settings Pillow uses, so locus sees the pixels GroundingGPT saw; stb_image's own
 * JPEG decoder differs by up to 3 levels. Everything else (PNG, BMP, GIF's first frame, PNM, TGA,
 * and CMYK JPEGs) goes through stb_image.
 *
 * The resize is Pillow's (libImaging/Resample.c, which GroundingGPT reaches through
 * CLIPImageProcessor), rewritten here because its exact arithmetic is the point: separable
 * convolution with the filter stretched by the scale when shrinking (antialiasing), coefficients
 * normalized in double then rounded to 22-bit fixed point, a horizontal pass over only the rows the
 * vertical pass needs, then the vertical pass, each rounding and clamping to 8 bits. Same input
 * pixels give the same output pixels. */
#include "../core/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include <setjmp.h>
#include <jpeglib.h>
#include <jerror.h> /* needs jpeglib.h first */
#include <stb/stb_image.h> /* Debian's libstb */
#include <stb/stb_image_write.h>
#include <errno.h>
#include <unistd.h>

enum { MAX_SIDE = 32768 }; /* refuse decompression bombs, with locus_image_max_pixels() */

int64_t locus_image_max_pixels(void) {
    static int64_t limit = 0;
    if (limit == 0) {
        const char *env = getenv("LOCUS_MAX_IMAGE_PIXELS");
        long long v = env ? atoll(env) : 0;
        limit = v > 0 ? v : 100 * 1000 * 1000;
    }
    return limit;
}
#define MAX_PIXELS locus_image_max_pixels()

/* ---- EXIF orientation (JPEG APP1) --------------------------------------------------------------- */

static uint32_t rd(const uint8_t *p, int n, bool le) {
    uint32_t v = 0;
    if (le) return (uint32_t)locus_read_le(p, n);
    for (int i = 0; i < n; i++) v = v << 8 | p[i];
    return v;
}

/* The orientation tag (1-8) of a JPEG's EXIF block, or 1 when there is none or it is malformed. */
static int exif_orientation(const uint8_t *d, size_t n) {
    if (n < 4 || d[0] != 0xff || d[1] != 0xd8) return 1;
    size_t p = 2;
    while (p + 4 <= n && d[p] == 0xff) {
        uint8_t marker = d[p + 1];
        size_t len = (size_t)d[p + 2] << 8 | d[p + 3];
        if (marker == 0xda || len < 2 || p + 2 + len > n) break; /* start of scan: no EXIF before it */
        const uint8_t *s = d + p + 4;
        size_t sl = len - 2;
        if (marker == 0xe1 && sl >= 14 && memcmp(s, "Exif\0\0", 6) == 0) {
            const uint8_t *t = s + 6;
            size_t tl = sl - 6;
            bool le = t[0] == 'I';
            if (!(le || t[0] == 'M') || rd(t + 2, 2, le) != 42) return 1;
            uint64_t ifd = rd(t + 4, 4, le); /* 64-bit: offsets near 2^32 must not wrap */
            if (ifd + 2 > tl) return 1;
            uint64_t count = rd(t + ifd, 2, le);
            for (uint64_t i = 0; i < count && ifd + 2 + 12 * (i + 1) <= tl; i++) {
                const uint8_t *e = t + ifd + 2 + 12 * i;
                if (rd(e, 2, le) == 0x0112) {
                    uint32_t v = rd(e + 8, 2, le);
                    return v >= 1 && v <= 8 ? (int)v : 1;
                }
            }
            return 1;
        }
        p += 2 + len;
    }
    return 1;
}

/* Applies an EXIF orientation to an h x w RGB image: the result, w' x h' as *ow, *oh. */
static uint8_t *orient(const uint8_t *src, int w, int h, int o, int *ow, int *oh) {
    bool swap = o >= 5;
    *ow = swap ? h : w;
    *oh = swap ? w : h;
    uint8_t *dst = malloc((size_t)w * h * 3);
    if (!dst) return NULL;
    for (int y = 0; y < *oh; y++)
        for (int x = 0; x < *ow; x++) {
            int sx, sy; /* where output (x, y) comes from */
            switch (o) {
            case 2: sx = w - 1 - x, sy = y; break;              /* mirrored */
            case 3: sx = w - 1 - x, sy = h - 1 - y; break;      /* rotated 180 */
            case 4: sx = x, sy = h - 1 - y; break;              /* mirrored vertically */
            case 5: sx = y, sy = x; break;                      /* transposed */
            case 6: sx = y, sy = h - 1 - x; break;              /* rotated 90 clockwise */
            case 7: sx = w - 1 - y, sy = h - 1 - x; break;      /* transversed */
            case 8: sx = w - 1 - y, sy = x; break;              /* rotated 90 counter-clockwise */
            default: sx = x, sy = y; break;
            }
            memcpy(dst + ((size_t)y * *ow + x) * 3, src + ((size_t)sy * w + sx) * 3, 3);
        }
    return dst;
}

/* A u8 [H, W, 3] tensor of decoded pixels, turned by an EXIF orientation. */
static locus_tensor *rgb_tensor(const uint8_t *px, int w, int h, int o, const char *path) {
    int ow = w, oh = h;
    uint8_t *rot = o != 1 ? orient(px, w, h, o, &ow, &oh) : NULL;
    if (o != 1 && !rot) return locus_fail_null("%s: out of memory", path);
    int64_t shape[3] = {oh, ow, 3};
    locus_tensor *t = locus_tensor_empty(LOCUS_U8, 3, shape);
    if (t) memcpy(locus_tensor_data(t), rot ? rot : px, (size_t)ow * oh * 3);
    free(rot);
    return t;
}

/* ---- JPEG through libjpeg-turbo ------------------------------------------------------------------ */

typedef struct {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
    bool truncated;
    char message[JMSG_LENGTH_MAX];
} jpeg_errors;

static void jpeg_error_exit(j_common_ptr c) {
    jpeg_errors *e = (jpeg_errors *)c->err;
    c->err->format_message(c, e->message);
    longjmp(e->jump, 1);
}

/* A progressive JPEG may repeat scans without end, each a pass over the whole image; libjpeg-turbo
 * stops only when told (djpeg -maxscans, TurboJPEG's TJPARAM_SCANLIMIT of 500).
 * LOCUS_MAX_JPEG_SCANS changes the limit. */
static int max_jpeg_scans(void) {
    static int limit = 0;
    if (limit == 0) {
        const char *env = getenv("LOCUS_MAX_JPEG_SCANS");
        limit = env && atoi(env) > 0 ? atoi(env) : 500;
    }
    return limit;
}

static void jpeg_progress(j_common_ptr c) {
    j_decompress_ptr d = (j_decompress_ptr)c;
    if (d->is_decompressor && d->input_scan_number > max_jpeg_scans()) {
        jpeg_errors *e = (jpeg_errors *)c->err;
        snprintf(e->message, sizeof e->message, "more than %d progressive scans (a decoding bomb? LOCUS_MAX_JPEG_SCANS)",
                 max_jpeg_scans());
        longjmp(e->jump, 1);
    }
}

static void jpeg_warning(j_common_ptr c, int level) {
    /* the data ends (JWRN_JPEG_EOF) or a scan's does (JWRN_HIT_MARKER) before the image: what is
     * missing would be decoded as grey */
    if (level < 0 && (c->err->msg_code == JWRN_JPEG_EOF || c->err->msg_code == JWRN_HIT_MARKER))
        ((jpeg_errors *)c->err)->truncated = true;
}

typedef enum { JPEG_OK, JPEG_NOT_RGB, JPEG_FAILED } jpeg_result;

/* RGB pixels of a JPEG (grey replicated to RGB, as PIL's convert("RGB")); CMYK is left to stb. */
static jpeg_result decode_jpeg(const uint8_t *data, size_t size, const char *path, uint8_t **out, int *w, int *h) {
    struct jpeg_decompress_struct cinfo;
    jpeg_errors err = {0};
    uint8_t *volatile px = NULL;
    cinfo.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = jpeg_error_exit;
    err.mgr.emit_message = jpeg_warning;
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(px);
        locus_fail("%s: corrupt JPEG: %s", path, err.message);
        return JPEG_FAILED;
    }
    jpeg_create_decompress(&cinfo);
    struct jpeg_progress_mgr progress = {.progress_monitor = jpeg_progress};
    cinfo.progress = &progress;
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
        jpeg_destroy_decompress(&cinfo);
        return JPEG_NOT_RGB;
    }
    if (cinfo.image_width > MAX_SIDE || cinfo.image_height > MAX_SIDE ||
        (int64_t)cinfo.image_width * cinfo.image_height > MAX_PIXELS) {
        locus_fail("%s: %u x %u pixels is beyond locus's limit (%d per side, %lld in all; LOCUS_MAX_IMAGE_PIXELS)", path, cinfo.image_width,
                  cinfo.image_height, MAX_SIDE, (long long)MAX_PIXELS);
        jpeg_destroy_decompress(&cinfo);
        return JPEG_FAILED;
    }
    /* every 8 x 8 block of the first component costs at least one bit of entropy-coded data (its DC
     * difference, baseline or progressive, in Huffman coding), so a small file cannot hold a large
     * image: refuse it before allocating the pixels */
    uint64_t blocks = (uint64_t)((cinfo.image_width + 7) / 8) * ((cinfo.image_height + 7) / 8);
    if (!cinfo.arith_code && (uint64_t)size * 8 < blocks) {
        locus_fail("%s: truncated JPEG (%u x %u pixels declared, but %zu bytes cannot hold them)", path, cinfo.image_width,
                   cinfo.image_height, size);
        jpeg_destroy_decompress(&cinfo);
        return JPEG_FAILED;
    }
    cinfo.out_color_space = JCS_RGB;
    jpeg_start_decompress(&cinfo);
    *w = (int)cinfo.output_width;
    *h = (int)cinfo.output_height;
    px = malloc((size_t)*w * *h * 3);
    if (!px) {
        jpeg_destroy_decompress(&cinfo);
        locus_fail("%s: out of memory", path);
        return JPEG_FAILED;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = px + (size_t)cinfo.output_scanline * *w * 3;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    if (err.truncated) {
        free(px);
        locus_fail("%s: truncated JPEG (the data or a scan ends before the image does)", path);
        return JPEG_FAILED;
    }
    *out = px;
    return JPEG_OK;
}

locus_tensor *locus_image_load(const char *path, int honor_exif) {
    if (!path) return locus_fail_null("image: path is NULL");
    locus_storage *file = locus_storage_map_file(path);
    if (!file) return NULL;
    const uint8_t *data = locus_storage_data(file);
    size_t size = locus_storage_nbytes(file);
    int w, h, comp;
    locus_tensor *t = NULL;
    uint8_t *jpeg = NULL;
    jpeg_result jr = size >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff
                         ? decode_jpeg(data, size, path, &jpeg, &w, &h)
                         : JPEG_NOT_RGB;
    if (jr == JPEG_FAILED) {
        locus_storage_release(file);
        return NULL;
    }
    /* a PNG states its size up front: refuse bombs by it, before stb_image refuses them vaguely */
    if (jr == JPEG_NOT_RGB && size >= 24 && memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0 && memcmp(data + 12, "IHDR", 4) == 0) {
        uint32_t pw = rd(data + 16, 4, false), ph = rd(data + 20, 4, false);
        if (pw > MAX_SIDE || ph > MAX_SIDE || (int64_t)pw * ph > MAX_PIXELS) {
            locus_storage_release(file);
            return locus_fail_null("%s: %u x %u pixels is beyond locus's limit (%d per side, %lld in all; LOCUS_MAX_IMAGE_PIXELS)", path, pw, ph,
                                  MAX_SIDE, (long long)MAX_PIXELS);
        }
    }
    if (jr == JPEG_OK) {
        t = rgb_tensor(jpeg, w, h, honor_exif ? exif_orientation(data, size) : 1, path);
        free(jpeg);
    } else if (size == 0 || size > INT32_MAX || !stbi_info_from_memory(data, (int)size, &w, &h, &comp)) {
        locus_fail("%s: not an image locus can decode (JPEG, PNG, BMP, GIF, PNM, TGA)%s%s", path,
                  size ? ": " : " (empty file)", size ? stbi_failure_reason() : "");
    } else if ((h = abs(h)) < 1 || w < 1 || w > MAX_SIDE || h > MAX_SIDE || (int64_t)w * h > MAX_PIXELS) {
        /* (abs: stbi_info gives a top-down BMP's height negative, as stored) */
        locus_fail("%s: %d x %d pixels is beyond locus's limit (%d per side, %lld in all; LOCUS_MAX_IMAGE_PIXELS)", path, w, h, MAX_SIDE, (long long)MAX_PIXELS);
    } else {
        uint8_t *px = stbi_load_from_memory(data, (int)size, &w, &h, &comp, 3); /* grey and alpha -> RGB */
        if (!px) {
            locus_fail("%s: corrupt image: %s", path, stbi_failure_reason());
        } else {
            t = rgb_tensor(px, w, h, honor_exif ? exif_orientation(data, size) : 1, path);
            stbi_image_free(px);
        }
    }
    locus_storage_release(file);
    return t;
}

/* ---- Pillow's resampling ------------------------------------------------------------------------- */

enum { PRECISION_BITS = 32 - 8 - 2 };

static double bicubic(double x) { /* a = -0.5 */
    if (x < 0) x = -x;
    if (x < 1) return (1.5 * x - 2.5) * x * x + 1;
    if (x < 2) return (((x - 5) * x + 8) * x - 4) * -0.5;
    return 0;
}

typedef struct {
    int ksize;
    int *bounds; /* per output: first input, count */
    int32_t *k;  /* per output: ksize fixed-point weights */
} coeffs;

/* Pillow's precompute_coeffs + normalize_coeffs_8bpc for in_size -> out_size over the whole range. */
static int make_coeffs(int in_size, int out_size, coeffs *c) {
    double scale = (double)in_size / out_size, filterscale = scale < 1 ? 1 : scale;
    double support = 2.0 * filterscale;
    c->ksize = (int)ceil(support) * 2 + 1;
    c->bounds = malloc((size_t)out_size * 2 * sizeof(int));
    c->k = malloc((size_t)out_size * (size_t)c->ksize * sizeof(int32_t));
    double *w = malloc((size_t)c->ksize * sizeof(double));
    if (!c->bounds || !c->k || !w) {
        free(w);
        return -1;
    }
    for (int xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale, ww = 0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        if (xmin < 0) xmin = 0;
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) ww += w[x] = bicubic((x + xmin - center + 0.5) * ss);
        for (int x = 0; x < c->ksize; x++) {
            double v = x < xmax && ww != 0 ? w[x] / ww : (x < xmax ? w[x] : 0);
            c->k[xx * c->ksize + x] = (int32_t)(v < 0 ? -0.5 + v * (1 << PRECISION_BITS) : 0.5 + v * (1 << PRECISION_BITS));
        }
        c->bounds[xx * 2] = xmin;
        c->bounds[xx * 2 + 1] = xmax;
    }
    free(w);
    return 0;
}

static void free_coeffs(coeffs *c) {
    free(c->bounds);
    free(c->k);
}

static inline uint8_t clip8(int32_t v) {
    if (v >= (1 << PRECISION_BITS << 8)) return 255;
    if (v <= 0) return 0;
    return (uint8_t)(v >> PRECISION_BITS);
}

/* dst (oh x ow x 3) = Pillow's bicubic resize of src (h x w x 3), row stride in bytes given. */
static int resize_rgb(uint8_t *dst, int ow, int oh, const uint8_t *src, int w, int h, size_t src_stride) {
    coeffs ch = {0}, cv = {0};
    if (make_coeffs(w, ow, &ch) || make_coeffs(h, oh, &cv)) {
        free_coeffs(&ch);
        free_coeffs(&cv);
        return locus_fail("image resize: out of memory");
    }
    int first = cv.bounds[0], last = cv.bounds[(oh - 1) * 2] + cv.bounds[(oh - 1) * 2 + 1];
    int rows = last - first;
    bool horizontal = ow != w, vertical = oh != h;
    uint8_t *tmp = horizontal ? malloc((size_t)rows * ow * 3) : NULL;
    if (horizontal && !tmp) {
        free_coeffs(&ch);
        free_coeffs(&cv);
        return locus_fail("image resize: out of memory");
    }
    const uint8_t *vsrc = src;
    size_t vstride = src_stride;
    int vfirst = 0; /* the row of vsrc that input row `first` is in */
    if (horizontal) {
#pragma omp parallel for schedule(static) if ((int64_t)rows * ow > 65536)
        for (int y = 0; y < rows; y++) {
            const uint8_t *in = src + (size_t)(y + first) * src_stride;
            for (int xx = 0; xx < ow; xx++) {
                const int32_t *k = ch.k + xx * ch.ksize;
                int xmin = ch.bounds[xx * 2], xmax = ch.bounds[xx * 2 + 1];
                int32_t s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
                for (int x = 0; x < xmax; x++) {
                    const uint8_t *p = in + (size_t)(x + xmin) * 3;
                    s0 += p[0] * k[x];
                    s1 += p[1] * k[x];
                    s2 += p[2] * k[x];
                }
                uint8_t *o = tmp + ((size_t)y * ow + xx) * 3;
                o[0] = clip8(s0);
                o[1] = clip8(s1);
                o[2] = clip8(s2);
            }
        }
        vsrc = tmp;
        vstride = (size_t)ow * 3;
        vfirst = first;
    }
    if (vertical) {
#pragma omp parallel for schedule(static) if ((int64_t)oh * ow > 65536)
        for (int yy = 0; yy < oh; yy++) {
            const int32_t *k = cv.k + yy * cv.ksize;
            int ymin = cv.bounds[yy * 2] - vfirst, ymax = cv.bounds[yy * 2 + 1];
            for (int xx = 0; xx < ow * 3; xx++) {
                int32_t s = 1 << (PRECISION_BITS - 1);
                for (int y = 0; y < ymax; y++) s += vsrc[(size_t)(y + ymin) * vstride + xx] * k[y];
                dst[(size_t)yy * ow * 3 + xx] = clip8(s);
            }
        }
    } else {
        for (int y = 0; y < oh; y++) memcpy(dst + (size_t)y * ow * 3, vsrc + (size_t)y * vstride, (size_t)ow * 3);
    }
    free(tmp);
    free_coeffs(&ch);
    free_coeffs(&cv);
    return 0;
}

static int check_rgb(const locus_tensor *t, const char *op) {
    if (locus_check_tensor(t, op, "image")) return -1;
    if (t->type != LOCUS_U8 || t->ndim != 3 || t->sizes[2] != 3 || t->sizes[0] < 1 || t->sizes[1] < 1)
        return locus_fail("%s: image must be u8 [H, W, 3], got %s", op, locus_tensor_describe(t));
    return 0;
}

int locus_image_resize(locus_tensor *out, const locus_tensor *img) {
    if (check_rgb(img, "image resize") || check_rgb(out, "image resize")) return -1;
    if (!locus_tensor_is_contiguous(out)) return locus_fail("image resize: out must be contiguous");
    locus_tensor *c = locus_contiguous(img);
    if (!c) return -1;
    int rc = resize_rgb(locus_tensor_data(out), (int)out->sizes[1], (int)out->sizes[0], locus_tensor_data(c),
                        (int)c->sizes[1], (int)c->sizes[0], (size_t)c->sizes[1] * 3);
    locus_tensor_free(c);
    return rc;
}

int locus_image_pad_square(locus_tensor *out, const locus_tensor *img, const uint8_t *rgb) {
    if (check_rgb(img, "image pad") || check_rgb(out, "image pad")) return -1;
    int64_t h = img->sizes[0], w = img->sizes[1], side = h > w ? h : w;
    if (out->sizes[0] != side || out->sizes[1] != side || !locus_tensor_is_contiguous(out))
        return locus_fail("image pad: out must be contiguous [%lld, %lld, 3]", (long long)side, (long long)side);
    uint8_t *o = locus_tensor_data(out);
    for (int64_t i = 0; i < side * side; i++) memcpy(o + i * 3, rgb, 3);
    /* centred as GroundingGPT's expand2square pastes it: offset (side - smaller) // 2 */
    int64_t top = (side - h) / 2, left = (side - w) / 2;
    locus_tensor *dst = locus_tensor_from_storage(out->storage, LOCUS_U8, out->offset + (top * side + left) * 3, 3,
                                                (int64_t[]){h, w, 3}, (int64_t[]){side * 3, 3, 1});
    int rc = dst ? locus_copy(dst, img) : -1;
    locus_tensor_free(dst);
    return rc;
}

int locus_image_normalize(locus_tensor *out, const locus_tensor *img, const float *mean, const float *std) {
    if (check_rgb(img, "image normalize")) return -1;
    int64_t h = img->sizes[0], w = img->sizes[1], shape[3] = {3, h, w};
    if (locus_check_out(out, "image normalize", 3, shape)) return -1;
    locus_tensor *c = locus_contiguous(img);
    if (!c) return -1;
    const uint8_t *p = locus_tensor_data(c);
    float *o = locus_tensor_data(out);
    for (int ch = 0; ch < 3; ch++) {
        float m = mean[ch], s = std[ch];
        for (int64_t i = 0; i < h * w; i++) o[ch * h * w + i] = ((float)p[i * 3 + ch] * (1.0f / 255.0f) - m) / s;
    }
    locus_tensor_free(c);
    return 0;
}

/* ---- drawing and saving ------------------------------------------------------------------------- */

/* 3 x 5 digits for box labels; bit 2 of each row is the left column */
static const uint8_t digits[10][5] = {
    {7, 5, 5, 5, 7}, {2, 6, 2, 2, 7}, {7, 1, 7, 4, 7}, {7, 1, 7, 1, 7}, {5, 5, 7, 1, 1},
    {7, 4, 7, 1, 7}, {7, 4, 7, 5, 7}, {7, 1, 1, 1, 1}, {7, 5, 7, 5, 7}, {7, 5, 7, 1, 7},
};

static void fill(uint8_t *px, int64_t w, int64_t h, int64_t x0, int64_t y0, int64_t x1, int64_t y1, const uint8_t *rgb) {
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > w) x1 = w;
    if (y1 > h) y1 = h;
    for (int64_t y = y0; y < y1; y++)
        for (int64_t x = x0; x < x1; x++) memcpy(px + (y * w + x) * 3, rgb, 3);
}

int locus_image_draw_box(locus_tensor *img, int64_t x0, int64_t y0, int64_t x1, int64_t y1, const uint8_t *rgb, int label) {
    if (check_rgb(img, "draw box")) return -1;
    if (!locus_tensor_is_contiguous(img)) return locus_fail("draw box: the image must be contiguous");
    int64_t h = img->sizes[0], w = img->sizes[1];
    int64_t t = (w > h ? w : h) / 250 + 1; /* line width grows with the picture */
    uint8_t *px = locus_tensor_data(img);
    fill(px, w, h, x0, y0, x1 + t, y0 + t, rgb);
    fill(px, w, h, x0, y1, x1 + t, y1 + t, rgb);
    fill(px, w, h, x0, y0, x0 + t, y1 + t, rgb);
    fill(px, w, h, x1, y0, x1 + t, y1 + t, rgb);
    if (label >= 0) { /* the number on a filled tab at the top-left corner, white */
        char text[16];
        int n = snprintf(text, sizeof text, "%d", label);
        int64_t s = 2 * t, tw = n * 4 * s + s, th = 7 * s;
        int64_t ty = y0 - th >= 0 ? y0 - th : y0;
        fill(px, w, h, x0, ty, x0 + tw, ty + th, rgb);
        static const uint8_t white[3] = {255, 255, 255};
        for (int i = 0; i < n; i++)
            for (int r = 0; r < 5; r++)
                for (int c = 0; c < 3; c++)
                    if (digits[text[i] - '0'][r] & (4 >> c))
                        fill(px, w, h, x0 + s + (i * 4 + c) * s, ty + s + r * s, x0 + s + (i * 4 + c + 1) * s,
                             ty + s + (r + 1) * s, white);
    }
    return 0;
}

static void write_to_file(void *f, void *data, int size) { fwrite(data, 1, (size_t)size, f); }

int locus_image_save(const char *path, const locus_tensor *img) {
    if (!path) return locus_fail("image save: path is NULL");
    if (check_rgb(img, "image save")) return -1;
    size_t n = strlen(path);
    bool jpg = n > 4 && (strcasecmp(path + n - 4, ".jpg") == 0 || (n > 5 && strcasecmp(path + n - 5, ".jpeg") == 0));
    if (!jpg && !(n > 4 && strcasecmp(path + n - 4, ".png") == 0))
        return locus_fail("%s: locus writes .png or .jpg images", path);
    locus_tensor *c = locus_contiguous(img);
    if (!c) return -1;
    locus_out out;
    if (locus_out_open(&out, path)) {
        locus_tensor_free(c);
        return -1;
    }
    int w = (int)c->sizes[1], h = (int)c->sizes[0];
    int ok = jpg ? stbi_write_jpg_to_func(write_to_file, out.f, w, h, 3, locus_tensor_data(c), 92)
                 : stbi_write_png_to_func(write_to_file, out.f, w, h, 3, locus_tensor_data(c), w * 3);
    int rc = locus_out_finish(&out, ok ? WRITE_OK : WRITE_FAILED);
    locus_tensor_free(c);
    return rc;
}
