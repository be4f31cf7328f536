/* standalone.c - replays fuzz inputs without libFuzzer: every file named
 * on the command line, or every file in a named directory, is passed to
 * LLVMFuzzerTestOneInput once. `make check` runs each target's corpus
 * through this under ASan+UBSan as a regression test. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path, unsigned *count)
{
    char *buf = NULL;
    size_t len = 0;
    int r = util_read_file(path, 16u << 20, &buf, &len);
    if (r < 0) {
        fprintf(stderr, "%s: cannot read (%d)\n", path, r);
        return -1;
    }
    /* hand the target an exact-size heap copy so ASan sees overreads */
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) {
        free(buf);
        return -1;
    }
    memcpy(copy, buf, len);
    LLVMFuzzerTestOneInput(copy, len);
    free(copy);
    free(buf);
    (*count)++;
    return 0;
}

int main(int argc, char **argv)
{
    unsigned count = 0;
    int bad = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) < 0) {
            perror(argv[i]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            bad |= run_file(argv[i], &count);
            continue;
        }
        struct dirent **ents;
        int n = scandir(argv[i], &ents, NULL, alphasort);
        if (n < 0) {
            perror(argv[i]);
            return 1;
        }
        for (int k = 0; k < n; k++) {
            if (ents[k]->d_name[0] != '.') {
                char *p = util_path_join(argv[i], ents[k]->d_name);
                if (p)
                    bad |= run_file(p, &count);
                free(p);
            }
            free(ents[k]);
        }
        free(ents);
    }
    printf("%u inputs replayed\n", count);
    return bad ? 1 : 0;
}
