/*
 * The serial protocol's core: CRC-32, frame encoding, the streaming frame parser, and the
 * two payloads (TARGETS in, STATE out). Portable C99 with no I/O and no allocation, so the
 * same file is built for the ATmega328P and for the host (tests, fuzzing, the host body).
 * The wire format is documented in firmware/PROTOCOL.md; nemuri/body/protocol.py is the
 * same format in Python, and the tests hold the two to each other byte for byte.
 */
#ifndef NEMURI_PROTOCOL_H
#define NEMURI_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_START 0xA5u
#define PROTO_VERSION 1u
#define PROTO_HEADER 5u /* start, length, version, type, seq */
#define PROTO_CRC 4u
#define PROTO_MAX_PAYLOAD 64u
#define PROTO_MAX_FRAME (PROTO_HEADER + PROTO_MAX_PAYLOAD + PROTO_CRC)

#define PROTO_MSG_TARGETS 0x01u /* host -> body */
#define PROTO_MSG_STATE 0x81u   /* body -> host */

#define PROTO_SERVOS 5u /* head_pan, head_tilt, shoulder, elbow, gripper */
#define PROTO_PADS 4u   /* gripper, head, body_left, body_right */
#define PROTO_PULSE_MIN_US 1000u
#define PROTO_PULSE_MAX_US 2000u
#define PROTO_ADC_MAX 1023u

#define PROTO_TARGETS_LEN (2u * PROTO_SERVOS)
#define PROTO_STATE_LEN (8u + 2u * PROTO_SERVOS * 2u + 2u * PROTO_PADS + 4u * 5u)

/* STATE flags */
#define PROTO_FLAG_RESTING 0x01u /* the watchdog (or boot) holds the rest pose */

typedef struct {
    uint8_t type;
    uint8_t seq;
    uint8_t length;
    const uint8_t *payload; /* valid only during the on_frame callback */
} proto_frame;

typedef void (*proto_frame_fn)(const proto_frame *frame, void *ctx);

/* Counters wrap at 2^32; the host takes differences. */
typedef struct {
    uint8_t buf[PROTO_MAX_FRAME];
    uint8_t n;
    uint32_t frames_ok;     /* CRC, length and version right: handed to on_frame */
    uint32_t frames_bad;    /* a start byte whose frame failed length, version or CRC */
    uint32_t bytes_skipped; /* bytes outside any candidate frame */
} proto_parser;

typedef struct {
    uint16_t pulse_us[PROTO_SERVOS];
} proto_targets;

typedef struct {
    uint8_t ack_seq;       /* seq of the last TARGETS frame acted on */
    uint8_t flags;         /* PROTO_FLAG_* */
    uint8_t feedback_mask; /* bit i: joint i has a feedback pot fitted */
    uint8_t reserved;
    uint32_t uptime_ms;
    uint16_t pulse_us[PROTO_SERVOS]; /* what the servo pins output now */
    uint16_t feedback[PROTO_SERVOS]; /* raw ADC 0..1023, 0 where no pot is fitted */
    uint16_t touch[PROTO_PADS];      /* raw ADC 0..1023 */
    uint32_t rx_ok;                  /* frames with a good CRC */
    uint32_t rx_bad;                 /* frames dropped for length, version or CRC */
    uint32_t rx_rejected;            /* good frames refused: type, length, out of range */
    uint32_t rx_skipped;             /* stray bytes outside frames */
    uint32_t watchdog_trips;
} proto_state;

/* CRC-32 (IEEE 802.3, reflected, as zlib.crc32): start with crc = 0. */
uint32_t proto_crc32(uint32_t crc, const uint8_t *data, size_t n);

/* One frame into out (cap >= PROTO_HEADER + length + PROTO_CRC); returns its size, 0 if
 * the payload is too long or out too small. */
size_t proto_encode(uint8_t *out, size_t cap, uint8_t type, uint8_t seq,
                    const uint8_t *payload, uint8_t length);

void proto_parser_init(proto_parser *p);

/* Feed one received byte; on_frame runs for every complete good frame, possibly more than
 * one when a failed candidate frame held good ones inside it (they are rescanned). */
void proto_parser_feed(proto_parser *p, uint8_t byte, proto_frame_fn on_frame, void *ctx);

/* TARGETS payload. Returns 0, or a negative proto_error. */
enum { PROTO_OK = 0, PROTO_ERR_TYPE = -1, PROTO_ERR_LENGTH = -2, PROTO_ERR_RANGE = -3 };
int proto_targets_decode(const proto_frame *frame, proto_targets *out);
void proto_targets_pack(const proto_targets *t, uint8_t payload[PROTO_TARGETS_LEN]);

void proto_state_pack(const proto_state *s, uint8_t payload[PROTO_STATE_LEN]);
int proto_state_decode(const proto_frame *frame, proto_state *out);

#endif
