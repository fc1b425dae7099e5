/*
 * The protocol core (protocol.h). Why the parser looks the way it does:
 *
 * It keeps the bytes of the candidate frame it is reading, and decides as early as a byte
 * allows: a length over PROTO_MAX_PAYLOAD or a wrong version fails the candidate at once,
 * the CRC at its last byte. A failed candidate is not thrown away whole: its first byte is
 * dropped and the rest is scanned again from the next start byte, so a good frame that
 * arrived inside a broken one's claimed length (a truncated frame followed by a good one)
 * is still found. Each pass drops at least one byte, so the work per byte is bounded and
 * no input can make it loop.
 *
 * The CRC uses a 16-entry table (64 bytes of RAM on the AVR, no PROGMEM): a byte costs two
 * lookups, and the same source reads the same on the host.
 */
#include "protocol.h"

#include <string.h>

static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
    0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
    0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
};

uint32_t proto_crc32(uint32_t crc, const uint8_t *data, size_t n)
{
    crc = ~crc;
    while (n--) {
        crc ^= *data++;
        crc = (crc >> 4) ^ crc_nibble[crc & 0x0Fu];
        crc = (crc >> 4) ^ crc_nibble[crc & 0x0Fu];
    }
    return ~crc;
}

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    put_u16(p, (uint16_t)v);
    put_u16(p + 2, (uint16_t)(v >> 16));
}

static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | ((uint16_t)p[1] << 8));
}

static uint32_t get_u32(const uint8_t *p)
{
    return get_u16(p) | ((uint32_t)get_u16(p + 2) << 16);
}

size_t proto_encode(uint8_t *out, size_t cap, uint8_t type, uint8_t seq,
                    const uint8_t *payload, uint8_t length)
{
    size_t total = PROTO_HEADER + (size_t)length + PROTO_CRC;
    if (length > PROTO_MAX_PAYLOAD || cap < total)
        return 0;
    out[0] = PROTO_START;
    out[1] = length;
    out[2] = PROTO_VERSION;
    out[3] = type;
    out[4] = seq;
    if (length)
        memcpy(out + PROTO_HEADER, payload, length);
    put_u32(out + PROTO_HEADER + length, proto_crc32(0, out + 1, PROTO_HEADER - 1 + length));
    return total;
}

void proto_parser_init(proto_parser *p)
{
    memset(p, 0, sizeof *p);
}

/* The candidate in buf[0..n): >0 its size when complete and good, 0 needs more, -1 bad. */
static int candidate(const proto_parser *p)
{
    if (p->n < 2)
        return 0;
    uint8_t length = p->buf[1];
    if (length > PROTO_MAX_PAYLOAD)
        return -1;
    if (p->n >= 3 && p->buf[2] != PROTO_VERSION)
        return -1;
    uint8_t total = (uint8_t)(PROTO_HEADER + length + PROTO_CRC);
    if (p->n < total)
        return 0;
    uint32_t crc = proto_crc32(0, p->buf + 1, PROTO_HEADER - 1 + length);
    return crc == get_u32(p->buf + PROTO_HEADER + length) ? total : -1;
}

/* Drop `count` bytes from the front, then any bytes before the next start byte. */
static void drop(proto_parser *p, uint8_t count)
{
    uint8_t skip = count;
    while (skip < p->n && p->buf[skip] != PROTO_START)
        skip++;
    p->bytes_skipped += (uint32_t)(skip - count);
    p->n = (uint8_t)(p->n - skip);
    memmove(p->buf, p->buf + skip, p->n);
}

void proto_parser_feed(proto_parser *p, uint8_t byte, proto_frame_fn on_frame, void *ctx)
{
    if (p->n == 0 && byte != PROTO_START) {
        p->bytes_skipped++;
        return;
    }
    p->buf[p->n++] = byte;
    while (p->n) {
        int status = candidate(p);
        if (status == 0)
            return;
        if (status > 0) {
            p->frames_ok++;
            proto_frame frame = {p->buf[3], p->buf[4], p->buf[1], p->buf + PROTO_HEADER};
            if (on_frame)
                on_frame(&frame, ctx);
            drop(p, (uint8_t)status);
        } else {
            p->frames_bad++;
            drop(p, 1);
        }
    }
}

int proto_targets_decode(const proto_frame *frame, proto_targets *out)
{
    if (frame->type != PROTO_MSG_TARGETS)
        return PROTO_ERR_TYPE;
    if (frame->length != PROTO_TARGETS_LEN)
        return PROTO_ERR_LENGTH;
    proto_targets t;
    for (uint8_t i = 0; i < PROTO_SERVOS; i++) {
        t.pulse_us[i] = get_u16(frame->payload + 2 * i);
        if (t.pulse_us[i] < PROTO_PULSE_MIN_US || t.pulse_us[i] > PROTO_PULSE_MAX_US)
            return PROTO_ERR_RANGE;
    }
    *out = t; /* all or nothing: a refused frame changes no target */
    return PROTO_OK;
}

void proto_targets_pack(const proto_targets *t, uint8_t payload[PROTO_TARGETS_LEN])
{
    for (uint8_t i = 0; i < PROTO_SERVOS; i++)
        put_u16(payload + 2 * i, t->pulse_us[i]);
}

void proto_state_pack(const proto_state *s, uint8_t payload[PROTO_STATE_LEN])
{
    uint8_t *p = payload;
    *p++ = s->ack_seq;
    *p++ = s->flags;
    *p++ = s->feedback_mask;
    *p++ = s->reserved;
    put_u32(p, s->uptime_ms), p += 4;
    for (uint8_t i = 0; i < PROTO_SERVOS; i++)
        put_u16(p, s->pulse_us[i]), p += 2;
    for (uint8_t i = 0; i < PROTO_SERVOS; i++)
        put_u16(p, s->feedback[i]), p += 2;
    for (uint8_t i = 0; i < PROTO_PADS; i++)
        put_u16(p, s->touch[i]), p += 2;
    const uint32_t counters[5] = {s->rx_ok, s->rx_bad, s->rx_rejected, s->rx_skipped,
                                  s->watchdog_trips};
    for (uint8_t i = 0; i < 5; i++)
        put_u32(p, counters[i]), p += 4;
}

int proto_state_decode(const proto_frame *frame, proto_state *out)
{
    if (frame->type != PROTO_MSG_STATE)
        return PROTO_ERR_TYPE;
    if (frame->length != PROTO_STATE_LEN)
        return PROTO_ERR_LENGTH;
    const uint8_t *p = frame->payload;
    out->ack_seq = p[0];
    out->flags = p[1];
    out->feedback_mask = p[2];
    out->reserved = p[3];
    out->uptime_ms = get_u32(p + 4);
    p += 8;
    for (uint8_t i = 0; i < PROTO_SERVOS; i++)
        out->pulse_us[i] = get_u16(p), p += 2;
    for (uint8_t i = 0; i < PROTO_SERVOS; i++)
        out->feedback[i] = get_u16(p), p += 2;
    for (uint8_t i = 0; i < PROTO_PADS; i++)
        out->touch[i] = get_u16(p), p += 2;
    out->rx_ok = get_u32(p);
    out->rx_bad = get_u32(p + 4);
    out->rx_rejected = get_u32(p + 8);
    out->rx_skipped = get_u32(p + 12);
    out->watchdog_trips = get_u32(p + 16);
    return PROTO_OK;
}
