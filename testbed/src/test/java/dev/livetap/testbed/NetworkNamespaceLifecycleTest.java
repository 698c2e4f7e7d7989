package dev.livetap.testbed;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.nativeio.testing.RequiresRoot;
import dev.livetap.testbed.testing.ChildJvm;
import dev.livetap.testbed.testing.NetnsReporterMain;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** A namespace's life: what runs inside, bounded commands, a child JVM inside, and close (the former PrivateNetnsTest, on the one namespace class). */
@RequiresRoot
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class NetworkNamespaceLifecycleTest {
    @Test
    void aNamespaceHasLoUpRunsCommandsWithATimeoutAndIsDeletedOnClose() {
        String name;
        try (NetworkNamespace ns = NetworkNamespace.create("t")) {
            name = ns.name();
            assertTrue(name.startsWith("livetap-t" + ProcessHandle.current().pid() + "-"), name);
            assertTrue(NetworkNamespace.list().contains(name), "the namespace exists while open");
            assertTrue(ns.run("ip", "link", "show", "lo").contains("UP"), "lo is up inside");
            assertFalse(ns.run("ip", "-o", "link", "show").contains("eth0"), "the host's interfaces are not visible inside");
            HostCommand.Result slow = ns.exec(Duration.ofMillis(300), "sleep", "5");
            assertTrue(slow.exitCode() == -1 && !slow.ok(), "a command past its timeout is killed and reported (-1): " + slow);
            assertEquals(3, ns.exec(Duration.ofSeconds(10), "sh", "-c", "exit 3").exitCode(), "the exit code is reported");
        }
        assertFalse(NetworkNamespace.list().contains(name), "close() deletes the namespace");
    }

    @Test
    void closeDeletesTheNamespaceAfterAFailureInside() {
        String name = null;
        try (NetworkNamespace ns = NetworkNamespace.create("t")) {
            name = ns.name();
            ns.run("false");
        } catch (IllegalStateException expected) {
            assertTrue(expected.getMessage().contains("false"), expected.getMessage());
        }
        assertFalse(NetworkNamespace.list().contains(name), "a failed command inside does not leave the namespace behind");
    }

    @Test
    void aChildJvmRunsInsideTheNamespaceAndIsKilledOnClose() {
        try (NetworkNamespace ns = NetworkNamespace.create("t");
             ChildJvm child = ChildJvm.builder(NetnsReporterMain.class).inNetns(ns).args("hold").start()) {
            assertTrue(child.awaitOutput("NETNS ", Duration.ofSeconds(20)), child.describe());
            String inside = ns.run("readlink", "/proc/self/ns/net").trim();
            assertTrue(child.stdout().contains("NETNS " + inside), "the child JVM runs in the namespace " + inside + ": " + child.describe());
            assertTrue(child.isAlive(), "the child holds until closed");
            child.close();
            assertFalse(child.isAlive(), "close() kills a child that is still running");
        }
    }
}
