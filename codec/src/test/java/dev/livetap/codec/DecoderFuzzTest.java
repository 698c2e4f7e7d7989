package dev.livetap.codec;

import dev.livetap.codec.StreamRecording.RecordedFrame;
import dev.livetap.nativeio.Frame;
import dev.livetap.nativeio.OwnedFd;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Mutation fuzzing of the pure decoder: valid streams with bits flipped, payloads truncated,
 * spliced or extended, frames duplicated, dropped or reordered, fd counts changed. The contract:
 * only {@link StreamFormatException}, never a hang, and every fd that arrived is closed exactly
 * once (by the decoder on rejection, by the section's owner otherwise). Since format 2 most
 * mutations fail the frame checksum; the resealed variant recomputes every mutated frame's
 * checksum, so that the parser behind the check is fuzzed as before.
 * {@code -Dlivetap.fuzz.cases=1000000} for the long mode; {@code -Dlivetap.fuzz.seed=N} to replay.
 */
class DecoderFuzzTest {
    private static final int CASES = Integer.getInteger("livetap.fuzz.cases", 100_000);
    private static final long SEED = Long.getLong("livetap.fuzz.seed", 20261125L);

    @Test
    @Timeout(value = 300, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void mutatedStreamsFailOnlyWithTheDocumentedExceptionAndCloseEveryFd() {
        fuzz(false);
    }

    @Test
    @Timeout(value = 300, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void resealedMutatedStreamsFailOnlyWithTheDocumentedExceptionAndCloseEveryFd() {
        fuzz(true);
    }

    /** @param reseal recompute each frame's checksum after the mutations (a peer that writes bad content) */
    private static void fuzz(boolean reseal) {
        Schema nic = Fixtures.virtioNet(2);
        Schema all = allKinds();
        SectionResolver resolver = (name, inst) -> name.equals("all-kinds") ? all : nic;
        List<List<RecordedFrame>> bases = List.of(
                baseStream(List.of(Section.of(0, Fixtures.virtioNetState(nic, 8, new FakeFds(), 0)))),
                baseStream(List.of(Section.of("nic0", 0, Fixtures.virtioNetState(nic, 2, new FakeFds(), 0)),
                        Section.of("nic1", 1, Fixtures.virtioNetState(nic, 1, new FakeFds(), 1)))),
                baseStream(List.of(Section.of(0, allKindsValue(all, new FakeFds())))));
        for (List<RecordedFrame> b : bases) {
            assertEquals(0, run(b, resolver, new FakeFds(), "base"), "an unmutated stream must load");
        }

        int openBefore = OwnedFd.openCount();
        int rejected = 0;
        int corrupt = 0;
        long t0 = System.nanoTime();
        for (int c = 0; c < CASES; c++) {
            long seed = SEED + c;
            Random rnd = new Random(seed);
            List<RecordedFrame> frames = new ArrayList<>(bases.get(rnd.nextInt(bases.size())));
            StringBuilder what = new StringBuilder();
            int mutations = 1 + rnd.nextInt(3);
            for (int m = 0; m < mutations; m++) {
                mutate(frames, rnd, what);
            }
            if (reseal) {
                frames.replaceAll(f -> f.payload().length < FrameChecksum.BYTES ? f
                        : new RecordedFrame(FrameChecksum.reseal(f.payload()), f.fdCount()));
                what.append("resealed");
            }
            FakeFds fds = new FakeFds();
            String repro = "case seed " + seed + " (-Dlivetap.fuzz.seed=" + seed + " -Dlivetap.fuzz.cases=1): " + what;
            int r = run(frames, resolver, fds, repro);
            rejected += r > 0 ? 1 : 0;
            corrupt += r == 2 ? 1 : 0;
            if (!fds.leaked().isEmpty() || !fds.closedTwice().isEmpty()) {
                fail("every fd that arrived must be closed exactly once; leaked " + fds.leaked() + ", closed twice "
                        + fds.closedTwice() + " in " + repro);
            }
        }
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        assertEquals(openBefore, OwnedFd.openCount(), "the process-wide owned-fd count is unchanged after fuzzing");
        assertTrue(rejected > CASES / 2, "most mutations must be detected, got " + rejected + " of " + CASES);
        if (reseal) {
            assertEquals(0, corrupt, "resealed frames never fail their checksum");
        }
        System.out.printf("fuzz%s: %d cases, %d rejected (%d as CORRUPT), %d ms%n", reseal ? " (resealed)" : "", CASES,
                rejected, corrupt, ms);
    }

    /** Feeds the frames with fresh fake fds; returns 0 if the stream loaded, 2 if rejected as CORRUPT, else 1. */
    private static int run(List<RecordedFrame> frames, SectionResolver resolver, FakeFds fds, String repro) {
        StreamDecoder dec = new StreamDecoder(resolver);
        List<Section> loaded = new ArrayList<>();
        int i = 0;
        try {
            for (; i < frames.size(); i++) {
                Section s = dec.accept(frames.get(i).toFrame(fds::open));
                if (s != null) {
                    loaded.add(s);
                }
            }
            dec.finish();
            return 0;
        } catch (StreamFormatException e) {
            assertTrue(e.getMessage() != null && !e.getMessage().isEmpty(), "a rejection explains itself: " + repro);
            for (i++; i < frames.size(); i++) {
                Frame late = frames.get(i).toFrame(fds::open);
                try {
                    dec.accept(late);
                    fail("a failed decoder must refuse further frames: " + repro);
                } catch (StreamFormatException expected) {
                    assertTrue(late.fds().stream().noneMatch(OwnedFd::isOpen),
                            "a frame refused by a failed decoder has its fds closed: " + repro);
                }
            }
            return e.reason() == StreamFormatException.Reason.CORRUPT ? 2 : 1;
        } catch (RuntimeException | StackOverflowError e) {
            throw new AssertionError("only StreamFormatException may escape the decoder, got " + e + " in " + repro, e);
        } finally {
            loaded.forEach(Section::close);
        }
    }

    private static void mutate(List<RecordedFrame> frames, Random rnd, StringBuilder what) {
        if (frames.isEmpty()) {
            frames.add(new RecordedFrame(new byte[] {4}, 0));
            what.append("empty->stub; ");
            return;
        }
        int i = rnd.nextInt(frames.size());
        RecordedFrame f = frames.get(i);
        byte[] p = f.payload();
        switch (rnd.nextInt(11)) {
            case 0, 1, 2 -> {
                if (p.length == 0) {
                    return;
                }
                int flips = 1 + rnd.nextInt(4);
                for (int k = 0; k < flips; k++) {
                    p[rnd.nextInt(p.length)] ^= (byte) (1 << rnd.nextInt(8));
                }
                frames.set(i, new RecordedFrame(p, f.fdCount()));
                what.append("flip ").append(flips).append(" bits in frame ").append(i).append("; ");
            }
            case 3 -> {
                int n = p.length == 0 ? 0 : rnd.nextInt(p.length);
                frames.set(i, new RecordedFrame(java.util.Arrays.copyOf(p, n), f.fdCount()));
                what.append("truncate frame ").append(i).append(" to ").append(n).append("; ");
            }
            case 4 -> {
                byte[] extra = new byte[1 + rnd.nextInt(8)];
                rnd.nextBytes(extra);
                byte[] q = java.util.Arrays.copyOf(p, p.length + extra.length);
                System.arraycopy(extra, 0, q, p.length, extra.length);
                frames.set(i, new RecordedFrame(q, f.fdCount()));
                what.append("append ").append(extra.length).append(" bytes to frame ").append(i).append("; ");
            }
            case 5 -> {
                RecordedFrame o = frames.get(rnd.nextInt(frames.size()));
                int cut = p.length == 0 ? 0 : rnd.nextInt(p.length);
                int from = o.payload().length == 0 ? 0 : rnd.nextInt(o.payload().length);
                byte[] q = new byte[cut + o.payload().length - from];
                System.arraycopy(p, 0, q, 0, cut);
                System.arraycopy(o.payload(), from, q, cut, o.payload().length - from);
                frames.set(i, new RecordedFrame(q, f.fdCount()));
                what.append("splice into frame ").append(i).append(" at ").append(cut).append("; ");
            }
            case 6 -> {
                frames.add(i, f);
                what.append("duplicate frame ").append(i).append("; ");
            }
            case 7 -> {
                frames.remove(i);
                what.append("drop frame ").append(i).append("; ");
            }
            case 8 -> {
                int j = rnd.nextInt(frames.size());
                frames.set(i, frames.get(j));
                frames.set(j, f);
                what.append("swap frames ").append(i).append(" and ").append(j).append("; ");
            }
            case 9 -> {
                int n = rnd.nextBoolean() ? Math.max(0, f.fdCount() + (rnd.nextBoolean() ? 1 : -1)) : rnd.nextInt(12);
                frames.set(i, new RecordedFrame(p, n));
                what.append("fd count of frame ").append(i).append(" ").append(f.fdCount()).append("->").append(n).append("; ");
            }
            default -> {
                if (p.length == 0) {
                    return;
                }
                byte[] special = {(byte) 0xFF, (byte) 0x1B, 0x00, (byte) 0x9F, (byte) 0xBF, (byte) 0x5F, (byte) 0xF6,
                        (byte) 0xD9, (byte) 0xC2, (byte) 0xFB, 0x1A, 0x7F};
                int at = rnd.nextInt(p.length);
                p[at] = special[rnd.nextInt(special.length)];
                frames.set(i, new RecordedFrame(p, f.fdCount()));
                what.append("special byte in frame ").append(i).append(" at ").append(at).append("; ");
            }
        }
    }

    private static List<RecordedFrame> baseStream(List<Section> sections) {
        List<RecordedFrame> out = new ArrayList<>();
        for (Frame f : Fixtures.encode(sections)) {
            out.add(StreamRecording.record(f));
        }
        sections.forEach(Section::close);
        return out;
    }

    static Schema allKinds() {
        Schema inner = Schema.builder("inner", 1).u8("a").bytes("tail", 0, 4).build();
        Schema grp = Schema.builder("grp", 1).bool("on").fd("gfd").build();
        return Schema.builder("all-kinds", 1)
                .bool("flag").u16("w").u64("q").bytes("var", 0, 10).fd("fd").struct("inner", inner)
                .u32("count").varray("elems", "count", inner)
                .bool("has_grp").group("grp", grp, s -> s.getBool("has_grp"))
                .subsection(Schema.builder("sub", 1).u32("x").build(), s -> true)
                .build();
    }

    static StateStruct allKindsValue(Schema all, FakeFds fds) {
        Schema inner = all.field("inner").schema();
        Schema grp = all.field("grp").schema();
        return all.newStruct().setBool("flag", true).setUint("w", 7).setUint("q", -2).setBytes("var", new byte[] {1, 2})
                .setFd("fd", fds.open()).setUint("count", 2)
                .setArray("elems", List.of(inner.newStruct(), inner.newStruct().setUint("a", 3)))
                .setBool("has_grp", true).setStruct("grp", grp.newStruct().setFd("gfd", fds.open()))
                .setSubsection(all.subsections().get(0).schema().newStruct().setUint("x", 99));
    }
}
