package dev.livetap.testbed.qemu;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.livetap.testbed.ChildProcess;
import dev.livetap.testbed.NetworkNamespace;
import dev.livetap.testbed.guest.GuestImage;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * A real {@code qemu-system-x86_64} (TCG, {@code -nodefaults}, q35, no display) with its QMP
 * socket, in one of two modes. {@link #start}: 64 MiB and a 64 KiB firmware that only halts, so a
 * "running" VM costs no CPU and needs no guest kernel (lifecycle and migration scenarios), inside an
 * anonymous namespace when one can be made. {@link #startGuest}: a Linux guest ({@link Guest}) whose
 * virtio-net NIC sits on a multiqueue TAP, inside a {@link NetworkNamespace} the caller made. Stderr
 * goes to a file; {@link #close()} kills and reaps the process.
 */
public final class QemuProcess implements AutoCloseable {
    public static final String BINARY = "qemu-system-x86_64";
    /** The id of the PCIe root port every QEMU starts with, for {@code device_add bus=}. */
    public static final String HOTPLUG_PORT = "rp0";
    private static final int FIRMWARE_BYTES = 64 * 1024;
    /** The ids every guest-mode QEMU gives its netdev and NIC (the target's must match the source's). */
    public static final String NETDEV_ID = "n0";
    public static final String NIC_ID = "nic0";
    public static final String GUEST_MAC = "52:54:00:12:34:56";

    /** How a guest's NIC reaches its TAP. */
    public sealed interface Netdev permits TapByName, TapByFds, NetdevLater {
    }

    /** QEMU attaches the TAP's queues by name ({@code ifname=}; it creates the TAP if none exists). */
    public record TapByName(String ifname) implements Netdev {
    }

    /** QEMU takes queue fds it already holds: inherited numbers or names given with {@code getfd} ({@code fds=a:b}). */
    public record TapByFds(List<String> fds) implements Netdev {
        public TapByFds {
            fds = List.copyOf(fds);
        }
    }

    /** No netdev and no NIC on the command line: the caller adds both over QMP ({@link #netdevAdd}, {@link #nicDeviceAdd}). */
    public enum NetdevLater implements Netdev {
        INSTANCE
    }

    /**
     * A Linux guest: kernel and initramfs, the kernel command line, memory, and one virtio-net-pci
     * NIC ({@code mq=on}, vectors 2*queues+2, on the PCIe root port so it is virtio 1.0 only) on a
     * {@code queues}-queue TAP ({@code vhost=off}).
     */
    public record Guest(Path kernel, Path initrd, String append, int memoryMb, int queues, Netdev netdev) {
        public static final String DEFAULT_APPEND = "console=ttyS0 panic=-1 quiet";

        /** The image's guest with 128 MiB and {@code queues} queues. */
        public static Guest of(GuestImage image, int queues, Netdev netdev) {
            return new Guest(image.kernel(), image.initrd(), DEFAULT_APPEND, 128, queues, netdev);
        }

        public Guest {
            if (queues < 1) {
                throw new IllegalArgumentException("queues must be >= 1: " + queues);
            }
        }
    }

    private final String name;
    private final Path qmp;
    private final ChildProcess child;

    private QemuProcess(String name, Path qmp, ChildProcess child) {
        this.name = name;
        this.qmp = qmp;
        this.child = child;
    }

    /** Empty when {@link #BINARY} is on the PATH; else why the oracle cannot run. */
    public static Optional<String> unavailabilityCause() {
        return ChildProcess.findOnPath(BINARY).isPresent() ? Optional.empty()
                : Optional.of(BINARY + " is not on the PATH (Debian package qemu-system-x86)");
    }

    public static boolean isAvailable() {
        return unavailabilityCause().isEmpty();
    }

    /**
     * Starts {@code NAME} with its QMP socket at {@code DIR/NAME.qmp} (server, no wait) and its
     * firmware and stderr in {@code dir}; does not wait for the socket.
     *
     * @param incoming {@code -incoming defer} (a migration target waiting for {@code migrate-incoming})
     * @param paused {@code -S} (stay paused until {@code cont})
     */
    public static QemuProcess start(Path dir, String name, boolean incoming, boolean paused, List<String> extraArgs) {
        unavailabilityCause().ifPresent(cause -> {
            throw new IllegalStateException(cause);
        });
        Path qmp = dir.resolve(name + ".qmp");
        Path firmware = dir.resolve("halt-firmware.bin");
        try {
            if (!Files.exists(firmware)) {
                Files.write(firmware, haltFirmware());
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + firmware, e);
        }
        List<String> cmd = new ArrayList<>(List.of(BINARY, "-nodefaults", "-machine", "q35", "-accel", "tcg",
                "-m", "64", "-display", "none", "-bios", firmware.toString(), "-name", name,
                "-qmp", "unix:" + qmp + ",server=on,wait=off",
                // one free hot-plug slot, as libvirt lays out a q35 machine (pcie.0 itself takes no hot-plug)
                "-device", "pcie-root-port,id=" + HOTPLUG_PORT + ",bus=pcie.0,chassis=1"));
        if (incoming) {
            cmd.addAll(List.of("-incoming", "defer"));
        }
        if (paused) {
            cmd.add("-S");
        }
        cmd.addAll(extraArgs);
        return new QemuProcess(name, qmp, ChildProcess.start(ChildProcess.inPrivateNetns(cmd), dir, name));
    }

    /**
     * Starts {@code NAME} booting {@code guest}, inside {@code namespace} ({@code ip netns exec}; null
     * when this process already runs inside the namespace it wants), with its QMP socket at
     * {@code DIR/NAME.qmp} and the guest's console in {@code DIR/NAME.console}; does not wait.
     */
    public static QemuProcess startGuest(Path dir, String name, Guest guest, NetworkNamespace namespace, boolean incoming,
            boolean paused) {
        unavailabilityCause().ifPresent(cause -> {
            throw new IllegalStateException(cause);
        });
        Path qmp = dir.resolve(name + ".qmp");
        List<String> cmd = new ArrayList<>(List.of(BINARY, "-nodefaults", "-machine", "q35", "-accel", "tcg",
                "-m", String.valueOf(guest.memoryMb()), "-display", "none", "-no-reboot", "-name", name,
                "-qmp", "unix:" + qmp + ",server=on,wait=off",
                "-serial", "file:" + dir.resolve(name + ".console"),
                "-kernel", guest.kernel().toString(), "-initrd", guest.initrd().toString(), "-append", guest.append(),
                "-device", "pcie-root-port,id=" + HOTPLUG_PORT + ",bus=pcie.0,chassis=1"));
        if (guest.netdev() instanceof TapByName t) {
            cmd.addAll(List.of("-netdev", "tap,id=" + NETDEV_ID + ",ifname=" + t.ifname()
                    + ",script=no,downscript=no,vhost=off,queues=" + guest.queues(), "-device", nicOption(guest.queues())));
        } else if (guest.netdev() instanceof TapByFds f) {
            cmd.addAll(List.of("-netdev", "tap,id=" + NETDEV_ID + ",fds=" + String.join(":", f.fds()) + ",vhost=off",
                    "-device", nicOption(guest.queues())));
        }
        if (incoming) {
            cmd.addAll(List.of("-incoming", "defer"));
        }
        if (paused) {
            cmd.add("-S");
        }
        List<String> full = namespace == null ? cmd : namespace.wrap(cmd);
        return new QemuProcess(name, qmp, ChildProcess.start(full, dir, name));
    }

    private static String nicOption(int queues) {
        return "virtio-net-pci,id=" + NIC_ID + ",netdev=" + NETDEV_ID + ",mq=on,vectors=" + (2 * queues + 2) + ",mac="
                + GUEST_MAC + ",bus=" + HOTPLUG_PORT;
    }

    /** Arguments of {@code netdev_add} for a TAP netdev on the fds stored under {@code fdNames} by {@code getfd}. */
    public static ObjectNode netdevAdd(List<String> fdNames) {
        return JsonNodeFactory.instance.objectNode().put("type", "tap").put("id", NETDEV_ID)
                .put("fds", String.join(":", fdNames)).put("vhost", false);
    }

    /** Arguments of {@code device_add} for the NIC the command-line forms create. */
    public static ObjectNode nicDeviceAdd(int queues) {
        return JsonNodeFactory.instance.objectNode().put("driver", "virtio-net-pci").put("id", NIC_ID)
                .put("netdev", NETDEV_ID).put("mq", true).put("vectors", 2 * queues + 2).put("mac", GUEST_MAC)
                .put("bus", HOTPLUG_PORT);
    }

    /**
     * Arguments of {@code migrate-set-capabilities} that turn on the {@code events} capability:
     * QEMU sends MIGRATION events (setup, active, device, completed...) only with it.
     */
    public static ObjectNode migrationEventsOn() {
        ObjectNode args = JsonNodeFactory.instance.objectNode();
        args.putArray("capabilities").addObject().put("capability", "events").put("state", true);
        return args;
    }

    /** The guest's serial console so far (guest mode). */
    public String console() {
        try {
            Path console = qmp.resolveSibling(name + ".console");
            return Files.exists(console) ? Files.readString(console) : "";
        } catch (IOException e) {
            return "<cannot read the console: " + e + ">";
        }
    }

    /**
     * The reset vector at 0xFFFF0 (the last 16 bytes of the image) holds {@code cli; hlt; jmp $-3}:
     * the CPU halts with interrupts off, so TCG sleeps instead of running a BIOS boot loop.
     */
    static byte[] haltFirmware() {
        byte[] image = new byte[FIRMWARE_BYTES];
        int reset = FIRMWARE_BYTES - 16;
        image[reset] = (byte) 0xFA;
        image[reset + 1] = (byte) 0xF4;
        image[reset + 2] = (byte) 0xEB;
        image[reset + 3] = (byte) 0xFD;
        return image;
    }

    public String name() {
        return name;
    }

    public Path qmpSocket() {
        return qmp;
    }

    /**
     * Waits (bounded) until the QMP socket accepts a connection; false if the process exits or the
     * time passes first. The path exists from QEMU's bind(), a moment before its listen(): a client
     * connecting in between is refused, so the wait ends on a connect that succeeded (closed at once;
     * QEMU's QMP chardev takes the next client).
     */
    public boolean awaitQmpSocket(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        if (!child.awaitFile(qmp, timeout)) {
            return false;
        }
        Duration left = Duration.ofNanos(Math.max(0, deadline - System.nanoTime()));
        return dev.livetap.testbed.Retry.until(left, Duration.ofMillis(5), () -> {
            if (!child.isAlive()) {
                return false;
            }
            try (var probe = java.nio.channels.SocketChannel.open(java.net.StandardProtocolFamily.UNIX)) {
                probe.connect(java.net.UnixDomainSocketAddress.of(qmp));
                return true;
            } catch (java.io.IOException refused) {
                return false; // bound, not listening yet
            }
        });
    }

    public ChildProcess process() {
        return child;
    }

    @Override
    public void close() {
        child.close();
    }

    @Override
    public String toString() {
        return "qemu " + name + " (" + new File(qmp.toString()).getName() + ")";
    }
}
