package dev.livetap.testbed.bench;

import dev.livetap.testbed.HostCommand;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/** Builds {@code bare_handoff.c} with gcc -O2 at run time and runs it: the physical floor of a hand-off. */
final class BareHandoff {
    private static final java.time.Duration STEP = java.time.Duration.ofSeconds(20);
    private BareHandoff() {
    }

    /** One JSON object: fds, bytes, iterations, p50_us, p99_us, max_us. */
    static JsonNode run(Path dir, int fds, int bytes, int iterations) throws IOException {
        Path src = dir.resolve("bare_handoff.c");
        Path bin = dir.resolve("bare_handoff");
        if (!Files.exists(bin)) {
            try (InputStream in = BareHandoff.class.getResourceAsStream("bare_handoff.c")) {
                if (in == null) {
                    throw new IOException("bare_handoff.c is missing from the class path");
                }
                Files.copy(in, src);
            }
            HostCommand.check(STEP, "gcc", "-O2", "-o", bin.toString(), src.toString());
        }
        int chunks = Math.max(1, (fds + 252) / 253);
        String out = HostCommand.check(STEP, bin.toString(), String.valueOf(fds), String.valueOf(Math.max(bytes, chunks)),
                String.valueOf(iterations));
        String line = out.lines().filter(l -> l.startsWith("{")).reduce((a, b) -> b)
                .orElseThrow(() -> new IOException("bare_handoff printed no JSON: " + out));
        return new ObjectMapper().readTree(line);
    }
}
