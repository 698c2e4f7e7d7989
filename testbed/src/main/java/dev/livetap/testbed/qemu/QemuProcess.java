package dev.livetap.testbed.qemu;

import dev.livetap.testbed.ChildProcess;
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
 * A real {@code qemu-system-x86_64} (TCG, {@code -nodefaults}, 64 MiB, no display) with its QMP
 * socket, started inside a private network namespace when one can be made. It runs a 64 KiB
 * firmware that only halts, so a "running" VM costs no CPU and needs no guest kernel (lifecycle
 * and migration scenarios). Stderr goes to a file; {@link #close()} kills and reaps the process.
 */
public final class QemuProcess implements AutoCloseable {
    public static final String BINARY = "qemu-system-x86_64";
    /** The id of the PCIe root port every QEMU starts with, for {@code device_add bus=}. */
    public static final String HOTPLUG_PORT = "rp0";
    private static final int FIRMWARE_BYTES = 64 * 1024;

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

    /** Waits (bounded) until the QMP socket exists; false if the process exits or the time passes first. */
    public boolean awaitQmpSocket(Duration timeout) {
        return child.awaitFile(qmp, timeout);
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
