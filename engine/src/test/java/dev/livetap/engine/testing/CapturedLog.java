package dev.livetap.engine.testing;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import java.util.List;
import org.slf4j.LoggerFactory;

/** Every log event of a piece of code, the root and {@code dev.livetap} loggers at DEBUG meanwhile (restored after). */
public final class CapturedLog {
    private CapturedLog() {
    }

    /** The code whose log is captured. */
    @FunctionalInterface
    public interface Body<T> {
        T run() throws Exception;
    }

    /** What the code returned and what it logged, in order. */
    public record Captured<T>(T result, List<ILoggingEvent> events) {
    }

    public static <T> Captured<T> atDebug(Body<T> body) throws Exception {
        Logger root = (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
        Logger livetap = (Logger) LoggerFactory.getLogger("dev.livetap");
        Level rootBefore = root.getLevel();
        Level livetapBefore = livetap.getLevel();
        ListAppender<ILoggingEvent> seen = new ListAppender<>();
        seen.start();
        root.addAppender(seen);
        root.setLevel(Level.DEBUG);
        livetap.setLevel(Level.DEBUG);
        T result;
        try {
            result = body.run();
        } finally {
            root.detachAppender(seen);
            root.setLevel(rootBefore);
            livetap.setLevel(livetapBefore);
        }
        return new Captured<>(result, List.copyOf(seen.list));
    }
}
