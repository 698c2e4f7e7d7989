package dev.livetap.engine.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.spi.ILoggingEvent;
import dev.livetap.engine.internal.EngineCore;
import dev.livetap.engine.internal.EngineSettings;
import dev.livetap.engine.internal.WarmUp;
import dev.livetap.engine.testing.CapturedLog;
import dev.livetap.nativeio.memory.InMemoryKernel;
import dev.livetap.nativeio.memory.InMemoryOs;
import dev.livetap.nativeio.memory.InMemoryReactorDriver;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The VMM host's warm-up drives every one of its migrations over QMP (servers on the warm-up's in-memory
 * sockets, the local-migration driver's commands and events), and it is still no news: one INFO line.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class QmpWarmUpTest {
    @Test
    void everyWarmUpMigrationGoesOverQmpAndOnlyTheSummaryIsInfo() throws Exception {
        InMemoryOs os = new InMemoryKernel().newProcess("vmm");
        CapturedLog.Captured<WarmUp.Report> run = CapturedLog.atDebug(() -> {
            try (InMemoryReactorDriver reactors = new InMemoryReactorDriver(os);
                    EngineCore engine = EngineCore.create(EngineSettings.defaults().withOs(os).withSystemName("qmp-warm"))) {
                return engine.warmUp(QmpWarmUp::migrate);
            }
        });
        WarmUp.Report report = run.result();
        assertTrue(report.ok(), "the warm-up succeeds: " + report);
        assertEquals(WarmUp.MIGRATIONS, report.migrations(), "all its migrations, not as many as fit in a time");
        List<ILoggingEvent> events = run.events();
        List<ILoggingEvent> qmpServers = events.stream()
                .filter(e -> e.getFormattedMessage().matches("QMP server listening on /livetap-warm-up/warmup\\d+-(src|tgt)\\.qmp"))
                .toList();
        assertEquals(2 * WarmUp.MIGRATIONS, qmpServers.size(), "a QMP server per side of every migration");
        qmpServers.forEach(e -> assertEquals(Level.DEBUG, e.getLevel(), e.getFormattedMessage()));
        assertFalse(events.stream().noneMatch(e -> e.getFormattedMessage().contains("status completed")),
                "the migrations completed");
        List<String> info = events.stream().filter(e -> e.getLevel().isGreaterOrEqual(Level.INFO))
                .filter(e -> e.getLoggerName().startsWith("dev.livetap"))
                .filter(e -> !e.getLoggerName().equals(EngineCore.class.getName())) // the engine's close
                .map(e -> e.getLevel() + " " + e.getLoggerName() + " " + e.getFormattedMessage()).toList();
        assertEquals(1, info.size(), "one INFO line (the summary): " + info);
        assertTrue(info.get(0).contains("warm-up done") && info.get(0).contains(WarmUp.MIGRATIONS + " migrations"), info.get(0));
    }
}
