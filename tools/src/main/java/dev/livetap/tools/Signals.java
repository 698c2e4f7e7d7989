package dev.livetap.tools;

import java.util.function.Consumer;

/**
 * SIGTERM and SIGINT as a callback, so that a long-running command can clean up and exit with
 * its documented code instead of the JVM's 143/130. Falls back to the shutdown hook (which the
 * commands also install) where the JDK's signal API is unavailable.
 */
final class Signals {
    private Signals() {
    }

    @SuppressWarnings("restriction")
    static void onTermination(Consumer<String> callback) {
        for (String name : new String[] {"TERM", "INT"}) {
            try {
                sun.misc.Signal.handle(new sun.misc.Signal(name), s -> callback.accept("SIG" + s.getName()));
            } catch (IllegalArgumentException | UnsupportedOperationException e) {
                // not available: the shutdown hook still cleans up
            }
        }
    }
}
