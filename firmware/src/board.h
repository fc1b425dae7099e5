/*
 * Where things are wired on the ATmega328P board (Arduino Uno/Nano pin names in brackets).
 * Change here, rebuild, reflash; the host side needs no change.
 */
#ifndef NEMURI_BOARD_H
#define NEMURI_BOARD_H

#define F_CPU_HZ 16000000UL
#define BAUD 115200UL

/* Servo signal pins, contracts.JOINTS order: PD2..PD6 [D2..D6]. PD0/PD1 are the UART. */
#define SERVO_PORT PORTD
#define SERVO_DDR DDRD
#define SERVO_FIRST_BIT 2

/* Touch pads (force-sensitive resistor dividers): ADC0..ADC3 [A0..A3], pads in
 * contracts.TOUCH_PADS order (gripper, head, body_left, body_right). */
#define PAD_FIRST_ADC 0

/* Feedback pots, when fitted: joint i on FEEDBACK_ADC[i]. Bit i of FEEDBACK_MASK says joint
 * i has one; the gripper has no channel left on a Nano (ADC6/ADC7 exist on a Nano only). */
#ifndef FEEDBACK_MASK
#define FEEDBACK_MASK 0x00u
#endif
#define FEEDBACK_ADC {4u, 5u, 6u, 7u, 0xFFu}

#endif
