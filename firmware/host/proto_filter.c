/*
 * protocol.c's parser as a filter, for the fuzz test: bytes in on stdin, one line per
 * accepted frame out ("<type> <seq> <payload hex>"), then the counters
 * ("counters <frames_ok> <frames_bad> <bytes_skipped>"). The test feeds the same stream
 * to the Python parser and expects the very same lines.
 */
#include <stdio.h>

#include "../src/protocol.h"

static void on_frame(const proto_frame *frame, void *ctx)
{
    static const char hex[] = "0123456789abcdef";
    char line[2 * PROTO_MAX_PAYLOAD + 1];
    for (uint8_t i = 0; i < frame->length; i++) {
        line[2 * i] = hex[frame->payload[i] >> 4];
        line[2 * i + 1] = hex[frame->payload[i] & 0x0Fu];
    }
    line[2 * frame->length] = 0;
    fprintf(ctx, "%u %u %s\n", frame->type, frame->seq, line);
}

int main(void)
{
    static proto_parser parser;
    static unsigned char buf[65536];
    proto_parser_init(&parser);
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, stdin)) > 0)
        for (size_t i = 0; i < n; i++)
            proto_parser_feed(&parser, buf[i], on_frame, stdout);
    printf("counters %lu %lu %lu\n", (unsigned long)parser.frames_ok,
           (unsigned long)parser.frames_bad, (unsigned long)parser.bytes_skipped);
    return 0;
}
