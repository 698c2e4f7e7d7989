package dev.livetap.codec;

import dev.livetap.nativeio.Frame;
import dev.livetap.nativeio.OwnedFd;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RoundTripTest {
    private FakeFds fds;
    private int openBefore;

    @BeforeEach
    void setUp() {
        fds = new FakeFds();
        openBefore = OwnedFd.openCount();
    }

    @AfterEach
    void noLeaks() {
        assertEquals(List.of(), fds.closedTwice(), "no fd may be closed twice");
    }

    private void closeAllAndCheck(List<OwnedFd> sourceFds) {
        OwnedFd.closeAll(sourceFds);
        assertEquals(List.of(), fds.leaked(), "every fd, sent or received, must be closed by its owner");
        assertEquals(openBefore, OwnedFd.openCount(), "the owned-fd count must return to where it was");
    }

    @Test
    void everyFieldKindRoundTrips() {
        Schema inner = Schema.builder("inner", 3).u8("a").bytes("tail", 0, 4).build();
        Schema elem = Schema.builder("elem", 1).u16("v").fd("fd").build();
        Schema grp = Schema.builder("grp", 1).bool("on").build();
        Schema sub = Schema.builder("sub", 2).u64("big").build();
        Schema schema = Schema.builder("all-kinds", 1)
                .bool("flag").u8("b").u16("w").u32("n").u64("q").bytes("fixed", 4).bytes("var", 0, 10)
                .fd("fd").fd("nofd").struct("inner", inner).u32("count").varray("elems", "count", elem)
                .bool("has_grp").group("grp", grp, s -> s.getBool("has_grp")).group("nogrp", grp, s -> false)
                .subsection(sub, s -> true)
                .build();
        OwnedFd a = fds.open();
        OwnedFd b = fds.open();
        StateStruct v = schema.newStruct()
                .setBool("flag", true).setUint("b", 255).setUint("w", 65535).setUint("n", 0xFFFF_FFFFL)
                .setUint("q", -1L).setBytes("fixed", new byte[] {1, 2, 3, 4}).setBytes("var", new byte[] {9})
                .setFd("fd", a)
                .setStruct("inner", inner.newStruct().setUint("a", 7).setBytes("tail", new byte[] {5, 6}))
                .setUint("count", 2)
                .setArray("elems", List.of(elem.newStruct().setUint("v", 1).setFd("fd", b),
                        elem.newStruct().setUint("v", 2)))
                .setBool("has_grp", true).setStruct("grp", grp.newStruct().setBool("on", true))
                .setStruct("nogrp", grp.newStruct().setBool("on", true))
                .setSubsection(sub.newStruct().setUint("big", Long.MIN_VALUE));

        List<Section> loaded = Fixtures.decode(Fixtures.encode(List.of(Section.of(0, v))), SectionResolver.of(schema));

        assertEquals(1, loaded.size(), "one section sent, one loaded");
        StateStruct got = loaded.get(0).struct();
        assertEquals(-1L, got.getUint("q"), "u64 2^64-1 must survive as an unsigned long");
        assertEquals(Long.MIN_VALUE, got.subsection("sub").getUint("big"), "u64 2^63 must survive");
        assertArrayEquals(new byte[] {1, 2, 3, 4}, got.getBytes("fixed"), "fixed bytes round trip");
        assertNotNull(got.getFd("fd"), "an fd field arrives as an owned fd");
        assertTrue(got.getFd("fd").number() != a.number(), "the received fd is the receiver's own descriptor");
        assertNull(got.getFd("nofd"), "a null fd field means no fd");
        assertNull(got.getStruct("nogrp"), "a group whose test fails on save is absent on load");
        assertNotNull(got.getStruct("grp"), "a group whose test holds is present");
        assertEquals(2, got.getArray("elems").size(), "varray length follows its length field");
        v.setStruct("nogrp", null);
        assertTrue(v.sameContent(got), "loaded content equals saved content, the absent group aside: " + got);
        assertEquals(2, got.fds().size(), "two fds arrive, in field order");
        loaded.get(0).close();
        closeAllAndCheck(List.of(a, b));
    }

    @Test
    void eightQueueDeviceRoundTripsWithOneFdPerQueue() {
        Schema schema = Fixtures.virtioNet(2);
        StateStruct nic = Fixtures.virtioNetState(schema, 8, fds, 0);
        List<Frame> frames = Fixtures.encode(List.of(Section.of(0, nic)));
        assertEquals(4, frames.size(), "header, one section, end marker, description");
        assertEquals(8, frames.get(1).fds().size(), "the section frame carries the 8 queue fds");

        List<Section> loaded = Fixtures.decode(frames, SectionResolver.of(schema));

        StateStruct got = loaded.get(0).struct();
        assertTrue(nic.sameContent(got), "8-queue virtio-net state round trips");
        List<StateStruct> peers = got.subsection("virtio-net-nic").getArray("peers");
        for (int q = 0; q < 8; q++) {
            assertTrue(peers.get(q).getFd("fd").isOpen(), "queue " + q + " fd arrives open");
            assertEquals(12, peers.get(q).getUint("host_vnet_hdr_len"), "per-queue fields arrive");
        }
        loaded.get(0).close();
        closeAllAndCheck(nic.fds());
    }

    @Test
    void twoNicVmEachWithItsOwnPeersAndSlotNumbering() {
        Schema nic0 = Fixtures.virtioNet(2);
        Schema nic1 = Fixtures.virtioNet(2);
        StateStruct s0 = Fixtures.virtioNetState(nic0, 4, fds, 0);
        StateStruct s1 = Fixtures.virtioNetState(nic1, 2, fds, 1);
        List<Frame> frames = Fixtures.encode(List.of(Section.of("0000:00:03.0/virtio-net", 0, s0),
                Section.of("0000:00:04.0/virtio-net", 0, s1)));
        assertEquals(4, frames.get(1).fds().size(), "first NIC's frame carries its 4 fds");
        assertEquals(2, frames.get(2).fds().size(), "second NIC's frame carries its 2 fds, slots from 0 again");

        List<Section> loaded = Fixtures.decode(frames, (name, inst) -> name.startsWith("0000:00:03.0") ? nic0 : nic1);

        assertEquals("0000:00:03.0/virtio-net", loaded.get(0).name(), "sections arrive in order");
        assertTrue(s0.sameContent(loaded.get(0).struct()), "NIC 0 round trips");
        assertTrue(s1.sameContent(loaded.get(1).struct()), "NIC 1 round trips");
        loaded.forEach(Section::close);
        List<OwnedFd> src = new ArrayList<>(s0.fds());
        src.addAll(s1.fds());
        closeAllAndCheck(src);
    }

    @Test
    void peersMayDescribeThemselvesDifferently() {
        Schema other = Schema.builder("net-other", 1).u32("queue").build();
        Schema tap = Fixtures.netTap();
        Schema schema = Fixtures.virtioNet(1, i -> i == 1 ? other : tap);
        StateStruct s = Fixtures.virtioNetState(schema, 2, fds, 1);
        List<StateStruct> peers = new ArrayList<>(s.subsection("virtio-net-nic").getArray("peers"));
        OwnedFd replaced = peers.get(1).getFd("fd");
        peers.set(1, other.newStruct().setUint("queue", 1));
        s.subsection("virtio-net-nic").setArray("peers", peers);

        List<Section> loaded = Fixtures.decode(Fixtures.encode(List.of(Section.of(0, s))), SectionResolver.of(schema));

        List<StateStruct> got = loaded.get(0).struct().subsection("virtio-net-nic").getArray("peers");
        assertEquals("net-tap", got.get(0).schema().name(), "element 0 loads with the schema its peer supplies");
        assertEquals("net-other", got.get(1).schema().name(), "element 1 loads with its own peer's schema");
        loaded.get(0).close();
        List<OwnedFd> src = new ArrayList<>(s.fds());
        src.add(replaced);
        closeAllAndCheck(src);
    }

    @Test
    void hooksRunAroundSaveAndLoadAndAFailingPostLoadClosesTheFds() {
        List<String> calls = new ArrayList<>();
        Schema tap = Schema.builder("net-tap", 1).fd("fd").u32("len")
                .preSave(s -> calls.add("pre_save"))
                .preLoad(s -> calls.add("pre_load"))
                .postLoad(s -> {
                    calls.add("post_load");
                    if (s.getFd("fd") == null) {
                        throw new IllegalStateException("TAP fd is missing");
                    }
                })
                .build();
        OwnedFd fd = fds.open();
        List<Section> ok = Fixtures.decode(Fixtures.encode(List.of(Section.of(0, tap.newStruct().setFd("fd", fd)))),
                SectionResolver.of(tap));
        assertEquals(List.of("pre_save", "pre_load", "post_load"), calls, "hooks run in QEMU's order");
        ok.get(0).close();

        StreamFormatException e = assertThrows(StreamFormatException.class, () -> Fixtures.decode(
                Fixtures.encode(List.of(Section.of(3, tap.newStruct()))), SectionResolver.of(tap)),
                "a failing post_load fails the load");
        assertEquals(StreamFormatException.Reason.HOOK_FAILED, e.reason(), "the reason says a hook failed");
        assertTrue(e.getMessage().contains("'net-tap' instance 3") && e.getMessage().contains("TAP fd is missing"),
                "the message names the section and carries the hook's message: " + e.getMessage());

        Schema refusing = Schema.builder("net-tap", 1).fd("fd").u32("len").preLoad(s -> {
            throw new IllegalStateException("TAP is already initialized and cannot receive incoming fd");
        }).build();
        StreamFormatException pre = assertThrows(StreamFormatException.class, () -> Fixtures.decode(
                Fixtures.encode(List.of(Section.of(0, tap.newStruct().setFd("fd", fd)))), SectionResolver.of(refusing)),
                "a failing pre_load fails the load");
        assertTrue(pre.getMessage().contains("already initialized"), "pre_load's message is kept: " + pre.getMessage());
        closeAllAndCheck(List.of(fd));
    }

    @Test
    void subsectionIsSentOnlyWhenNeededAndUnknownOneIsRefusedByName() {
        Schema withNic = Fixtures.virtioNet(2);
        StateStruct s = Fixtures.virtioNetState(withNic, 1, fds, 0);
        List<OwnedFd> peerFds = s.fds();
        s.removeSubsection("virtio-net-nic");
        List<Section> loaded = Fixtures.decode(Fixtures.encode(List.of(Section.of(0, s))), SectionResolver.of(withNic));
        assertNull(loaded.get(0).struct().subsection("virtio-net-nic"), "a subsection not needed is not sent");

        Schema without = Schema.builder("virtio-net", 2).bytes("mac", 6).build();
        Schema sender = Schema.builder("virtio-net", 2).bytes("mac", 6)
                .subsection(Schema.builder("virtio-net-rss-ext", 1).bool("x").build(), x -> true).build();
        StateStruct t = sender.newStruct();
        t.setSubsection(sender.subsections().get(0).schema().newStruct());
        StreamFormatException e = assertThrows(StreamFormatException.class,
                () -> Fixtures.decode(Fixtures.encode(List.of(Section.of(0, t))), SectionResolver.of(without)),
                "an unknown subsection is refused");
        assertTrue(e.getMessage().contains("unknown subsection virtio-net-rss-ext"), "it is named: " + e.getMessage());
        closeAllAndCheck(peerFds);
    }

    @Test
    void unknownSectionIsRefusedByName() {
        Schema a = Schema.builder("a", 1).bool("x").build();
        StreamFormatException e = assertThrows(StreamFormatException.class,
                () -> Fixtures.decode(Fixtures.encode(List.of(Section.of(5, a.newStruct()))), SectionResolver.of()),
                "a section with no local device is refused");
        assertTrue(e.getMessage().contains("'a' instance 5") && e.getMessage().contains("unknown section"),
                "the message names it: " + e.getMessage());
    }

    @Test
    void settersRefuseValuesTheSchemaDoesNotAllow() {
        StateStruct s = Fixtures.netTap().newStruct();
        assertThrows(IllegalArgumentException.class, () -> s.setUint("host_vnet_hdr_len", 1L << 32), "u32 range");
        assertThrows(IllegalArgumentException.class, () -> s.setUint("host_vnet_hdr_len", -1), "unsigned");
        assertThrows(IllegalArgumentException.class, () -> s.setBool("fd", true), "kind");
        assertThrows(IllegalArgumentException.class, () -> s.setUint("nope", 1), "unknown field");
        StateStruct v = Fixtures.virtioNet(1).newStruct();
        assertThrows(IllegalArgumentException.class, () -> v.setBytes("mac", new byte[5]), "fixed length");
        StateStruct nic = v.schema().subsections().get(0).schema().newStruct().setUint("max_queue_pairs", 2);
        v.setSubsection(nic);
        StreamEncoder enc = new StreamEncoder(StreamHeader.of(1, "p", "m"));
        enc.header();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> enc.section(Section.of(0, v)),
                "a varray whose size differs from its length field cannot be written");
        assertTrue(e.getMessage().contains("peers"), "the message names the field: " + e.getMessage());
        assertFalse(e.getMessage().isEmpty(), "message present");
    }
}
