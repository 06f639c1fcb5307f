/*
 * dispatch.c - the shipped libsoftmaxkit.so: one library for every x86-64 CPU.
 *
 * The whole library is built once per x86-64 level (libsoftmaxkit-sse2.so,
 * -avx2.so, -avx512.so, next to this one). On the first call of any smk_
 * function (pthread_once: thread-safe), this library picks the best level the
 * CPU and OS support (dispatch/cpu_select.h), or the one SOFTMAXKIT_CPU
 * names, loads that variant from its own directory (dladdr, realpath) with
 * RTLD_LOCAL, and from then on forwards every smk_ function to it through a
 * table (one indirect call). The forwarding functions are generated from
 * include/softmaxkit.h by dispatch/gen_dispatch.py, so this library exports
 * exactly the header's functions. A level that cannot run is never loaded:
 * every call then fails with a status and smk_last_error_message() says why.
 * Variants are never unloaded.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "softmaxkit.h"
#include "cpu_select.h"

#if defined(__GNUC__) && !defined(__clang__)
/* Messages are cut at the buffer's end on purpose. */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

typedef void (*smk_dispatch_fn)(void);
static const smk_dispatch_fn *smk_dispatch_table(void);
static smk_status smk_dispatch_failure_status(void);
static const char *smk_dispatch_failure_message(void);

/* SMK_DISPATCH_COUNT, SMK_DISPATCH_NAMES and every smk_ function. */
#include "smk_dispatch_table.inc"

static pthread_once_t smk_dispatch_once = PTHREAD_ONCE_INIT;
static smk_dispatch_fn smk_dispatch_functions[SMK_DISPATCH_COUNT];
static int smk_dispatch_loaded;
static smk_status smk_dispatch_status = SMK_ERROR_INTERNAL;
static char smk_dispatch_message[2048] = "SoftmaxKit: the CPU variant was not loaded";

/* This library's directory, found when it is loaded (before the program can
 * change its working directory under a relative load path): the directory
 * of the file the path it was loaded by resolves to, else of that path. */
static char smk_dispatch_dir[PATH_MAX];

__attribute__((constructor)) static void smk_dispatch_find_directory(void)
{
    Dl_info info;
    char resolved[PATH_MAX];
    if (!dladdr(&smk_dispatch_once, &info) || !info.dli_fname || !info.dli_fname[0])
        return;
    const char *path = realpath(info.dli_fname, resolved) ? resolved : info.dli_fname;
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(smk_dispatch_dir, sizeof smk_dispatch_dir, ".");
        return;
    }
    size_t len = slash == path ? 1 : (size_t)(slash - path); /* "/libsoftmaxkit.so" */
    if (len >= sizeof smk_dispatch_dir)
        return;
    memcpy(smk_dispatch_dir, path, len);
    smk_dispatch_dir[len] = '\0';
}

/* Loads level l's variant into the table; 0 with the reason appended to
 * smk_dispatch_message when it cannot. */
static int smk_dispatch_try(const char *dir, int l)
{
    char path[PATH_MAX];
    size_t used = strlen(smk_dispatch_message);
    char *note = smk_dispatch_message + used;
    size_t room = sizeof smk_dispatch_message - used;
    if (snprintf(path, sizeof path, "%s/libsoftmaxkit-%s.so", dir, SMK_LEVEL_NAMES[l]) >= (int)sizeof path) {
        snprintf(note, room, "; %s: path too long", SMK_LEVEL_NAMES[l]);
        return 0;
    }
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char *why = dlerror();
        snprintf(note, room, "; %s", why ? why : path);
        return 0;
    }
    smk_dispatch_fn table[SMK_DISPATCH_COUNT];
    for (int i = 0; i < SMK_DISPATCH_COUNT; i++) {
        void *sym = dlsym(handle, SMK_DISPATCH_NAMES[i]);
        if (!sym) {
            snprintf(note, room, "; %s lacks %s (another version of SoftmaxKit?)", path, SMK_DISPATCH_NAMES[i]);
            dlclose(handle);
            return 0;
        }
        memcpy(&table[i], &sym, sizeof sym);
    }
    uint32_t version = 0;
    for (int i = 0; i < SMK_DISPATCH_COUNT; i++)
        if (strcmp(SMK_DISPATCH_NAMES[i], "smk_version") == 0)
            version = ((uint32_t (*)(void))table[i])();
    if (version != SMK_VERSION_NUMBER) {
        snprintf(note, room, "; %s is version %u, this library %u", path, (unsigned)version,
                 (unsigned)SMK_VERSION_NUMBER);
        dlclose(handle);
        return 0;
    }
    memcpy(smk_dispatch_functions, table, sizeof table);
    return 1;
}

static void smk_dispatch_load(void)
{
    int order[SMK_LEVEL_COUNT];
    int n = smk_cpu_choose(getenv("SOFTMAXKIT_CPU"), smk_cpu_levels(), order, smk_dispatch_message,
                           sizeof smk_dispatch_message);
    if (n == 0) {
        smk_dispatch_status = SMK_ERROR_UNSUPPORTED;
        return;
    }
    const char *dir = smk_dispatch_dir;
    if (!dir[0]) {
        smk_dispatch_status = SMK_ERROR_IO;
        snprintf(smk_dispatch_message, sizeof smk_dispatch_message,
                 "SoftmaxKit: cannot find the directory libsoftmaxkit.so was loaded from");
        return;
    }
    snprintf(smk_dispatch_message, sizeof smk_dispatch_message,
             "SoftmaxKit: cannot load the CPU variant of the library (libsoftmaxkit-<level>.so next to "
             "libsoftmaxkit.so in %s)", dir);
    for (int i = 0; i < n; i++) {
        if (smk_dispatch_try(dir, order[i])) {
            smk_dispatch_loaded = 1;
            smk_dispatch_message[0] = '\0';
            smk_dispatch_status = SMK_OK;
            return;
        }
    }
    smk_dispatch_status = SMK_ERROR_IO;
}

/* The loaded variant's functions, in header order; NULL when none loaded. */
static const smk_dispatch_fn *smk_dispatch_table(void)
{
    pthread_once(&smk_dispatch_once, smk_dispatch_load);
    return smk_dispatch_loaded ? smk_dispatch_functions : NULL;
}

static smk_status smk_dispatch_failure_status(void) { return smk_dispatch_status; }

static const char *smk_dispatch_failure_message(void) { return smk_dispatch_message; }
