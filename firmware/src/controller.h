/*
 * What the body does with the protocol, without any hardware: accept TARGETS frames that
 * are whole and in range, count and ignore every other one, fall back to the rest pose
 * when no good TARGETS frame came for WATCHDOG_MS, and fill the STATE frame. Portable like
 * protocol.c: the AVR main loop and the host body (firmware/host) run this same code, each
 * with its own clock, UART and pins.
 */
#ifndef NEMURI_CONTROLLER_H
#define NEMURI_CONTROLLER_H

#include "protocol.h"

#define WATCHDOG_MS 250u
#define STATE_PERIOD_MS 20u /* 50 Hz */

/* contracts.REST_POSE (0.0, 0.85, 0.0, 0.3, 0.0) rad through the default calibration (each
 * joint's URDF range onto 1000..2000 us, nemuri/body/serial_driver.py); a test holds the
 * two to each other. */
#define REST_PULSE_US {1500u, 1806u, 1161u, 1192u, 1000u}

typedef struct {
    proto_parser parser;
    uint16_t pulse_us[PROTO_SERVOS]; /* the servo outputs */
    uint32_t last_command_ms;
    uint8_t resting;
    uint8_t ack_seq;
    uint8_t tx_seq;
    uint32_t rx_rejected;
    uint32_t watchdog_trips;
} controller;

void controller_init(controller *c, uint32_t now_ms);
/* One received byte; a good TARGETS frame sets the outputs and feeds the watchdog. */
void controller_rx(controller *c, uint8_t byte, uint32_t now_ms);
/* The watchdog: call often (every loop); returns 1 when it has just tripped. */
int controller_tick(controller *c, uint32_t now_ms);
/* The next STATE frame into out (>= PROTO_MAX_FRAME bytes); returns its size. */
size_t controller_state_frame(controller *c, uint32_t now_ms, const uint16_t touch[PROTO_PADS],
                              const uint16_t feedback[PROTO_SERVOS], uint8_t feedback_mask,
                              uint8_t *out);

#endif
