package dev.livetap.simulation.runtime;

import org.slf4j.LoggerFactory;

/** Faulty runs log warnings by design; a batch of thousands keeps the actors' logs at ERROR unless asked. */
public final class BatchLogLevel {
    private BatchLogLevel() {
    }

    public static void logs() {
        if (System.getProperty("livetap.log") != null) {
            return;
        }
        org.slf4j.Logger root = LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
        try { // logback is a runtime dependency only: reach its setLevel reflectively
            Class<?> level = Class.forName("ch.qos.logback.classic.Level");
            root.getClass().getMethod("setLevel", level).invoke(root, level.getField("OFF").get(null));
        } catch (ReflectiveOperationException | RuntimeException e) {
            // another SLF4J backend: leave its configuration alone
        }
    }
}
