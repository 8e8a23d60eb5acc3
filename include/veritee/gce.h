/*
 * veritee/gce.h — Google Compute Engine Shielded/Confidential VM vTPM
 * attestations (go-tpm-tools' `attest.Attestation` protobuf): the
 * "gce-vtpm" registry entry, for `veritee verify gce-vtpm FILE` only.  There
 * is no KBS tee string for it and the broker has no Google roots, so the
 * broker never accepts it.  Format, steps and claims: docs/gce-vtpm.md.
 *
 * Evidence JSON: {"attestation": std base64 of the protobuf}; load_file also
 * takes the raw protobuf (.pb).
 *
 * Steps (each failure names its step):
 *   parse     base64, protobuf, the AK's TPMT_PUBLIC (restricted signing
 *             key, RSA or ECC), every TPMS_ATTEST
 *   chain     the AK certificate (+ the evidence's and the roots' non-self-
 *             signed intermediates) to a self-signed root in
 *             ctx->gce_roots at ctx->now; no roots configured = rejected;
 *             the certificate's key must be the AK of ak_pub
 *   signature every quote signed by the AK
 *   binding   each quote's PCR digest over that bank's PCR values (which
 *             must be exactly the quoted PCRs); all quotes carry the same
 *             extraData, equal to binding->report_data exactly when a
 *             binding is given; the event log (when present) replays to the
 *             SHA-256 bank
 */
#ifndef VERITEE_GCE_H
#define VERITEE_GCE_H

#include "veritee/evidence.h"

VT_API extern const struct vt_tee vt_tee_gce_vtpm;

#endif
