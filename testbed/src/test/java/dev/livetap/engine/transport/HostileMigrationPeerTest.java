package dev.livetap.engine.transport;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.actors.migration.MigrationInfo;
import dev.livetap.actors.migration.ReturnPath;
import dev.livetap.actors.nic.VirtioNetSchema;
import dev.livetap.actors.tap.NetTapSchema;
import dev.livetap.codec.Schema;
import dev.livetap.codec.Section;
import dev.livetap.codec.StateStruct;
import dev.livetap.codec.StreamEncoder;
import dev.livetap.codec.StreamHeader;
import dev.livetap.engine.internal.EngineCore;
import dev.livetap.engine.internal.EndpointCore;
import dev.livetap.engine.api.VmSpec;
import dev.livetap.nativeio.ChannelLimits;
import dev.livetap.nativeio.Frame;
import dev.livetap.nativeio.FrameChannel;
import dev.livetap.nativeio.UnixFrameChannel;
import dev.livetap.nativeio.Os;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.TunFlags;
import dev.livetap.nativeio.linux.JnaOs;
import dev.livetap.nativeio.linux.TapBrokerMain;
import dev.livetap.testbed.testing.ChildJvm;
import dev.livetap.nativeio.testing.FdCounter;
import dev.livetap.testbed.NetworkNamespace;
import dev.livetap.nativeio.testing.RequiresRoot;
import dev.livetap.nativeio.testing.RequiresTun;
import java.io.FileInputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A hostile migration peer on the real kernel: a stand-in source connects to a target's
 * incoming-migration socket (same uid: SO_PEERCRED lets it in) and sends a well-formed stream
 * whose NIC section carries the wrong fds — pipes, /dev/null, a queue of another TAP, the same
 * queue twice. Each time the target refuses the section with a clear error, answers
 * {@code failed: reason} on the return path, closes every fd it received (/proc/self/fd and
 * {@link OwnedFd#openCount()} as before), stays {@code inmigrate}, and accepts the next
 * {@code migrate-incoming} on the same VM endpoint; the last stream carries the right queues
 * and completes (the target then runs on the very TAP queues, TUNGETIFF names them).
 *
 * <p>The target lives in this JVM on {@link JnaOs}; the TAPs are opened by child JVMs inside a
 * private network namespace and passed here by SCM_RIGHTS ({@link TapBrokerMain}).
 */
@RequiresRoot
@RequiresTun
@Timeout(value = 120, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class HostileMigrationPeerTest {
    static final Duration T = Duration.ofSeconds(10);
    static final byte[] MAC = {0x52, 0x54, 0, 0x12, 0x34, 0x56};

    Os os;
    Path dir;
    FdCounter leakCheck;
    NetworkNamespace ns;
    List<OwnedFd> lta = List.of();
    List<OwnedFd> ltb = List.of();
    EngineCore engine;
    EndpointCore tgt;
    int attempt;

    @BeforeEach
    void setUp() throws Exception {
        os = JnaOs.instance();
        os.reactor();
        leakCheck = FdCounter.snapshot();
        dir = Files.createTempDirectory("livetap-hostile");
        ns = NetworkNamespace.create();
        lta = brokerTap("lta", 2);
        ltb = brokerTap("ltb", 1);
        engine = EngineCore.create(dev.livetap.engine.internal.EngineSettings.defaults().withSystemName("hostile"));
        tgt = engine.createVm(VmSpec.of("tgt").incoming(true));
        get(tgt.netdevAdd(Map.of("type", "tap", "id", "net0", "ifname", "lta", "queues", 2, "vnet_hdr", true,
                "incoming-fds", true, "script", "no", "downscript", "no")));
        get(tgt.deviceAdd(Map.of("driver", "virtio-net-pci", "id", "nic0", "netdev", "net0", "mq", true,
                "mac", "52:54:00:12:34:56")));
        get(tgt.setParameters(Map.of("local", true)));
    }

    @AfterEach
    void tearDown() throws Exception {
        if (engine != null) {
            engine.close();
        }
        OwnedFd.closeAll(lta);
        OwnedFd.closeAll(ltb);
        if (ns != null) {
            ns.close();
        }
        try (var l = Files.list(dir)) {
            for (Path p : l.toList()) {
                Files.deleteIfExists(p);
            }
        }
        Files.deleteIfExists(dir);
        await().atMost(T).untilAsserted(() -> leakCheck.assertNoLeak());
    }

    @Test
    void wrongFdsAreRefusedAndClosedAndTheSameEndpointThenAcceptsTheRightQueues() throws Exception {
        OwnedFd[] pipe = os.fds().pipe();
        OwnedFd[] pipe2 = os.fds().pipe();
        OwnedFd devNull = openDevNull();
        OwnedFd queue1Dup = lta.get(1).dup();
        try {
            refused("pipes", List.of(pipe[0], pipe2[0]), "is not a TAP queue (fstat: ");
            refused("/dev/null", List.of(devNull, lta.get(1)), "is not a TAP queue (fstat: ");
            refused("a queue of another TAP", List.of(lta.get(0), ltb.get(0)), "belongs to interface ltb, expected lta");
            refused("the same queue twice", List.of(lta.get(0), lta.get(0)), "are the same open file (kcmp)");
            refused("a dup of the same queue", List.of(lta.get(1), queue1Dup), "are the same open file (kcmp)");
        } finally {
            OwnedFd.closeAll(List.of(pipe[0], pipe[1], pipe2[0], pipe2[1], devNull, queue1Dup));
        }
        // the right queues, on the same VM endpoint: the migration completes
        try (Forged f = forge(lta)) {
            ReturnPath.Answer answer = f.answer.get(T.toMillis(), TimeUnit.MILLISECONDS);
            assertInstanceOf(ReturnPath.Loaded.class, answer, "the right queues load: " + answer);
            f.channel.send(ReturnPath.completed(), List.of()).toCompletableFuture().get(5, TimeUnit.SECONDS);
            await().atMost(T).until(() -> info().status().qmpName().equals("completed"));
            await().atMost(T).until(() -> "running".equals(get(tgt.status()).get("status")));
        }
        List<?> nics = get(tgt.nics());
        assertEquals(1, nics.size(), "the NIC is there: " + nics);
        System.out.println("after 5 refused streams the same endpoint completed: " + nics);
    }

    /**
     * A source that gives up between connecting and its header says {@code failed: reason} as its
     * first frame: the target names that reason (not a bad stream magic) and stays a target.
     */
    @Test
    void aSourceThatGivesUpBeforeItsHeaderIsNamedByTheTarget() throws Exception {
        Path sock = dir.resolve("early.sock");
        get(tgt.migrateIncoming("unix:" + sock));
        await().atMost(T).until(() -> Files.exists(sock));
        try (FrameChannel ch = UnixFrameChannel.open(os, os.unix().connect(sock), ChannelLimits.DEFAULT)) {
            ch.start(new FrameChannel.FrameHandler() {
                @Override
                public void onFrame(Frame frame) {
                    frame.close();
                }

                @Override
                public void onClosed(Throwable cause) {
                }
            });
            ch.send(ReturnPath.failed("cancelled"), List.of()).toCompletableFuture().get(5, TimeUnit.SECONDS);
            await().atMost(T).until(() -> info().status().qmpName().equals("failed"));
        }
        String desc = info().errorDesc();
        assertTrue(desc.contains("the source gave up") && desc.contains("cancelled"), "the source's reason: " + desc);
        assertFalse(desc.contains("magic"), "not mistaken for a damaged stream: " + desc);
        assertEquals("inmigrate", get(tgt.status()).get("status"), "the target never ran");
    }

    /** A stream whose NIC section carries {@code fds}: refused, every received fd closed, still inmigrate. */
    private void refused(String what, List<OwnedFd> fds, String expected) throws Exception {
        FdCounter kernelFds = FdCounter.snapshot();
        int owned = OwnedFd.openCount();
        ReturnPath.Answer answer;
        try (Forged f = forge(fds)) {
            answer = f.answer.get(T.toMillis(), TimeUnit.MILLISECONDS);
        }
        assertInstanceOf(ReturnPath.Failed.class, answer, what + ": the target answers failed on the return path");
        String reason = ((ReturnPath.Failed) answer).reason();
        assertTrue(reason.contains(expected), what + ": the reason says why (" + expected + "): " + reason);
        await().atMost(T).until(() -> info().status().qmpName().equals("failed"));
        assertTrue(info().errorDesc().contains(expected), what + ": query-migrate tells the same: " + info().errorDesc());
        assertEquals("inmigrate", get(tgt.status()).get("status"), what + ": a refused target never runs");
        await().atMost(T).untilAsserted(() -> kernelFds.assertNoNewKernelFds(
                what + ": every fd the target received is closed (nothing new in /proc/self/fd since before the stream)"));
        await().atMost(T).untilAsserted(() -> assertEquals(owned, OwnedFd.openCount(),
                what + ": every OwnedFd the target received is closed"));
        System.out.println("refused " + what + ": " + reason);
    }

    /** A stand-in source: connects, sends header, the NIC section with {@code fds}, end and description. */
    private Forged forge(List<OwnedFd> fds) throws Exception {
        Path sock = dir.resolve("in" + (++attempt) + ".sock");
        get(tgt.migrateIncoming("unix:" + sock));
        await().atMost(T).until(() -> Files.exists(sock));
        FrameChannel ch = UnixFrameChannel.open(os, os.unix().connect(sock), ChannelLimits.DEFAULT);
        Forged f = new Forged(ch);
        ch.start(new FrameChannel.FrameHandler() {
            @Override
            public void onFrame(Frame frame) {
                try (frame) {
                    f.answer.complete(ReturnPath.decode(frame));
                } catch (RuntimeException e) {
                    f.answer.completeExceptionally(e);
                }
            }

            @Override
            public void onClosed(Throwable cause) {
                f.answer.completeExceptionally(new IllegalStateException("the target closed the channel", cause));
            }
        });
        StreamEncoder enc = new StreamEncoder(StreamHeader.of(ProcessHandle.current().pid(), "hostile-source", "pc-q35-11.0"));
        List<Frame> frames = new ArrayList<>();
        frames.add(enc.header());
        frames.add(enc.section(nicSection(fds)));
        frames.addAll(enc.trailer());
        for (Frame fr : frames) {
            ch.send(fr.payload(), fr.fds()).toCompletableFuture().get(5, TimeUnit.SECONDS); // the channel dups the fds
        }
        return f;
    }

    record Forged(FrameChannel channel, CompletableFuture<ReturnPath.Answer> answer) implements AutoCloseable {
        Forged(FrameChannel channel) {
            this(channel, new CompletableFuture<>());
        }

        @Override
        public void close() {
            channel.close();
        }
    }

    private Section nicSection(List<OwnedFd> fds) {
        Schema schema = VirtioNetSchema.schema(Collections.nCopies(fds.size(), NetTapSchema.SCHEMA));
        Schema guest = schema.field("guest").schema();
        StateStruct g = guest.newStruct().setBytes("mac", MAC).setUint("ip", 0x0A000002L);
        List<StateStruct> peers = new ArrayList<>();
        for (OwnedFd fd : fds) {
            peers.add(NetTapSchema.SCHEMA.newStruct().setFd("fd", fd).setBool("using_vnet_hdr", true)
                    .setBool("enabled", true).setUint("host_vnet_hdr_len", os.tun().vnetHdrSize(lta.get(0))));
        }
        Schema nic = schema.subsections().get(0).schema();
        StateStruct s = schema.newStruct().setBytes("mac", MAC).setUint("max_queue_pairs", fds.size())
                .setUint("curr_queue_pairs", fds.size()).setStruct("guest", g)
                .setSubsection(nic.newStruct().setUint("peers_len", fds.size()).setArray("peers", peers));
        return Section.of(VirtioNetSchema.sectionName("nic0"), 0, s);
    }

    private MigrationInfo info() throws Exception {
        return get(tgt.query());
    }

    private static <V> V get(java.util.concurrent.CompletionStage<V> stage) throws Exception {
        return stage.toCompletableFuture().get(T.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** /dev/null as an owned fd: opened by the JDK, duplicated into an OwnedFd, the JDK's copy closed. */
    private OwnedFd openDevNull() throws Exception {
        OwnedFd[] probe = os.fds().pipe();
        try (FileInputStream in = new FileInputStream("/dev/null")) {
            for (Path p : Files.newDirectoryStream(Path.of("/proc/self/fd"))) {
                try {
                    if (Files.readSymbolicLink(p).toString().equals("/dev/null")) {
                        int n = Integer.parseInt(p.getFileName().toString());
                        return OwnedFd.adopt(probe[0].ops().dup(n), probe[0].ops());
                    }
                } catch (java.io.IOException gone) {
                    // an fd closed while listing
                }
            }
            throw new AssertionError("/dev/null not found in /proc/self/fd");
        } finally {
            OwnedFd.closeAll(List.of(probe));
        }
    }

    /** Queues of a TAP that a child JVM opens inside the test's namespace and passes back. */
    private List<OwnedFd> brokerTap(String ifname, int queues) throws Exception {
        Path sock = dir.resolve("broker-" + ifname + ".sock");
        List<OwnedFd> received = new ArrayList<>();
        try (OwnedFd listener = os.unix().listen(sock, 0600);
             ChildJvm broker = ChildJvm.builder(TapBrokerMain.class).inNetns(ns)
                     .args(sock.toString(), ifname, String.valueOf(queues), String.valueOf(TunFlags.TAP_VNET_MQ)).start()) {
            long deadline = System.nanoTime() + 3 * T.toNanos();
            OwnedFd conn;
            while ((conn = os.unix().accept(listener)) == null) {
                assertTrue(System.nanoTime() < deadline, "the TAP broker connects: " + broker.describe());
                Thread.sleep(2);
            }
            try (OwnedFd c = conn) {
                ByteBuffer buf = ByteBuffer.allocate(256);
                StringBuilder status = new StringBuilder();
                while (status.indexOf("\n") < 0) {
                    buf.clear();
                    int n = os.unix().recvmsg(c, buf, received, 253);
                    assertTrue(n >= 0 && System.nanoTime() < deadline, "the broker answers: " + broker.describe() + status);
                    if (n == 0) {
                        Thread.sleep(2);
                        continue;
                    }
                    status.append(new String(buf.array(), 0, n, java.nio.charset.StandardCharsets.UTF_8));
                }
                assertTrue(status.toString().startsWith("OK " + queues), "the broker opened " + ifname + ": " + status);
            }
            broker.waitFor(T);
        } finally {
            Files.deleteIfExists(sock);
        }
        assertEquals(queues, received.size(), "one fd per queue of " + ifname);
        return received;
    }
}
