package dev.livetap.engine.qmp;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.livetap.nativeio.Os;
import dev.livetap.nativeio.linux.JnaOs;
import dev.livetap.nativeio.testing.RequiresRoot;
import dev.livetap.testbed.HostCommand;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.slf4j.LoggerFactory;

/**
 * SO_PEERCRED for real: the socket is world-accessible (mode 0666 in a 0755 directory) so that
 * file permissions do not do the refusing; a client run as nobody (uid 65534) through setpriv is
 * refused by the peer policy, the log names its uid, and a same-uid client is still served.
 */
@RequiresRoot
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class QmpPeerCredentialsTest {
    @Test
    void aClientRunningAsNobodyIsRefusedAndLogged() throws Exception {
        Os os = JnaOs.instance();
        Path dir = Files.createTempDirectory("livetap-peer");
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path sock = dir.resolve("vm.qmp");
        Path probe = dir.resolve("PeerProbe.java");
        Files.copy(QmpPeerCredentialsTest.class.getResourceAsStream("/peer/PeerProbe.java"), probe);
        Files.setPosixFilePermissions(probe, PosixFilePermissions.fromString("rw-r--r--"));
        ListAppender<ILoggingEvent> log = new ListAppender<>();
        Logger logger = (Logger) LoggerFactory.getLogger(QmpServer.class);
        log.start();
        logger.addAppender(log);
        QmpCommandRegistry registry = new QmpCommandRegistry();
        QmpBuiltins.register(registry, QmpVersion.DEFAULT);
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        try (QmpServer server = QmpServer.start(os, registry,
                QmpServer.Config.defaults(sock, Clock.systemUTC()).withSocketMode(0666))) {
            HostCommand.Result nobody = HostCommand.run(Duration.ofSeconds(40), List.of("setpriv", "--reuid=65534", "--regid=65534",
                    "--clear-groups", java, "-Xshare:off", probe.toString(), sock.toString()));
            assertTrue(nobody.output().contains("EOF") && !nobody.output().contains("GREETING"),
                    "a peer with another uid is closed without a greeting: " + nobody.output());
            assertTrue(log.list.stream().anyMatch(e -> e.getFormattedMessage().contains("uid 65534")),
                    "the refusal is logged with the peer's uid: " + log.list);
            HostCommand.Result same = HostCommand.run(Duration.ofSeconds(40), List.of(java, "-Xshare:off", probe.toString(), sock.toString()));
            assertTrue(same.output().contains("GREETING"), "a same-uid peer is served: " + same.output());
        } finally {
            logger.detachAppender(log);
            Files.deleteIfExists(probe);
            Files.deleteIfExists(sock);
            Files.deleteIfExists(dir);
        }
    }
}
