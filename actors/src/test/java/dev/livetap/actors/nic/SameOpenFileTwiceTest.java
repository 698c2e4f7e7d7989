package dev.livetap.actors.nic;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.memory.InMemoryKernel;
import dev.livetap.nativeio.memory.InMemoryOs;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The NIC's check that no open file arrives for two queues, by sorting (kcmp order), against every pair. */
class SameOpenFileTwiceTest {
    final InMemoryOs os = new InMemoryKernel().newProcess("target");
    final List<OwnedFd> opened = new ArrayList<>();

    @AfterEach
    void closeAll() {
        OwnedFd.closeAll(opened);
    }

    private OwnedFd open() {
        OwnedFd[] p = os.fds().pipe();
        opened.add(p[0]);
        opened.add(p[1]);
        return p[0];
    }

    private OwnedFd dup(OwnedFd fd) {
        OwnedFd d = fd.dup();
        opened.add(d);
        return d;
    }

    /** What the pairwise check (the old one) answers: the first pair in (i, j) order. */
    private int[] pairwise(List<OwnedFd> fds) {
        for (int i = 0; i < fds.size(); i++) {
            for (int j = i + 1; j < fds.size(); j++) {
                if (os.fds().sameOpenFile(fds.get(i), fds.get(j))) {
                    return new int[] {i, j};
                }
            }
        }
        return null;
    }

    @Test
    void distinctFilesPassAndAFileTwiceIsNamedByItsFirstTwoPositions() {
        List<OwnedFd> fds = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            fds.add(open());
        }
        assertNull(SectionLoadChecks.sameOpenFileTwice(os.fds(), fds));
        fds.set(6, dup(fds.get(1)));
        assertArrayEquals(new int[] {1, 6}, SectionLoadChecks.sameOpenFileTwice(os.fds(), fds));
        fds.set(7, dup(fds.get(1)));
        fds.set(3, dup(fds.get(2)));
        assertArrayEquals(new int[] {1, 6}, SectionLoadChecks.sameOpenFileTwice(os.fds(), fds), "a third copy and a second pair");
    }

    @Test
    void agreesWithThePairwiseCheckOnRandomLists() {
        Random rnd = new Random(20261125);
        for (int round = 0; round < 200; round++) {
            int n = 1 + rnd.nextInt(40);
            List<OwnedFd> fds = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                fds.add(i > 0 && rnd.nextInt(10) == 0 ? dup(fds.get(rnd.nextInt(i))) : open());
            }
            java.util.Collections.shuffle(fds, rnd);
            assertArrayEquals(pairwise(fds), SectionLoadChecks.sameOpenFileTwice(os.fds(), fds), "round " + round);
        }
    }
}
