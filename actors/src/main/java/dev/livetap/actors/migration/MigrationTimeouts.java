package dev.livetap.actors.migration;

import java.time.Duration;

/**
 * Every wait of a migration has a limit ("put a limit on everything"), run on Pekko timers.
 *
 * @param channel   source: connecting; target: waiting for the source to connect
 * @param step      one round of requests to the NICs (stop, save, load one section, roll back)
 * @param stream    target: from the connection to the end of the stream; source: sending it
 * @param returnPath source: from the end of the stream to the target's answer
 */
public record MigrationTimeouts(Duration channel, Duration step, Duration stream, Duration returnPath) {
    public static final MigrationTimeouts DEFAULT = new MigrationTimeouts(Duration.ofSeconds(30), Duration.ofSeconds(10),
            Duration.ofSeconds(60), Duration.ofSeconds(30));
}
