/* fs_testutil.h - header-only file system helpers for the unit tests
 * (temporary directories). Test code only. */
#pragma once

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Removes dir and everything under it (symbolic links are not followed). */
__attribute__((unused)) static void tu_rm_rf(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d)
        return;
    while ((e = readdir(d))) {
        char p[1024];
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            tu_rm_rf(p);
        else
            unlink(p);
    }
    closedir(d);
    rmdir(dir);
}
