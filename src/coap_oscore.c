/* coap_oscore.c - see coap_oscore.h. */
#include "coap_oscore.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

int coap_oscore_from_pdu(const coap_pdu_t *pdu, const uint8_t *payload, size_t len,
                         struct oscore_msg *m)
{
    coap_opt_iterator_t it;
    coap_opt_t *o;
    memset(m, 0, sizeof(*m));
    m->code = (uint8_t)coap_pdu_get_code(pdu);
    coap_option_iterator_init(pdu, &it, COAP_OPT_ALL);
    while ((o = coap_option_next(&it))) {
        if (it.number == COAP_OPTION_BLOCK1 || it.number == COAP_OPTION_BLOCK2 ||
            it.number == COAP_OPTION_SIZE1 || it.number == COAP_OPTION_SIZE2)
            continue;
        if (m->n_opts == OSCORE_MAX_OPTIONS)
            return -E2BIG;
        m->opts[m->n_opts++] = (struct oscore_option){.number = (uint16_t)it.number,
                                                      .len = (uint16_t)coap_opt_length(o),
                                                      .value = coap_opt_value(o)};
    }
    m->payload = payload;
    m->payload_len = len;
    return 0;
}

int coap_oscore_to_pdu(const struct oscore_msg *m, coap_pdu_t *resp)
{
    coap_pdu_set_code(resp, (coap_pdu_code_t)m->code);
    for (size_t i = 0; i < m->n_opts; i++)
        if (!coap_add_option(resp, m->opts[i].number, m->opts[i].len, m->opts[i].value))
            return -E2BIG;
    if (m->payload_len && !coap_add_data(resp, m->payload_len, m->payload))
        return -E2BIG;
    return 0;
}

void coap_oscore_error(coap_pdu_t *resp, uint8_t code, const char *diagnostic)
{
    coap_pdu_set_code(resp, (coap_pdu_code_t)code);
    coap_add_option(resp, COAP_OPTION_MAXAGE, 0, NULL);
    if (diagnostic)
        coap_add_data(resp, strlen(diagnostic), (const uint8_t *)diagnostic);
}

int coap_oscore_inner_pdu(const coap_pdu_t *req, const struct oscore_msg *inner,
                          coap_pdu_t **inner_pdu, coap_pdu_t **plain)
{
    coap_bin_const_t tok = coap_pdu_get_token(req);
    size_t isize = 64 + tok.length + inner->payload_len;
    for (size_t i = 0; i < inner->n_opts; i++)
        isize += 5 + inner->opts[i].len;
    coap_pdu_t *in = coap_pdu_init(coap_pdu_get_type(req), (coap_pdu_code_t)inner->code,
                                   coap_pdu_get_mid(req), isize);
    coap_pdu_t *pl = coap_pdu_init(COAP_MESSAGE_ACK, 0, 0, OSCORE_MAX_PLAINTEXT);
    bool ok = in && pl && coap_add_token(in, tok.length, tok.s) &&
              coap_add_token(pl, tok.length, tok.s);
    for (size_t i = 0; ok && i < inner->n_opts; i++) {
        const struct oscore_option *o = &inner->opts[i];
        if (o->number != COAP_OPTION_OBSERVE)
            ok = coap_add_option(in, o->number, o->len, o->value) != 0;
    }
    if (ok && inner->payload_len)
        ok = coap_add_data(in, inner->payload_len, inner->payload) != 0;
    if (!ok) {
        if (in)
            coap_delete_pdu(in);
        if (pl)
            coap_delete_pdu(pl);
        return -ENOMEM;
    }
    *inner_pdu = in;
    *plain = pl;
    return 0;
}
