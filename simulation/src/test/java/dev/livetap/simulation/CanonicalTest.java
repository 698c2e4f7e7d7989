package dev.livetap.simulation;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.livetap.simulation.trace.Canonical;
import java.util.Random;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The one-pass canonicaliser removes exactly what its reference regex removes. */
class CanonicalTest {
    private static final Pattern REFERENCE = Pattern.compile(Canonical.REFERENCE);
    private static final String[] TOKENS = {"#", "-", "#-", "@", "$$Lambda", "Lambda$", "/0x", "0x", "StreamSupervisor-",
        "flow-", "/user/r", "livetap-sim-", "0", "7", "12", "a", "f", "g", "deadbeef", "0123456789abcdef", " ", ",", "]",
        ")", "\t", "x", "/", "$", "L", "Actor[pekko://livetap-sim-3/user/r12-source/nic-nic0#-1234]"};

    private static String reference(String s) {
        return REFERENCE.matcher(s).replaceAll("");
    }

    @Test
    void realLines() {
        String[] lines = {
            "Subscribe[subscriber=Actor[pekko://livetap-sim-2/user/r0-source-events#1937468271]]",
            "StreamInit[ack=Actor[pekko://livetap-sim-1/user/r5-target/migration-target-1/StreamSupervisor-12/$$a#-77]]",
            "Transmit[frame=[B@1b2c3d4e]", "x=dev.livetap.Foo$$Lambda$123/0x0000000800c4b440@5e5f6a7b, y",
            "Lambda$45/0x00000008001234ab", "flow-12-3-actorRefSink", "ptr 0x7f00aa001234 and 0x12",
            "GuestAnswer[op=10, state=GuestState[mac=52:54:00:12:34:56, ip=10.0.0.2]]"};
        for (String l : lines) {
            assertEquals(reference(l), Canonical.strip(l), l);
        }
    }

    /** Batch 42's run 1855 once printed {@code frame=[B@7ba]}: an identity hash below 0x1000 is 1-3 hex digits. */
    @Test
    void shortIdentityHashesGoToo() {
        for (String h : new String[] {"7ba", "1", "fff", "1000", "7ba3c0de"}) {
            String line = "Rx[frame=Received[queue=3, frame=[B@" + h + "]]";
            assertEquals("Rx[frame=Received[queue=3, frame=[B]]", Canonical.strip(line), line);
            assertEquals(reference(line), Canonical.strip(line), line);
        }
    }

    @Test
    void randomStringsOfTheInterestingTokens() {
        Random r = new Random(6);
        for (int k = 0; k < 40_000; k++) {
            StringBuilder b = new StringBuilder();
            int n = r.nextInt(12);
            for (int i = 0; i < n; i++) {
                b.append(TOKENS[r.nextInt(TOKENS.length)]);
            }
            String s = b.toString();
            assertEquals(reference(s), Canonical.strip(s), s);
        }
    }
}
