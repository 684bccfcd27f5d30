/* Region decoding of baseline and progressive JPEGs with the system libjpeg-turbo.
 *
 * decode_region(data, out, x, y, w, h, reduce, fast) writes the (h, w, 3) RGB pixels of the
 * stored-orientation rectangle (x, y, w, h) of the image DCT-scaled by 1/reduce (1, 2, 4 or 8;
 * coordinates in that scaled grid) into the writable contiguous buffer `out`. Rows above the rectangle are
 * skipped (jpeg_skip_scanlines: entropy-decoded, not transformed), columns outside it are not
 * transformed (jpeg_crop_scanline) and decoding stops after its last row. A margin of
 * REGION_MARGIN pixels is decoded around the rectangle and dropped, so that chroma upsampling at
 * the rectangle's edges sees the same neighbours as a full decode: the pixels equal those of a
 * full decode at the same scale and settings: the accurate integer IDCT and fancy upsampling
 * (simplejpeg's defaults), or with `fast` the fast integer IDCT and plain upsampling (simplejpeg's
 * fastdct + fastupsample).
 *
 * Any libjpeg error or warning (corrupt data, truncation inside the decoded rows) raises
 * ValueError with libjpeg's message; the Python caller then decodes the whole file instead.
 * The GIL is released while libjpeg runs.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>

/* jpeg_crop_scanline and jpeg_skip_scanlines exist only in libjpeg-turbo (and mozjpeg) and were
 * fixed release after release through 1.5-2.1 (crashes and wrong rows with some subsamplings and
 * modes). 2.1 is the oldest accepted (2.1.5 is the one tested); an older or another libjpeg fails
 * the build, which setup.py allows: the whole-file path is then used. */
#if !defined(LIBJPEG_TURBO_VERSION_NUMBER) || LIBJPEG_TURBO_VERSION_NUMBER < 2001000
#error "region decoding needs libjpeg-turbo >= 2.1"
#endif

#define REGION_MARGIN 2

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    int warnings;
} region_error;

static void on_error(j_common_ptr cinfo) { longjmp(((region_error *)cinfo->err)->jump, 1); }

static void on_message(j_common_ptr cinfo, int level) {
    if (level < 0) ((region_error *)cinfo->err)->warnings++;
}

static void on_output(j_common_ptr cinfo) { (void)cinfo; }

enum { OK = 0, LIBJPEG = 1, OUTSIDE = 2, COMPONENTS = 3, NOMEM = 4 };

/* The decode proper; runs without the GIL. Returns one of the codes above. */
static int run_decode(const unsigned char *data, unsigned long size, unsigned char *out,
                      unsigned long long x, unsigned long long y, unsigned long long w,
                      unsigned long long h, unsigned int reduce, int fast, char *message) {
    struct jpeg_decompress_struct cinfo;
    region_error jerr;
    JSAMPROW volatile row = NULL;
    volatile int status = OK;
    cinfo.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = on_error;
    jerr.pub.emit_message = on_message;
    jerr.pub.output_message = on_output;
    jerr.warnings = 0;
    jpeg_create_decompress(&cinfo);
    if (setjmp(jerr.jump)) {
        (*cinfo.err->format_message)((j_common_ptr)&cinfo, message);
        status = LIBJPEG;
        goto cleanup;
    }
    jpeg_mem_src(&cinfo, data, size);
    jpeg_read_header(&cinfo, TRUE);
    if (cinfo.num_components != 1 && cinfo.num_components != 3) { status = COMPONENTS; goto cleanup; }
    cinfo.out_color_space = JCS_RGB;
    cinfo.dct_method = fast ? JDCT_IFAST : JDCT_ISLOW;
    cinfo.do_fancy_upsampling = fast ? FALSE : TRUE;
    cinfo.scale_num = 1;
    cinfo.scale_denom = reduce;
    jpeg_calc_output_dimensions(&cinfo);
    if (w == 0 || h == 0 || x + w > cinfo.output_width || y + h > cinfo.output_height) {
        status = OUTSIDE;
        goto cleanup;
    }
    jpeg_start_decompress(&cinfo);
    JDIMENSION x0 = (JDIMENSION)(x > REGION_MARGIN ? x - REGION_MARGIN : 0);
    JDIMENSION x1 = (JDIMENSION)(x + w + REGION_MARGIN < cinfo.output_width ? x + w + REGION_MARGIN
                                                                             : cinfo.output_width);
    JDIMENSION cx = x0, cw = x1 - x0;
    if (cw < cinfo.output_width) jpeg_crop_scanline(&cinfo, &cx, &cw);
    row = (JSAMPROW)malloc((size_t)cw * 3);
    if (row == NULL) { status = NOMEM; goto cleanup; }
    JDIMENSION y0 = (JDIMENSION)(y > REGION_MARGIN ? y - REGION_MARGIN : 0);
    if (y0 > 0) jpeg_skip_scanlines(&cinfo, y0);
    for (JDIMENSION line = y0; line < y + h; line++) {
        JSAMPROW target = row;
        jpeg_read_scanlines(&cinfo, &target, 1);
        if (line >= y) memcpy(out + (size_t)(line - y) * w * 3, row + (size_t)(x - cx) * 3, (size_t)w * 3);
    }
    if (jerr.warnings) {
        (*cinfo.err->format_message)((j_common_ptr)&cinfo, message);
        status = LIBJPEG;
    }
cleanup:
    jpeg_destroy_decompress(&cinfo);
    free(row);
    return status;
}

static PyObject *decode_region(PyObject *self, PyObject *args) {
    Py_buffer src, dst;
    unsigned long long x, y, w, h;
    unsigned int reduce;
    int fast;
    char message[JMSG_LENGTH_MAX] = "";
    int status;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*w*KKKKIp", &src, &dst, &x, &y, &w, &h, &reduce, &fast)) return NULL;
    const char *bad = NULL;
    if (reduce != 1 && reduce != 2 && reduce != 4 && reduce != 8) bad = "reduce must be 1, 2, 4 or 8";
    else if (w > 65535 || h > 65535 || (unsigned long long)dst.len < w * h * 3)
        bad = "output buffer smaller than w * h * 3 bytes";
    if (bad != NULL) {
        PyBuffer_Release(&src);
        PyBuffer_Release(&dst);
        PyErr_SetString(PyExc_ValueError, bad);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    status = run_decode((const unsigned char *)src.buf, (unsigned long)src.len, (unsigned char *)dst.buf,
                        x, y, w, h, reduce, fast, message);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&src);
    PyBuffer_Release(&dst);
    switch (status) {
        case OK: Py_RETURN_NONE;
        case LIBJPEG: PyErr_SetString(PyExc_ValueError, message); return NULL;
        case OUTSIDE: PyErr_SetString(PyExc_ValueError, "region outside the image"); return NULL;
        case COMPONENTS: PyErr_SetString(PyExc_ValueError, "not a 1- or 3-component JPEG"); return NULL;
        default: return PyErr_NoMemory();
    }
}

static PyMethodDef region_methods[] = {
    {"decode_region", decode_region, METH_VARARGS,
     "decode_region(data, out, x, y, w, h, reduce, fast): RGB pixels of a stored-orientation rectangle\n"
     "of the 1/reduce-scaled image into out (fast: fast IDCT and plain upsampling)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef region_module = {
    PyModuleDef_HEAD_INIT, "_jpeg_region", "Region decoding of JPEGs with libjpeg-turbo.", -1, region_methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__jpeg_region(void) { return PyModule_Create(&region_module); }
