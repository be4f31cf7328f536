/* coap_oscore.h - between libcoap PDUs and the OSCORE code's messages
 * (objsec/oscore.h struct oscore_msg), for every CoAP endpoint that speaks
 * OSCORE: the gateway's CoAP front end (north/coaps.c) and the simulated
 * device (tests/sim/coap.c).
 */
#pragma once

#include <coap3/coap.h>
#include <stddef.h>
#include <stdint.h>

#include "objsec/oscore.h"

/* m from pdu: its code and its options other than the block-wise ones
 * (libcoap has reassembled an outer Block1; RFC 8613 §4.1.3.4), sorted as
 * in the PDU, with payload/len as the payload (pointers borrowed). 0, or
 * -E2BIG with more than OSCORE_MAX_OPTIONS options. */
int coap_oscore_from_pdu(const coap_pdu_t *pdu, const uint8_t *payload, size_t len,
                         struct oscore_msg *m);
/* Writes m (its code, options and payload) into resp. 0, or -E2BIG when
 * it does not fit. */
int coap_oscore_to_pdu(const struct oscore_msg *m, coap_pdu_t *resp);
/* An unprotected OSCORE error answer (§8.2): the code, the diagnostic
 * (NULL: none) and Max-Age 0, so that no proxy caches it. */
void coap_oscore_error(coap_pdu_t *resp, uint8_t code, const char *diagnostic);
/* The decrypted inner request of req as a PDU of its own (req's type,
 * message ID and token; inner's code, options but Observe, and payload:
 * a caller that serves Observe over OSCORE reads it from inner, as
 * north/coaps.c does) in *inner_pdu, and an empty
 * acknowledgement with the same token and room for an OSCORE plaintext
 * for the answer in *plain. 0, or -ENOMEM (nothing left to free). */
int coap_oscore_inner_pdu(const coap_pdu_t *req, const struct oscore_msg *inner,
                          coap_pdu_t **inner_pdu, coap_pdu_t **plain);
