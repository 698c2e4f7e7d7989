package dev.livetap.codec;

import com.fasterxml.jackson.databind.JsonNode;

/** What a completely loaded stream said about itself: its header, section count and trailing description. */
public record StreamSummary(StreamHeader header, int sections, JsonNode description) {
}
