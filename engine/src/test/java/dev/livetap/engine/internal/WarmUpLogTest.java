package dev.livetap.engine.internal;

import dev.livetap.engine.api.VmSpec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.spi.ILoggingEvent;
import dev.livetap.actors.RoutineLog;
import dev.livetap.engine.testing.CapturedLog;
import dev.livetap.nativeio.memory.InMemoryKernel;
import dev.livetap.nativeio.memory.InMemoryOs;
import dev.livetap.nativeio.memory.InMemoryReactorDriver;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A warm-up is no news (issue 16): its sixteen migrations log at DEBUG, each line with its
 * migration id in the MDC, and nothing of it reaches INFO but the one summary line.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class WarmUpLogTest {
    @Test
    void theWarmUpLogsOneInfoLineAndItsMigrationsAtDebugWithTheirIds() throws Exception {
        InMemoryKernel kernel = new InMemoryKernel();
        InMemoryOs os = kernel.newProcess("vmm");
        CapturedLog.Captured<WarmUp.Report> run = CapturedLog.atDebug(() -> {
            try (InMemoryReactorDriver reactors = new InMemoryReactorDriver(os);
                    EngineCore engine = EngineCore.create(EngineSettings.defaults().withOs(os).withSystemName("warm"))) {
                return engine.warmUp();
            }
        });
        assertTrue(run.result().ok(), "the warm-up succeeds: " + run.result());
        List<ILoggingEvent> events = run.events();
        List<String> info = events.stream().filter(e -> e.getLevel().isGreaterOrEqual(Level.INFO))
                .filter(e -> e.getLoggerName().startsWith("dev.livetap") || e.getFormattedMessage().contains("dead letter"))
                .filter(e -> !e.getLoggerName().equals(EngineCore.class.getName())) // the engine's close
                .map(e -> e.getLevel() + " " + e.getLoggerName() + " " + e.getFormattedMessage()).toList();
        assertEquals(1, info.size(), "one INFO line (the summary), no dead-letter notice: " + info);
        assertTrue(info.get(0).contains("warm-up done"), info.get(0));
        List<ILoggingEvent> statuses = events.stream().filter(e -> e.getFormattedMessage().matches("migration \\S+: status .*"))
                .toList();
        assertFalse(statuses.isEmpty(), "the warm-up's migrations log their statuses at DEBUG");
        for (ILoggingEvent e : statuses) {
            assertEquals(Level.DEBUG, e.getLevel(), e.getFormattedMessage());
            String id = e.getMDCPropertyMap().get("migrationId");
            assertTrue(id != null && e.getFormattedMessage().startsWith("migration " + id + ":"),
                    "the MDC carries the line's migration id: " + e.getMDCPropertyMap() + " / " + e.getFormattedMessage());
            assertEquals("true", e.getMDCPropertyMap().get(RoutineLog.WARM_UP_MDC_KEY), "marked as the warm-up's");
        }
    }
}
