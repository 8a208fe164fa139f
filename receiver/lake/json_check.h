/*
 * json_check.h - is an event body text that PostgreSQL's jsonb input accepts?
 *
 * The lander (land.c) sends every body twice: as bytes (bronze.event.body) and, when this check
 * passes, as text for bronze.event.body_json (jsonb), so that promotion reads parsed JSON without
 * catching a cast error per record. The check is RFC 8259 JSON in UTF-8, made stricter where
 * PostgreSQL would refuse the text (a refused text would fail the file's COPY): no \u0000, no
 * unpaired UTF-16 surrogate escape, number literals of at most RX_JSON_NUM_MAX characters with an
 * exponent within +-RX_JSON_EXP_MAX, at most RX_JSON_DEPTH_MAX nested arrays and objects.
 */
#ifndef RX_LAKE_JSON_CHECK_H
#define RX_LAKE_JSON_CHECK_H

#include <stddef.h>

#define RX_JSON_DEPTH_MAX 256
#define RX_JSON_NUM_MAX   256
#define RX_JSON_EXP_MAX   900

/* 1 when s[0..len) is one JSON value (surrounded by JSON white space at most), else 0. */
int rx_json_ok(const char *s, size_t len);

#endif
