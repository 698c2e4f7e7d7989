package dev.livetap.codec;

import dev.livetap.nativeio.Frame;
import dev.livetap.nativeio.OwnedFd;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The "how to use" example of docs/stream-format.md and the package Javadoc; kept compiled here. */
class UsageExampleTest {
    @Test
    void saveAndLoadOneNicWithItsTapQueues() {
        FakeFds os = new FakeFds();
        OwnedFd queue0 = os.open();
        OwnedFd queue1 = os.open();

        // --- example: begin
        // Each peer backend describes its own state; the frontend only arranges them in an array.
        Schema netTap = Schema.builder("net-tap", 1)
                .fd("fd").bool("using_vnet_hdr").bool("has_ufo").bool("has_uso").bool("has_tunnel")
                .bool("enabled").u32("host_vnet_hdr_len")
                .postLoad(s -> {
                    if (s.getFd("fd") == null) {
                        throw new IllegalStateException("TAP fd is missing");
                    }
                })
                .build();
        Schema nicSub = Schema.builder("virtio-net-nic", 1)
                .u32("max_queue_pairs")
                .varray("peers", "max_queue_pairs", queue -> netTap) // asks peer `queue` for its schema
                .build();
        Schema virtioNet = Schema.builder("virtio-net", 1)
                .bytes("mac", 6)
                .bool("backend_transfer")
                .subsection(nicSub, s -> s.getBool("backend_transfer"))
                .build();

        StateStruct state = virtioNet.newStruct()
                .setBytes("mac", new byte[] {0x52, 0x54, 0, 0x12, 0x34, 0x56})
                .setBool("backend_transfer", true)
                .setSubsection(nicSub.newStruct().setUint("max_queue_pairs", 2).setArray("peers", List.of(
                        netTap.newStruct().setFd("fd", queue0).setBool("enabled", true).setUint("host_vnet_hdr_len", 12),
                        netTap.newStruct().setFd("fd", queue1).setBool("enabled", true).setUint("host_vnet_hdr_len", 12))));

        // Source: one frame per section; the frames borrow the fds (FrameChannel.send dups them).
        StreamEncoder encoder = new StreamEncoder(StreamHeader.of(ProcessHandle.current().pid(), "vmm-a", "pc-q35-10.2"));
        List<Frame> frames = new ArrayList<>();
        frames.add(encoder.header());
        frames.add(encoder.section(Section.of(0, state)));
        frames.addAll(encoder.trailer());

        // Target: the decoder owns each received frame's fds; a loaded section owns them afterwards.
        StreamDecoder decoder = new StreamDecoder(SectionResolver.of(virtioNet));
        List<Section> loaded = new ArrayList<>();
        for (Frame received : frames.stream().map(Fixtures::transfer).toList()) {
            Section s = decoder.accept(received); // throws StreamFormatException, closing that frame's fds
            if (s != null) {
                loaded.add(s);
            }
        }
        decoder.finish(); // fails unless the end marker and the description arrived
        // --- example: end

        StateStruct got = loaded.get(0).struct();
        assertEquals(2, got.subsection("virtio-net-nic").getArray("peers").size(), "both queue states arrive");
        assertTrue(got.subsection("virtio-net-nic").getArray("peers").get(1).getFd("fd").isOpen(),
                "the target holds its own open fd per queue");
        loaded.forEach(Section::close);
        OwnedFd.closeAll(List.of(queue0, queue1));
        assertEquals(List.of(), os.leaked(), "source and target each close their own fds");
    }
}
