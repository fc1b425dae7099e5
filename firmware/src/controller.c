/* The body's behaviour on the protocol (controller.h). */
#include "controller.h"

#include <string.h>

static const uint16_t rest_pulse_us[PROTO_SERVOS] = REST_PULSE_US;

typedef struct {
    controller *c;
    uint32_t now_ms;
} rx_context;

static void rest(controller *c)
{
    memcpy(c->pulse_us, rest_pulse_us, sizeof c->pulse_us);
    c->resting = 1;
}

void controller_init(controller *c, uint32_t now_ms)
{
    memset(c, 0, sizeof *c);
    proto_parser_init(&c->parser);
    rest(c); /* boot at rest: nothing has been asked yet */
    c->last_command_ms = now_ms;
}

static void on_frame(const proto_frame *frame, void *ctx)
{
    rx_context *rx = ctx;
    proto_targets targets;
    if (proto_targets_decode(frame, &targets) != PROTO_OK) {
        rx->c->rx_rejected++;
        return;
    }
    memcpy(rx->c->pulse_us, targets.pulse_us, sizeof targets.pulse_us);
    rx->c->resting = 0;
    rx->c->ack_seq = frame->seq;
    rx->c->last_command_ms = rx->now_ms;
}

void controller_rx(controller *c, uint8_t byte, uint32_t now_ms)
{
    rx_context rx = {c, now_ms};
    proto_parser_feed(&c->parser, byte, on_frame, &rx);
}

int controller_tick(controller *c, uint32_t now_ms)
{
    if (c->resting || (uint32_t)(now_ms - c->last_command_ms) < WATCHDOG_MS)
        return 0;
    rest(c);
    c->watchdog_trips++;
    return 1;
}

size_t controller_state_frame(controller *c, uint32_t now_ms, const uint16_t touch[PROTO_PADS],
                              const uint16_t feedback[PROTO_SERVOS], uint8_t feedback_mask,
                              uint8_t *out)
{
    proto_state s;
    memset(&s, 0, sizeof s);
    s.ack_seq = c->ack_seq;
    s.flags = c->resting ? PROTO_FLAG_RESTING : 0;
    s.feedback_mask = feedback_mask;
    s.uptime_ms = now_ms;
    memcpy(s.pulse_us, c->pulse_us, sizeof s.pulse_us);
    for (uint8_t i = 0; i < PROTO_SERVOS; i++)
        s.feedback[i] = (feedback_mask >> i) & 1u ? feedback[i] : 0;
    memcpy(s.touch, touch, sizeof s.touch);
    s.rx_ok = c->parser.frames_ok;
    s.rx_bad = c->parser.frames_bad;
    s.rx_rejected = c->rx_rejected;
    s.rx_skipped = c->parser.bytes_skipped;
    s.watchdog_trips = c->watchdog_trips;
    uint8_t payload[PROTO_STATE_LEN];
    proto_state_pack(&s, payload);
    return proto_encode(out, PROTO_MAX_FRAME, PROTO_MSG_STATE, c->tx_seq++, payload,
                        PROTO_STATE_LEN);
}
