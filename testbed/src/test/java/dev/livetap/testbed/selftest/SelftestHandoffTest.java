package dev.livetap.testbed.selftest;

import dev.livetap.testbed.HostCommand;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.nativeio.testing.RequiresTun;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@RequiresTun
@Timeout(value = 90, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class SelftestHandoffTest {
    @Test
    void twoQueueHandoffBetweenChildProcessesSucceedsAndLeavesNoNamespace() {
        HostChecks.Check c = SelftestHandoff.run(2, HandoffChild.class.getName());
        assertTrue(c.ok(), "the selftest hand-off passes on a host with TUN and root: " + c.detail());
        assertTrue(c.detail().contains("2 fds of ltself0"), "the detail names the fds and the device: " + c.detail());
        String netns = HostCommand.run(Duration.ofSeconds(10), List.of("ip", "netns", "list")).output();
        assertFalse(netns.contains("livetap-self" + ProcessHandle.current().pid()), "the selftest deletes its namespace: " + netns);
    }

    @Test
    void missingToolIsReportedWithItsPackage() {
        HostChecks.Check c = HostChecks.tool("livetap-no-such-tool", "some-package");
        assertFalse(c.ok(), "a missing tool fails its check");
        assertTrue(c.detail().contains("apt-get install -y some-package"), "the detail says how to install it: " + c.detail());
    }
}
