// PNG and JPEG decoding for `lowpass consistency --images DIR`, through Debian's libpng and libjpeg-turbo.
// C because libjpeg reports errors by longjmp, which Swift cannot catch.
#ifndef LOWPASS_IMAGE_CODECS_H
#define LOWPASS_IMAGE_CODECS_H
#include <stddef.h>

/// Decodes a PNG or JPEG file held in memory (told apart by its signature) into 8-bit RGB, rows top to
/// bottom, 3 bytes a pixel: on success returns 0 and sets *pixels (free with lowpass_free_pixels),
/// *width and *height; on failure returns -1, writes a message, and sets *pixels to NULL. Images of
/// more than max_pixels pixels are refused before anything is allocated for them.
int lowpass_decode_image(const unsigned char *bytes, size_t length, size_t max_pixels,
                         unsigned char **pixels, int *width, int *height, char *message, size_t message_size);

void lowpass_free_pixels(unsigned char *pixels);

#endif
