/* eglprobe: a desktop OpenGL context on EGL's surfaceless platform, without a surface.
 *
 * Prints:  GL_RENDERER: <renderer>
 *          GL_VERSION: <version>
 * Exit 0 on success, 1 with a one-line reason on stderr when any step fails.
 *
 * Self-contained: libEGL.so.1 is dlopen'ed, GL entry points come from eglGetProcAddress, and the
 * few EGL/GL types and constants used here are declared below, so building needs only a C compiler
 * and libc (gcc -ldl). Part of graft's test bed (scripts/testbed.sh builds it for x86_64 and i386
 * inside a bullseye chroot).
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef void *EGLDisplay;
typedef void *EGLConfig;
typedef void *EGLContext;
typedef void *EGLSurface;
typedef unsigned int EGLBoolean;
typedef unsigned int EGLenum;
typedef int32_t EGLint;
typedef intptr_t EGLAttrib;
typedef void (*EGLproc)(void);
typedef unsigned int GLenum;
typedef unsigned char GLubyte;

#define EGL_FALSE 0
#define EGL_NONE 0x3038
#define EGL_SUCCESS 0x3000
#define EGL_EXTENSIONS 0x3055
#define EGL_RENDERABLE_TYPE 0x3040
#define EGL_SURFACE_TYPE 0x3033
#define EGL_PBUFFER_BIT 0x0001
#define EGL_OPENGL_BIT 0x0008
#define EGL_OPENGL_API 0x30A2
#define EGL_PLATFORM_SURFACELESS_MESA 0x31DD
#define EGL_NO_DISPLAY ((EGLDisplay)0)
#define EGL_NO_CONTEXT ((EGLContext)0)
#define EGL_NO_SURFACE ((EGLSurface)0)
#define EGL_NO_CONFIG_KHR ((EGLConfig)0)
#define GL_RENDERER 0x1F01
#define GL_VERSION 0x1F02

typedef EGLint (*PFN_eglGetError)(void);
typedef EGLproc (*PFN_eglGetProcAddress)(const char *);
typedef const char *(*PFN_eglQueryString)(EGLDisplay, EGLint);
typedef EGLDisplay (*PFN_eglGetPlatformDisplay)(EGLenum, void *, const EGLAttrib *);
typedef EGLDisplay (*PFN_eglGetPlatformDisplayEXT)(EGLenum, void *, const EGLint *);
typedef EGLBoolean (*PFN_eglInitialize)(EGLDisplay, EGLint *, EGLint *);
typedef EGLBoolean (*PFN_eglBindAPI)(EGLenum);
typedef EGLBoolean (*PFN_eglChooseConfig)(EGLDisplay, const EGLint *, EGLConfig *, EGLint, EGLint *);
typedef EGLContext (*PFN_eglCreateContext)(EGLDisplay, EGLConfig, EGLContext, const EGLint *);
typedef EGLBoolean (*PFN_eglMakeCurrent)(EGLDisplay, EGLSurface, EGLSurface, EGLContext);
typedef EGLBoolean (*PFN_eglDestroyContext)(EGLDisplay, EGLContext);
typedef EGLBoolean (*PFN_eglTerminate)(EGLDisplay);
typedef const GLubyte *(*PFN_glGetString)(GLenum);

static PFN_eglGetError egl_get_error;

static int fail(const char *what) {
    fprintf(stderr, "eglprobe: %s failed: 0x%x\n", what, egl_get_error ? (unsigned)egl_get_error() : 0u);
    return 1;
}

static int has_ext(const char *list, const char *name) {
    size_t n = strlen(name);
    const char *p = list;
    while (p && (p = strstr(p, name)) != NULL) {
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return 1;
        p += n;
    }
    return 0;
}

#define LOAD(type, var, name)                                                                      \
    type var = (type)dlsym(lib, name);                                                             \
    if (!var)                                                                                      \
        var = (type)get_proc(name);                                                                \
    if (!var) {                                                                                    \
        fprintf(stderr, "eglprobe: libEGL.so.1 has no %s\n", name);                                \
        return 1;                                                                                  \
    }

int main(void) {
    void *lib = dlopen("libEGL.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *e = dlerror();
        fprintf(stderr, "eglprobe: dlopen libEGL.so.1 failed: %s\n", e ? e : "unknown error");
        return 1;
    }
    PFN_eglGetProcAddress get_proc = (PFN_eglGetProcAddress)dlsym(lib, "eglGetProcAddress");
    if (!get_proc) {
        fprintf(stderr, "eglprobe: libEGL.so.1 has no eglGetProcAddress\n");
        return 1;
    }
    egl_get_error = (PFN_eglGetError)dlsym(lib, "eglGetError");
    LOAD(PFN_eglQueryString, query_string, "eglQueryString");
    LOAD(PFN_eglInitialize, initialize, "eglInitialize");
    LOAD(PFN_eglBindAPI, bind_api, "eglBindAPI");
    LOAD(PFN_eglChooseConfig, choose_config, "eglChooseConfig");
    LOAD(PFN_eglCreateContext, create_context, "eglCreateContext");
    LOAD(PFN_eglMakeCurrent, make_current, "eglMakeCurrent");
    PFN_eglDestroyContext destroy_context = (PFN_eglDestroyContext)dlsym(lib, "eglDestroyContext");
    PFN_eglTerminate terminate = (PFN_eglTerminate)dlsym(lib, "eglTerminate");

    /* The surfaceless platform: EGL 1.5's eglGetPlatformDisplay, else EGL_EXT_platform_base. */
    EGLDisplay dpy = EGL_NO_DISPLAY;
    PFN_eglGetPlatformDisplay gpd = (PFN_eglGetPlatformDisplay)get_proc("eglGetPlatformDisplay");
    if (gpd)
        dpy = gpd(EGL_PLATFORM_SURFACELESS_MESA, NULL, NULL);
    if (dpy == EGL_NO_DISPLAY) {
        PFN_eglGetPlatformDisplayEXT gpd_ext =
            (PFN_eglGetPlatformDisplayEXT)get_proc("eglGetPlatformDisplayEXT");
        if (!gpd && !gpd_ext) {
            fprintf(stderr, "eglprobe: neither eglGetPlatformDisplay nor eglGetPlatformDisplayEXT\n");
            return 1;
        }
        if (gpd_ext)
            dpy = gpd_ext(EGL_PLATFORM_SURFACELESS_MESA, NULL, NULL);
    }
    if (dpy == EGL_NO_DISPLAY)
        return fail("eglGetPlatformDisplay(EGL_PLATFORM_SURFACELESS_MESA)");

    EGLint major = 0, minor = 0;
    if (!initialize(dpy, &major, &minor))
        return fail("eglInitialize");
    if (!bind_api(EGL_OPENGL_API))
        return fail("eglBindAPI(EGL_OPENGL_API)");

    EGLConfig config = EGL_NO_CONFIG_KHR;
    EGLint count = 0;
    static const EGLint with_pbuffer[] = {EGL_RENDERABLE_TYPE, EGL_OPENGL_BIT, EGL_SURFACE_TYPE,
                                          EGL_PBUFFER_BIT, EGL_NONE};
    static const EGLint any_surface[] = {EGL_RENDERABLE_TYPE, EGL_OPENGL_BIT, EGL_SURFACE_TYPE, 0,
                                         EGL_NONE};
    if (!choose_config(dpy, with_pbuffer, &config, 1, &count) || count < 1) {
        count = 0;
        if (!choose_config(dpy, any_surface, &config, 1, &count) || count < 1) {
            const char *exts = query_string(dpy, EGL_EXTENSIONS);
            if (!has_ext(exts, "EGL_KHR_no_config_context") &&
                !has_ext(exts, "EGL_MESA_configless_context")) {
                fprintf(stderr, "eglprobe: eglChooseConfig found no desktop GL config and "
                                "EGL_KHR_no_config_context is not supported\n");
                return 1;
            }
            config = EGL_NO_CONFIG_KHR;
        }
    }

    static const EGLint ctx_attribs[] = {EGL_NONE};
    EGLContext ctx = create_context(dpy, config, EGL_NO_CONTEXT, ctx_attribs);
    if (ctx == EGL_NO_CONTEXT)
        return fail("eglCreateContext(desktop GL)");
    if (!make_current(dpy, EGL_NO_SURFACE, EGL_NO_SURFACE, ctx))
        return fail("eglMakeCurrent(EGL_NO_SURFACE)");

    PFN_glGetString get_string = (PFN_glGetString)get_proc("glGetString");
    if (!get_string) {
        fprintf(stderr, "eglprobe: eglGetProcAddress(glGetString) returned NULL\n");
        return 1;
    }
    const GLubyte *renderer = get_string(GL_RENDERER);
    const GLubyte *version = get_string(GL_VERSION);
    if (!renderer || !version) {
        fprintf(stderr, "eglprobe: glGetString returned NULL\n");
        return 1;
    }
    printf("GL_RENDERER: %s\nGL_VERSION: %s\n", (const char *)renderer, (const char *)version);
    fflush(stdout);

    make_current(dpy, EGL_NO_SURFACE, EGL_NO_SURFACE, EGL_NO_CONTEXT);
    if (destroy_context)
        destroy_context(dpy, ctx);
    if (terminate)
        terminate(dpy);
    return 0;
}
