/* Replays fuzz inputs without libFuzzer: every file named on the command
 * line, or every file in a directory named there, is passed once to
 * LLVMFuzzerTestOneInput. `make test` links each fuzz target with this file
 * against the release library to replay the committed corpus; a crash or a
 * violated invariant aborts with the file's name on stderr. */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static long replayed = 0;
static char current[4096];

/* Names the input being replayed when it crashes or aborts, then dies of
 * the same signal. */
static void on_fatal(int sig) {
    static const char head[] = "\nreplay: fatal signal while running ";
    size_t n = strlen(current);
    if (write(2, head, sizeof head - 1) < 0 || write(2, current, n) < 0 || write(2, "\n", 1) < 0) {}
    signal(sig, SIG_DFL);
    raise(sig);
}

static int replay_file(const char *path) {
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long size;
    size_t got;
    if (!f) { perror(path); return 1; }
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        perror(path); fclose(f); return 1;
    }
    /* an exact-size copy, so that the library's reads are checked as in libFuzzer */
    buf = (uint8_t *)malloc(size ? (size_t)size : 1);
    if (!buf) { fclose(f); return 1; }
    got = fread(buf, 1, (size_t)size, f);
    fclose(f);
    if (got != (size_t)size) { fprintf(stderr, "%s: short read\n", path); free(buf); return 1; }
    snprintf(current, sizeof current, "%s (%ld bytes)", path, size);
    LLVMFuzzerTestOneInput(buf, (size_t)size);
    free(buf);
    replayed++;
    return 0;
}

static int replay_path(const char *path) {
    struct stat st;
    DIR *d;
    struct dirent *ent;
    int rc = 0;
    if (stat(path, &st) != 0) { perror(path); return 1; }
    if (!S_ISDIR(st.st_mode)) return replay_file(path);
    d = opendir(path);
    if (!d) { perror(path); return 1; }
    while ((ent = readdir(d)) != NULL) {
        char child[4096];
        if (ent->d_name[0] == '.') continue;
        snprintf(child, sizeof child, "%s/%s", path, ent->d_name);
        rc |= replay_path(child);
    }
    closedir(d);
    return rc;
}

int main(int argc, char **argv) {
    int i, rc = 0;
    signal(SIGABRT, on_fatal);
    signal(SIGSEGV, on_fatal);
    signal(SIGBUS, on_fatal);
    signal(SIGFPE, on_fatal);
    for (i = 1; i < argc; i++) rc |= replay_path(argv[i]);
    printf("%s: replayed %ld inputs\n", argc > 0 ? argv[0] : "replay", replayed);
    return rc;
}
