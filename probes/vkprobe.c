/* vkprobe: create a Vulkan instance, list the physical devices.
 *
 * Prints one line per device:  device: <deviceName> api <major>.<minor>.<patch>
 * Exit 0 when at least one device was found, 1 otherwise (one-line reason on stderr).
 *
 * Self-contained: the loader (libvulkan.so.1) is dlopen'ed and the few Vulkan types used here are
 * declared below, so building needs only a C compiler and libc (gcc -ldl). Part of graft's test bed
 * (scripts/testbed.sh builds it for x86_64 and i386 inside a bullseye chroot).
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int32_t VkResult;
typedef uint32_t VkFlags;
typedef uint32_t VkBool32;
typedef uint64_t VkDeviceSize;
typedef struct VkInstance_T *VkInstance;
typedef struct VkPhysicalDevice_T *VkPhysicalDevice;
typedef void (*PFN_vkVoidFunction)(void);

#define VK_SUCCESS 0
#define VK_INCOMPLETE 5
#define VK_STRUCTURE_TYPE_APPLICATION_INFO 0
#define VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO 1
#define VK_MAKE_VERSION(major, minor, patch) (((major) << 22) | ((minor) << 12) | (patch))
#define VK_VERSION_MAJOR(v) (((uint32_t)(v) >> 22) & 0x7fU)
#define VK_VERSION_MINOR(v) (((uint32_t)(v) >> 12) & 0x3ffU)
#define VK_VERSION_PATCH(v) ((uint32_t)(v) & 0xfffU)
#define VK_MAX_PHYSICAL_DEVICE_NAME_SIZE 256
#define VK_UUID_SIZE 16

typedef struct VkApplicationInfo {
    int32_t sType;
    const void *pNext;
    const char *pApplicationName;
    uint32_t applicationVersion;
    const char *pEngineName;
    uint32_t engineVersion;
    uint32_t apiVersion;
} VkApplicationInfo;

typedef struct VkInstanceCreateInfo {
    int32_t sType;
    const void *pNext;
    VkFlags flags;
    const VkApplicationInfo *pApplicationInfo;
    uint32_t enabledLayerCount;
    const char *const *ppEnabledLayerNames;
    uint32_t enabledExtensionCount;
    const char *const *ppEnabledExtensionNames;
} VkInstanceCreateInfo;

/* VkPhysicalDeviceProperties: only the leading fields are read; the limits and sparse properties
 * that follow are covered by a generously sized tail (the real struct is about 824 bytes). */
typedef struct VkPhysicalDeviceProperties {
    uint32_t apiVersion;
    uint32_t driverVersion;
    uint32_t vendorID;
    uint32_t deviceID;
    int32_t deviceType;
    char deviceName[VK_MAX_PHYSICAL_DEVICE_NAME_SIZE];
    uint8_t pipelineCacheUUID[VK_UUID_SIZE];
    /* VkPhysicalDeviceLimits limits; VkPhysicalDeviceSparseProperties sparseProperties; */
    uint64_t tail[512];
} VkPhysicalDeviceProperties;

typedef PFN_vkVoidFunction (*PFN_vkGetInstanceProcAddr)(VkInstance, const char *);
typedef VkResult (*PFN_vkCreateInstance)(const VkInstanceCreateInfo *, const void *, VkInstance *);
typedef void (*PFN_vkDestroyInstance)(VkInstance, const void *);
typedef VkResult (*PFN_vkEnumeratePhysicalDevices)(VkInstance, uint32_t *, VkPhysicalDevice *);
typedef void (*PFN_vkGetPhysicalDeviceProperties)(VkPhysicalDevice, VkPhysicalDeviceProperties *);

static int fail(const char *what, long code) {
    fprintf(stderr, "vkprobe: %s failed: %ld\n", what, code);
    return 1;
}

int main(void) {
    void *lib = dlopen("libvulkan.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *e = dlerror();
        fprintf(stderr, "vkprobe: dlopen libvulkan.so.1 failed: %s\n", e ? e : "unknown error");
        return 1;
    }
    PFN_vkGetInstanceProcAddr gipa = (PFN_vkGetInstanceProcAddr)dlsym(lib, "vkGetInstanceProcAddr");
    if (!gipa) {
        fprintf(stderr, "vkprobe: libvulkan.so.1 has no vkGetInstanceProcAddr\n");
        return 1;
    }
    PFN_vkCreateInstance create = (PFN_vkCreateInstance)gipa(NULL, "vkCreateInstance");
    if (!create) {
        fprintf(stderr, "vkprobe: vkGetInstanceProcAddr(vkCreateInstance) returned NULL\n");
        return 1;
    }

    VkApplicationInfo app;
    memset(&app, 0, sizeof app);
    app.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO;
    app.pApplicationName = "vkprobe";
    app.applicationVersion = 1;
    app.pEngineName = "graft";
    app.engineVersion = 1;
    app.apiVersion = VK_MAKE_VERSION(1, 1, 0);

    VkInstanceCreateInfo ci;
    memset(&ci, 0, sizeof ci);
    ci.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO;
    ci.pApplicationInfo = &app;

    VkInstance inst = NULL;
    VkResult r = create(&ci, NULL, &inst);
    if (r != VK_SUCCESS)
        return fail("vkCreateInstance", r);

    PFN_vkEnumeratePhysicalDevices enumerate =
        (PFN_vkEnumeratePhysicalDevices)gipa(inst, "vkEnumeratePhysicalDevices");
    PFN_vkGetPhysicalDeviceProperties props =
        (PFN_vkGetPhysicalDeviceProperties)gipa(inst, "vkGetPhysicalDeviceProperties");
    PFN_vkDestroyInstance destroy = (PFN_vkDestroyInstance)gipa(inst, "vkDestroyInstance");
    if (!enumerate || !props) {
        fprintf(stderr, "vkprobe: instance functions missing\n");
        return 1;
    }

    uint32_t n = 0;
    r = enumerate(inst, &n, NULL);
    if (r != VK_SUCCESS)
        return fail("vkEnumeratePhysicalDevices", r);
    if (n == 0) {
        fprintf(stderr, "vkprobe: no physical devices\n");
        if (destroy)
            destroy(inst, NULL);
        return 1;
    }
    VkPhysicalDevice *devs = calloc(n, sizeof *devs);
    if (!devs) {
        fprintf(stderr, "vkprobe: out of memory\n");
        return 1;
    }
    r = enumerate(inst, &n, devs);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE)
        return fail("vkEnumeratePhysicalDevices", r);
    for (uint32_t i = 0; i < n; i++) {
        VkPhysicalDeviceProperties p;
        memset(&p, 0, sizeof p);
        props(devs[i], &p);
        p.deviceName[VK_MAX_PHYSICAL_DEVICE_NAME_SIZE - 1] = '\0';
        printf("device: %s api %u.%u.%u\n", p.deviceName, VK_VERSION_MAJOR(p.apiVersion),
               VK_VERSION_MINOR(p.apiVersion), VK_VERSION_PATCH(p.apiVersion));
    }
    fflush(stdout);
    free(devs);
    if (destroy)
        destroy(inst, NULL);
    return n > 0 ? 0 : 1;
}
