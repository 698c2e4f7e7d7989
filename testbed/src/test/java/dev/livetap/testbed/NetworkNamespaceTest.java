package dev.livetap.testbed;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.nativeio.testing.RequiresRoot;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class NetworkNamespaceTest {
    private static final Duration T = Duration.ofSeconds(10);

    @Test
    void theNameRuleCarriesTheCreatorPidForEveryPurposeAndOlderNames() {
        assertEquals(123L, NetworkNamespace.creatorPid("livetap-t123-4").orElseThrow());
        assertEquals(77L, NetworkNamespace.creatorPid("livetap-chaos77-1").orElseThrow());
        assertEquals(9L, NetworkNamespace.creatorPid("livetap-self9").orElseThrow(), "names of older releases are still recognised");
        assertTrue(NetworkNamespace.creatorPid("livetap-").isEmpty(), "no pid, not a livetap namespace");
        assertTrue(NetworkNamespace.creatorPid("docker-123").isEmpty(), "somebody else's namespace is never ours");
        assertFalse(NetworkNamespace.isStale("livetap-t" + ProcessHandle.current().pid() + "-1"), "a live creator's namespace is not stale");
        assertTrue(NetworkNamespace.isStale("livetap-t4000000-1"), "pid 4000000 is above pid_max's ceiling: its creator is dead");
    }

    @Test
    void aLinkLineGivesItsIfindexAndAnEthernetLinksMac() {
        NetworkNamespace.Link tap = NetworkNamespace.Link.parse("7: lt0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc fq_codel state UP"
                + " mode DEFAULT group default qlen 1000\\    link/ether 02:aa:bb:cc:dd:ee brd ff:ff:ff:ff:ff:ff\n");
        assertEquals(7, tap.ifindex());
        assertEquals(java.util.Optional.of("02:aa:bb:cc:dd:ee"), tap.mac());
        NetworkNamespace.Link lo = NetworkNamespace.Link.parse("1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN"
                + " mode DEFAULT group default qlen 1000\\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00");
        assertEquals(1, lo.ifindex());
        assertTrue(lo.mac().isEmpty(), "a loopback link has no Ethernet MAC: " + lo);
    }

    @Test
    @RequiresRoot
    void staleRemovalSparesLiveCreatorsAndRemovesTheDeadOnes() {
        int deadPid = 4_000_000; // above pid_max's ceiling (2^22): no process can have it
        assertFalse(Files.exists(Path.of("/proc", String.valueOf(deadPid))));
        String stale = "livetap-t" + deadPid + "-1";
        try (NetworkNamespace live = NetworkNamespace.create("t")) {
            HostCommand.run(T, List.of("ip", "netns", "add", stale)).orThrow(); // after the first creation's own stale sweep
            assertTrue(live.name().startsWith("livetap-t" + ProcessHandle.current().pid() + "-"), live.name());
            assertTrue(NetworkNamespace.removeUnusedStale() >= 1, "a namespace of a dead creator is removed");
            assertFalse(NetworkNamespace.list().contains(stale), "the stale namespace is gone");
            assertTrue(NetworkNamespace.list().contains(live.name()), "a live process's namespace is never removed");
            assertEquals("", live.run("ip", "-6", "addr", "show", "dev", "lo").strip(), "IPv6 is off inside");
            live.close();
            assertFalse(NetworkNamespace.list().contains(live.name()), "close deletes it");
        } finally {
            HostCommand.run(T, List.of("ip", "netns", "del", stale));
        }
    }
}
