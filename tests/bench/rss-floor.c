/* rss-floor.c - the resident set of a process that links the libraries
 * wotgw links (same pkg-config list and hardening link flags as the
 * Makefile) and initializes them as the daemon does, and does nothing
 * else. tests/bench/run.sh prints it next to wotgw's RSS: the part of the
 * RSS that is the libraries' (mapped code and data of libcrypto, GnuTLS,
 * libcurl and its dependencies...), not wotgw's own. Prints KiB. */
#include <curl/curl.h>
#include <gnutls/gnutls.h>
#include <jansson.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-event.h>

int main(void)
{
    sd_event *ev = NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || gnutls_global_init() < 0 ||
        sd_event_default(&ev) < 0)
        return 1;
    EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", NULL);
    json_t *j = json_object();
    CURLM *m = curl_multi_init();
    printf("%s\n", MHD_get_version());
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = 0;
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, "VmRSS:", 6))
            sscanf(line + 6, "%ld", &kib);
    if (f)
        fclose(f);
    printf("%ld\n", kib);
    curl_multi_cleanup(m);
    json_decref(j);
    EVP_MD_free(md);
    sd_event_unref(ev);
    gnutls_global_deinit();
    curl_global_cleanup();
    return 0;
}
