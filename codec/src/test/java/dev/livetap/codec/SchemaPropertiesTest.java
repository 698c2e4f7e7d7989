package dev.livetap.codec;

import dev.livetap.nativeio.Frame;
import dev.livetap.nativeio.OwnedFd;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.Size;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Property tests over random schemas and values: every value round trips, and re-encoding is byte-identical. */
class SchemaPropertiesTest {

    @Property(tries = 400)
    void randomSchemasAndValuesRoundTripWithTheirFds(@ForAll long seed) {
        Random r = new Random(seed);
        Schema schema = randomSchema(r, 0, "s" + Long.toHexString(seed & 0xFFFF));
        FakeFds fds = new FakeFds();
        int before = OwnedFd.openCount();
        StateStruct value = randomValue(schema, r, fds);
        List<Frame> frames = Fixtures.encode(List.of(Section.of(r.nextInt(1000), value)));
        List<Section> loaded = Fixtures.decode(frames, SectionResolver.of(schema));
        StateStruct got = loaded.get(0).struct();
        assertTrue(value.sameContent(got), "seed " + seed + ": loaded value equals saved value\n saved " + value + "\n got   " + got);
        assertEquals(value.fds().size(), got.fds().size(), "seed " + seed + ": as many fds arrive as were sent");

        List<Frame> again = Fixtures.encode(List.of(loaded.get(0)));
        assertArrayEquals(frames.get(1).payload(), again.get(1).payload(),
                "seed " + seed + ": re-encoding a loaded section gives the same bytes (the encoding is canonical)");
        loaded.get(0).close();
        value.closeFds();
        assertEquals(List.of(), fds.leaked(), "seed " + seed + ": every fd closed");
        assertEquals(List.of(), fds.closedTwice(), "seed " + seed + ": no fd closed twice");
        assertEquals(before, OwnedFd.openCount(), "seed " + seed + ": owned-fd count unchanged");
    }

    @Property(tries = 2000)
    void arbitrarySectionPayloadsAreRefusedOnlyWithTheDocumentedException(@ForAll @Size(max = 200) byte[] payload,
                                                                          @ForAll boolean withFd) {
        FakeFds fds = new FakeFds();
        Schema schema = Fixtures.virtioNet(2);
        StreamDecoder dec = new StreamDecoder(SectionResolver.of(schema));
        dec.accept(new StreamEncoder(StreamHeader.of(1, "p", "m")).header());
        byte[] b = new byte[payload.length + 1];
        b[0] = 4;
        System.arraycopy(payload, 0, b, 1, payload.length);
        List<OwnedFd> sent = withFd ? List.of(fds.open()) : List.of();
        try {
            Section s = dec.accept(new Frame(FrameChecksum.seal(b), sent)); // sealed: the parser must see it
            s.close();
        } catch (StreamFormatException expected) {
            assertTrue(sent.stream().noneMatch(OwnedFd::isOpen), "a refused frame's fds are closed");
        }
        assertEquals(List.of(), fds.leaked(), "no fd leaks from an arbitrary payload");
    }

    static Schema randomSchema(Random r, int depth, String name) {
        int version = 1 + r.nextInt(3);
        Schema.Builder b = Schema.builder(name, version);
        int n = 1 + r.nextInt(depth == 0 ? 7 : 4);
        for (int i = 0; i < n; i++) {
            String f = "f" + i;
            int kind = r.nextInt(depth < 2 ? 10 : 7);
            switch (kind) {
                case 0 -> b.bool(f);
                case 1 -> b.u8(f);
                case 2 -> b.u16(f);
                case 3 -> b.u32(f);
                case 4 -> b.u64(f);
                case 5 -> {
                    int min = r.nextInt(4);
                    b.bytes(f, min, min + r.nextInt(20));
                }
                case 6 -> b.fd(f);
                case 7 -> b.struct(f, randomSchema(r, depth + 1, name + "." + f));
                case 8 -> {
                    b.u32(f + "_len");
                    b.varray(f, f + "_len", randomSchema(r, depth + 1, name + "." + f));
                }
                default -> {
                    boolean on = r.nextBoolean();
                    b.group(f, randomSchema(r, depth + 1, name + "." + f), s -> on);
                }
            }
            if (r.nextInt(4) == 0 && kind != 8) {
                b.since(1 + r.nextInt(version));
            }
        }
        if (depth < 2 && r.nextInt(3) == 0) {
            b.subsection(randomSchema(r, depth + 1, name + "-sub"), s -> true);
        }
        return b.build();
    }

    static StateStruct randomValue(Schema schema, Random r, FakeFds fds) {
        StateStruct s = schema.newStruct();
        for (Field f : schema.fields()) {
            switch (f.kind()) {
                case BOOL -> s.setBool(f.name(), r.nextBoolean());
                case U8 -> s.setUint(f.name(), r.nextInt(256));
                case U16 -> s.setUint(f.name(), r.nextInt(65536));
                case U32 -> {
                    if (!f.name().endsWith("_len")) {
                        s.setUint(f.name(), r.nextLong() & 0xFFFF_FFFFL);
                    }
                }
                case U64 -> s.setUint(f.name(), r.nextLong());
                case BYTES -> {
                    byte[] v = new byte[f.minLength() + r.nextInt(f.maxLength() - f.minLength() + 1)];
                    r.nextBytes(v);
                    s.setBytes(f.name(), v);
                }
                case FD -> s.setFd(f.name(), r.nextInt(4) == 0 ? null : fds.open());
                case STRUCT -> s.setStruct(f.name(), randomValue(f.schema(), r, fds));
                case GROUP -> {
                    if (f.present(s)) {
                        s.setStruct(f.name(), randomValue(f.schema(), r, fds));
                    }
                }
                case VARRAY -> {
                    int n = r.nextInt(4);
                    List<StateStruct> list = new ArrayList<>();
                    for (int i = 0; i < n; i++) {
                        list.add(randomValue(f.elementSchema(i), r, fds));
                    }
                    s.setUint(f.lengthField(), n).setArray(f.name(), list);
                }
                default -> throw new IllegalStateException(f.toString());
            }
        }
        for (Schema.Subsection sub : schema.subsections()) {
            s.setSubsection(randomValue(sub.schema(), r, fds));
        }
        return s;
    }
}
