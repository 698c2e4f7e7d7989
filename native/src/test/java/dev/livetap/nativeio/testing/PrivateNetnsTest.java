package dev.livetap.nativeio.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@RequiresRoot
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class PrivateNetnsTest {
    private static boolean listed(String name) {
        String ip = HostCapabilities.ipCommand().orElseThrow().toString();
        return CommandResult.run(Duration.ofSeconds(10), List.of(ip, "netns", "list")).orThrow().output().contains(name);
    }

    @Test
    void aNamespaceHasLoUpRunsCommandsWithATimeoutAndIsDeletedOnClose() {
        String name;
        try (PrivateNetns ns = PrivateNetns.create()) {
            name = ns.name();
            assertTrue(name.startsWith("livetap-t" + ProcessHandle.current().pid() + "-"), name);
            assertTrue(listed(name), "the namespace exists while open");
            assertTrue(ns.check("ip", "link", "show", "lo").contains("UP"), "lo is up inside");
            assertFalse(ns.check("ip", "-o", "link", "show").contains("eth0"), "the host's interfaces are not visible inside");
            CommandResult slow = ns.exec(Duration.ofMillis(300), "sleep", "5");
            assertTrue(slow.timedOut() && !slow.ok(), "a command past its timeout is killed and reported: " + slow);
            assertEquals(3, ns.exec("sh", "-c", "exit 3").exitCode(), "the exit code is reported");
        }
        assertFalse(listed(name), "close() deletes the namespace");
    }

    @Test
    void closeDeletesTheNamespaceAfterAFailureInside() {
        String name = null;
        try (PrivateNetns ns = PrivateNetns.create()) {
            name = ns.name();
            ns.check("false");
        } catch (IllegalStateException expected) {
            assertTrue(expected.getMessage().contains("false exited 1"), expected.getMessage());
        }
        assertFalse(listed(name), "a failed command inside does not leave the namespace behind");
    }

    @Test
    void aChildJvmRunsInsideTheNamespaceAndIsKilledOnClose() {
        try (PrivateNetns ns = PrivateNetns.create();
             ChildJvm child = ChildJvm.builder(NetnsReporterMain.class).inNetns(ns).args("hold").start()) {
            assertTrue(child.awaitOutput("NETNS ", Duration.ofSeconds(20)), child.describe());
            String inside = ns.check("readlink", "/proc/self/ns/net").trim();
            assertTrue(child.stdout().contains("NETNS " + inside), "the child JVM runs in the namespace " + inside + ": " + child.describe());
            assertTrue(child.isAlive(), "the child holds until closed");
            child.close();
            assertFalse(child.isAlive(), "close() kills a child that is still running");
        }
    }
}
