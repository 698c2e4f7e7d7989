package dev.livetap.actors.realkernel;

import dev.livetap.actors.options.TapNetdevOptions;
import dev.livetap.actors.options.VirtioNetDeviceOptions;
import dev.livetap.actors.options.MigrationParameters;
import dev.livetap.actors.guest.Ipv4Address;
import dev.livetap.actors.migration.MigrationInfo;
import dev.livetap.actors.migration.MigrationTimeouts;
import dev.livetap.actors.migration.MigrationTransport;
import dev.livetap.simulation.doubles.RecordingScriptRunner;
import dev.livetap.actors.nic.VirtioNetActor;
import dev.livetap.actors.options.MachineType;
import dev.livetap.actors.options.MigrationStatus;
import dev.livetap.actors.options.MigrationUri;
import dev.livetap.simulation.doubles.RecordingVhostBackend;
import dev.livetap.actors.vm.VmActor;
import dev.livetap.actors.vm.VmReply;
import dev.livetap.nativeio.ChannelLimits;
import dev.livetap.nativeio.FrameChannel;
import dev.livetap.nativeio.UnixFrameChannel;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.linux.JnaOs;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.SpawnProtocol;

/**
 * Child JVM of {@link RealKernelMigrationTest}, started inside a private network namespace: two VM
 * endpoints on the real kernel, a real AF_UNIX socketpair between them, a real 4-queue TAP with the
 * namespace's stack on its host side and real {@code ping}. Prints {@code RESULT key=value} lines;
 * exits 0 when everything it checks holds, 1 otherwise.
 */
public final class RealKernelMigrationMain {
    static final String IFNAME = "ltm0";
    static final Duration WAIT = Duration.ofSeconds(20);

    public static void main(String[] args) throws Exception {
        int exit = 1;
        ActorSystem<SpawnProtocol.Command> system = ActorSystem.create(SpawnProtocol.create(), "realkernel");
        try {
            run(system);
            exit = 0;
        } catch (Throwable t) {
            System.out.println("FAILED " + t);
            t.printStackTrace(System.out);
        } finally {
            system.terminate();
            system.getWhenTerminated().toCompletableFuture().get(20, TimeUnit.SECONDS);
            System.out.println("RESULT ownedFdsOpenAtExit=" + OwnedFd.openCount());
            System.out.flush();
        }
        System.exit(exit);
    }

    private static void run(ActorSystem<SpawnProtocol.Command> system) throws Exception {
        JnaOs os = JnaOs.instance();
        CountingOs srcOs = new CountingOs(os);
        CountingOs tgtOs = new CountingOs(os);
        int fdsBefore = OwnedFd.openCount();
        OwnedFd[] pair = os.unix().socketPair();
        MigrationTransport transport = new MigrationTransport() {
            @Override
            public CompletionStage<FrameChannel> connect(MigrationUri.Unix uri) {
                return CompletableFuture.completedFuture(UnixFrameChannel.open(os, pair[0], ChannelLimits.DEFAULT));
            }

            @Override
            public CompletionStage<FrameChannel> acceptOne(MigrationUri.Unix uri) {
                return CompletableFuture.completedFuture(UnixFrameChannel.open(os, pair[1], ChannelLimits.DEFAULT));
            }
        };
        MigrationTimeouts timeouts = new MigrationTimeouts(WAIT, WAIT, WAIT, WAIT);
        RecordingScriptRunner srcScripts = new RecordingScriptRunner();
        RecordingScriptRunner tgtScripts = new RecordingScriptRunner();
        ActorRef<VmActor.Command> src = spawn(system, new VmActor.VmConfig("src", MachineType.parse("q35"), false, false,
                srcOs, transport, srcScripts, new RecordingVhostBackend(), timeouts, WAIT, Ipv4Address.parse("10.0.0.2"),
                ProcessHandle.current().pid()), "src");
        ActorRef<VmActor.Command> tgt = spawn(system, new VmActor.VmConfig("tgt", MachineType.parse("q35"), true, false,
                tgtOs, transport, tgtScripts, new RecordingVhostBackend(), timeouts, WAIT, Ipv4Address.parse("10.0.0.2"),
                ProcessHandle.current().pid()), "tgt");
        Map<String, Object> nic = Map.of("driver", "virtio-net-pci", "id", "nic0", "netdev", "net0", "mq", true,
                "mac", "52:54:00:12:34:56");
        ok(system, src, r -> new VmActor.NetdevAdd(TapNetdevOptions.fromQmp(Map.of("type", "tap", "id", "net0", "ifname", IFNAME, "queues", 4,
                "downscript", "/bin/true")), r));
        ok(system, src, r -> new VmActor.DeviceAdd(VirtioNetDeviceOptions.fromQmp(nic), r));
        ok(system, tgt, r -> new VmActor.NetdevAdd(TapNetdevOptions.fromQmp(Map.of("type", "tap", "id", "net0", "ifname", IFNAME, "queues", 4,
                "incoming-fds", true, "script", "no", "x-downscript-duty", true, "downscript", "/bin/true")), r));
        ok(system, tgt, r -> new VmActor.DeviceAdd(VirtioNetDeviceOptions.fromQmp(nic), r));
        sh("sysctl", "-qw", "net.ipv6.conf." + IFNAME + ".disable_ipv6=1");
        sh("ip", "addr", "add", "10.0.0.1/24", "dev", IFNAME);
        sh("ip", "link", "set", IFNAME, "up");
        String ifindexBefore = Files.readString(Path.of("/sys/class/net", IFNAME, "ifindex")).trim();
        System.out.println("RESULT ifindexBefore=" + ifindexBefore);

        int[] before = ping(20);
        System.out.println("RESULT pingBefore=" + before[0] + "/" + before[1]);
        long srcIcmpBefore = guest(system, src).counters().icmpReplies();

        // ping keeps going through the migration: at 5 ms intervals for 2 s
        Process during = new ProcessBuilder("ping", "-n", "-q", "-c", "400", "-i", "0.005", "-W", "1", "10.0.0.2")
                .redirectErrorStream(true).start();
        Thread.sleep(300);
        ok(system, tgt, r -> new VmActor.MigrateSetParameters(MigrationParameters.Update.fromQmp(Map.of("local", true)), r)); // the target's switch too
        ok(system, tgt, r -> new VmActor.MigrateIncoming("unix:/unused/socketpair", r));
        ok(system, src, r -> new VmActor.MigrateSetParameters(MigrationParameters.Update.fromQmp(Map.of("local", true)), r));
        long t0 = System.nanoTime();
        ok(system, src, r -> new VmActor.Migrate("unix:/unused/socketpair", r));
        MigrationInfo si = awaitFinal(system, src);
        MigrationInfo ti = awaitFinal(system, tgt);
        System.out.println("RESULT sourceStatus=" + si.status().qmpName() + " targetStatus=" + ti.status().qmpName()
                + " error=" + si.errorDesc() + "/" + ti.errorDesc());
        awaitRunning(system, tgt);
        System.out.println("RESULT migrationWallMs=" + (System.nanoTime() - t0) / 1_000_000);
        MigrationInfo tiRunning = ((VmReply.Migration) ok(system, tgt, VmActor.QueryMigrate::new)).info();
        System.out.println("RESULT downtimeUs=" + (tiRunning.targetStartedNanos() - si.sourceStoppedNanos()) / 1000);
        long srcIcmpAfterMigration = guest(system, src).counters().icmpReplies();
        if (!during.waitFor(20, TimeUnit.SECONDS)) {
            during.destroyForcibly();
            throw new IllegalStateException("ping during the migration did not finish");
        }
        int[] d = parse(new String(during.getInputStream().readAllBytes()));
        System.out.println("RESULT pingDuring=" + d[0] + "/" + d[1]);

        long tgtIcmpBefore = guest(system, tgt).counters().icmpReplies();
        int[] after = ping(50);
        System.out.println("RESULT pingAfter=" + after[0] + "/" + after[1]);
        long tgtIcmpAfter = guest(system, tgt).counters().icmpReplies();
        long srcIcmpAfter = guest(system, src).counters().icmpReplies();
        System.out.println("RESULT targetGuestAnswered=" + (tgtIcmpAfter - tgtIcmpBefore));
        System.out.println("RESULT sourceGuestAnsweredAfterMigration=" + (srcIcmpAfter - srcIcmpAfterMigration));
        System.out.println("RESULT sourceGuestAnsweredBefore=" + srcIcmpBefore);
        String ifindexAfter = Files.readString(Path.of("/sys/class/net", IFNAME, "ifindex")).trim();
        System.out.println("RESULT ifindexAfter=" + ifindexAfter);
        System.out.println("RESULT targetTunsetiff=" + tgtOs.tunsetiff.get() + " sourceTunsetiff=" + srcOs.tunsetiff.get());

        ok(system, tgt, r -> new VmActor.DeviceDel("nic0", r));
        ok(system, tgt, r -> new VmActor.NetdevDel("net0", r));
        ok(system, src, r -> new VmActor.DeviceDel("nic0", r));
        ok(system, src, r -> new VmActor.NetdevDel("net0", r));
        System.out.println("RESULT downscripts=" + srcScripts.calls().size() + "/" + tgtScripts.calls().size());
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (OwnedFd.openCount() != fdsBefore && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        System.out.println("RESULT ownedFdsLeft=" + (OwnedFd.openCount() - fdsBefore));
        // the kernel unregisters a TAP whose last queue closed asynchronously (netdev_run_todo)
        while (Files.exists(Path.of("/sys/class/net", IFNAME)) && System.nanoTime() < deadline + WAIT.toNanos()) {
            Thread.sleep(5);
        }
        System.out.println("RESULT tapGone=" + !Files.exists(Path.of("/sys/class/net", IFNAME)));
    }

    private static ActorRef<VmActor.Command> spawn(ActorSystem<SpawnProtocol.Command> system, VmActor.VmConfig config,
            String name) throws Exception {
        return AskPattern.<SpawnProtocol.Command, ActorRef<VmActor.Command>>ask(system,
                r -> new SpawnProtocol.Spawn<>(VmActor.create(config), name, VmActor.DISPATCHER, r), WAIT,
                system.scheduler()).toCompletableFuture().get(20, TimeUnit.SECONDS);
    }

    private static VmReply ok(ActorSystem<SpawnProtocol.Command> system, ActorRef<VmActor.Command> vm,
            Function<ActorRef<VmReply>, VmActor.Command> command) throws Exception {
        VmReply r = AskPattern.ask(vm, command::apply, WAIT, system.scheduler()).toCompletableFuture()
                .get(20, TimeUnit.SECONDS);
        if (!r.isOk()) {
            throw new IllegalStateException("command failed: " + r);
        }
        return r;
    }

    private static MigrationInfo awaitFinal(ActorSystem<SpawnProtocol.Command> system, ActorRef<VmActor.Command> vm) throws Exception {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (System.nanoTime() < deadline) {
            MigrationInfo i = ((VmReply.Migration) ok(system, vm, VmActor.QueryMigrate::new)).info();
            if (i.status().isFinal()) {
                return i;
            }
            Thread.sleep(2);
        }
        throw new IllegalStateException("the migration did not end within " + WAIT);
    }

    @SuppressWarnings("unchecked")
    private static void awaitRunning(ActorSystem<SpawnProtocol.Command> system, ActorRef<VmActor.Command> vm) throws Exception {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (System.nanoTime() < deadline) {
            if (((VmReply.Status) ok(system, vm, VmActor.QueryStatus::new)).running()) {
                return;
            }
            Thread.sleep(2);
        }
        throw new IllegalStateException("the target did not resume");
    }

    @SuppressWarnings("unchecked")
    private static dev.livetap.actors.guest.GuestActor.GuestState guest(ActorSystem<SpawnProtocol.Command> system,
            ActorRef<VmActor.Command> vm) throws Exception {
        List<VirtioNetActor.NicInfo> nics = ((VmReply.Nics) ok(system, vm, VmActor.QueryNics::new)).nics();
        return nics.get(0).guest();
    }

    /** {transmitted, received} of {@code ping -c count -i 0.005}. */
    private static int[] ping(int count) throws Exception {
        Process p = new ProcessBuilder("ping", "-n", "-q", "-c", String.valueOf(count), "-i", "0.005", "-W", "1",
                "10.0.0.2").redirectErrorStream(true).start();
        if (!p.waitFor(20, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IllegalStateException("ping did not finish");
        }
        return parse(new String(p.getInputStream().readAllBytes()));
    }

    static int[] parse(String out) {
        Matcher m = Pattern.compile("(\\d+) packets transmitted, (\\d+) (packets )?received").matcher(out);
        if (!m.find()) {
            throw new IllegalStateException("unexpected ping output: " + out);
        }
        return new int[] {Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2))};
    }

    private static void sh(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        if (!p.waitFor(10, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IllegalStateException(String.join(" ", cmd) + " failed: " + new String(p.getInputStream().readAllBytes()));
        }
    }
}
