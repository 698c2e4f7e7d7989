package dev.livetap.nativeio.linux;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.testbed.testing.ChildJvm;
import dev.livetap.testbed.NetworkNamespace;
import dev.livetap.nativeio.testing.RequiresTun;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Kernel TAP facts (stack.md) checked through JnaOs by {@link TapFactsMain}, which runs once in a
 * child JVM started inside a private network namespace; each test reports one of its checks.
 */
@RequiresTun
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class TapKernelFactsTest {
    private static final Map<String, String> RESULTS = new HashMap<>();
    private static String transcript;

    @BeforeAll
    static void runChild() {
        try (NetworkNamespace ns = NetworkNamespace.create();
             ChildJvm child = ChildJvm.builder(TapFactsMain.class).inNetns(ns).start()) {
            int exit = child.waitFor(Duration.ofSeconds(45));
            transcript = child.describe();
            for (String line : child.stdout().split("\n")) {
                if (line.startsWith("CHECK ")) {
                    String[] parts = line.split(" ", 3);
                    RESULTS.put(parts[1], parts.length > 2 ? parts[2] : "");
                }
            }
            assertTrue(child.stdout().contains("DONE"), "the child ran every check: " + transcript);
            assertTrue(exit == 0 || exit == 1, "the child exits 0 (all passed) or 1 (some failed): " + transcript);
        }
    }

    @AfterAll
    static void clear() {
        RESULTS.clear();
    }

    private static String passed(String check) {
        String result = RESULTS.get(check);
        assertNotNull(result, "check " + check + " ran in the child: " + transcript);
        assertTrue(result.startsWith("PASS"), check + ": " + result);
        return result.substring(4).trim();
    }

    @Test
    void fourQueueTapHasItsNameFlagsAndNonBlockingCloexecTunFds() {
        assertEquals("flags 0x5102", passed("four-queues"), "TUNGETIFF returns exactly IFF_TAP|IFF_NO_PI|IFF_VNET_HDR|IFF_MULTI_QUEUE");
    }

    @Test
    void featuresOfferMultiQueueTapsWithVnetHeaders() {
        passed("features");
    }

    @Test
    void vnetHeaderSizeIsPerDevice() {
        passed("vnet-hdr-per-device");
    }

    @Test
    void offloadsAndPersistApply() {
        passed("offload-and-persist");
    }

    @Test
    void aDetachedQueueReportsIffDetachQueue() {
        assertTrue(passed("detach-flag").contains("detached flags 0x5502"), "IFF_DETACH_QUEUE (0x400) is added to 0x5102");
    }

    @Test
    void kcmpTellsDupsFromDifferentQueues() {
        passed("kcmp");
    }

    @Test
    void emptyQueueReadReturnsZero() {
        passed("read-eagain");
    }

    @Test
    void mixedFlagsAreExplainedEinval() {
        assertTrue(passed("einval-mixed-flags").contains("IFF_MULTI_QUEUE"), "EINVAL is explained");
    }

    @Test
    void secondFdOnSingleQueueTapIsExplainedEbusy() {
        passed("ebusy-single-queue");
    }

    @Test
    void the257thQueueIsRefusedWithE2bigAndAClearMessage() {
        String message = passed("queue-257");
        assertTrue(message.startsWith("ioctl(TUNSETIFF) on lt257 queue 257: at most 256 queues per TAP device (E2BIG)"), message);
        assertTrue(message.contains("the 256 queue fds this call had opened were closed"), message);
    }

    @Test
    void the257thQueueIsRefusedAcrossCallsToo() {
        assertTrue(passed("queue-257-after-256").contains("(E2BIG)"));
    }

    @Test
    void aThreadInAnotherNetnsIsRefusedTunsetiff() {
        String message = passed("netns-refusal");
        assertTrue(message.startsWith("ioctl(TUNSETIFF) on ltns refused"), message);
    }

    @Test
    void theChildLeakedNoFds() {
        passed("no-leak");
    }
}
