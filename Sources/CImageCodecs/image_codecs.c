#include "image_codecs.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>

static int fail(char *message, size_t size, const char *text) {
    snprintf(message, size, "%s", text);
    return -1;
}

// libpng's simplified API reports errors in the png_image, not by longjmp out of the caller.
static int decode_png(const unsigned char *bytes, size_t length, size_t max_pixels,
                      unsigned char **pixels, int *width, int *height, char *message, size_t size) {
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&image, bytes, length)) return fail(message, size, image.message);
    if ((size_t)image.width * image.height > max_pixels) {
        png_image_free(&image);
        snprintf(message, size, "%ux%u pixels is more than the %zu allowed", image.width, image.height, max_pixels);
        return -1;
    }
    image.format = PNG_FORMAT_RGB;
    unsigned char *buffer = malloc(PNG_IMAGE_SIZE(image));
    if (!buffer) {
        png_image_free(&image);
        return fail(message, size, "out of memory");
    }
    if (!png_image_finish_read(&image, NULL, buffer, 0, NULL)) {
        free(buffer);
        return fail(message, size, image.message);
    }
    *pixels = buffer;
    *width = (int)image.width;
    *height = (int)image.height;
    return 0;
}

struct jpeg_failure {
    struct jpeg_error_mgr manager;
    jmp_buf jump;
};

static void jpeg_fail(j_common_ptr info) {
    longjmp(((struct jpeg_failure *)info->err)->jump, 1);
}

static void jpeg_quiet(j_common_ptr info, int level) { (void)info; (void)level; }

static int decode_jpeg(const unsigned char *bytes, size_t length, size_t max_pixels,
                       unsigned char **pixels, int *width, int *height, char *message, size_t size) {
    struct jpeg_decompress_struct info;
    struct jpeg_failure failure;
    unsigned char *volatile buffer = NULL;
    info.err = jpeg_std_error(&failure.manager);
    failure.manager.error_exit = jpeg_fail;
    failure.manager.emit_message = jpeg_quiet;
    if (setjmp(failure.jump)) {
        char text[JMSG_LENGTH_MAX];
        failure.manager.format_message((j_common_ptr)&info, text);
        jpeg_destroy_decompress(&info);
        free(buffer);
        return fail(message, size, text);
    }
    jpeg_create_decompress(&info);
    jpeg_mem_src(&info, bytes, (unsigned long)length);
    jpeg_read_header(&info, TRUE);
    if ((size_t)info.image_width * info.image_height > max_pixels) {
        snprintf(message, size, "%ux%u pixels is more than the %zu allowed", info.image_width, info.image_height, max_pixels);
        jpeg_destroy_decompress(&info);
        return -1;
    }
    info.out_color_space = JCS_RGB;
    jpeg_start_decompress(&info);
    size_t stride = (size_t)info.output_width * 3;
    buffer = malloc(stride * info.output_height);
    if (!buffer) {
        jpeg_destroy_decompress(&info);
        return fail(message, size, "out of memory");
    }
    while (info.output_scanline < info.output_height) {
        unsigned char *row = buffer + stride * info.output_scanline;
        jpeg_read_scanlines(&info, &row, 1);
    }
    jpeg_finish_decompress(&info);
    if (failure.manager.num_warnings > 0) {
        // A truncated or damaged file decodes with gray where data is missing; say so instead.
        char text[JMSG_LENGTH_MAX];
        failure.manager.format_message((j_common_ptr)&info, text);
        jpeg_destroy_decompress(&info);
        free(buffer);
        return fail(message, size, text);
    }
    *width = (int)info.output_width;
    *height = (int)info.output_height;
    jpeg_destroy_decompress(&info);
    *pixels = buffer;
    return 0;
}

int lowpass_decode_image(const unsigned char *bytes, size_t length, size_t max_pixels,
                         unsigned char **pixels, int *width, int *height, char *message, size_t message_size) {
    static const unsigned char png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    *pixels = NULL;
    if (length >= 8 && memcmp(bytes, png_signature, 8) == 0)
        return decode_png(bytes, length, max_pixels, pixels, width, height, message, message_size);
    if (length >= 3 && bytes[0] == 0xff && bytes[1] == 0xd8 && bytes[2] == 0xff)
        return decode_jpeg(bytes, length, max_pixels, pixels, width, height, message, message_size);
    return fail(message, message_size, "not a PNG or JPEG file (by its first bytes)");
}

void lowpass_free_pixels(unsigned char *pixels) { free(pixels); }
