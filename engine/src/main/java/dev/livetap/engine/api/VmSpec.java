package dev.livetap.engine.api;

import dev.livetap.actors.guest.Ipv4Address;
import dev.livetap.actors.options.MachineType;
import java.util.Objects;

/**
 * How to create one VM endpoint: its name, machine type (default: the latest q35, with
 * {@code backend-transfer} on), and QEMU's start flags: {@code incoming} ({@code -incoming}: run
 * state {@code inmigrate}, waits for {@code migrate-incoming}) and {@code paused} ({@code -S}: a
 * target stays paused after its incoming migration until {@code cont}; a non-incoming endpoint
 * starts in {@code prelaunch}). {@code guestIp} is the IPv4 address the guest stand-in answers
 * ARP and ICMP echo for, unless a device says otherwise ({@link VirtioNetDevice#guestIp()}).
 *
 * @param name     1-64 characters of {@code [A-Za-z0-9._-]} starting with a letter or digit
 * @param machine  a machine type name or alias ({@code q35}, {@code pc-q35-10.2}, ...)
 * @param incoming QEMU's {@code -incoming defer}
 * @param paused   QEMU's {@code -S}
 * @param guestIp  dotted IPv4 address of the guest stand-in
 */
public record VmSpec(String name, String machine, boolean incoming, boolean paused, String guestIp) {
    /** The guest stand-in's address unless configured: 10.0.1.2 (host side 10.0.1.1/24 in the docs and tests). */
    public static final String DEFAULT_GUEST_IP = "10.0.1.2";
    /** The machine type unless configured: the latest q35. */
    public static final String DEFAULT_MACHINE = "q35";

    /** Checks every member; a bad one fails with {@link IllegalArgumentException} naming it. */
    public VmSpec {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(machine, "machine");
        Objects.requireNonNull(guestIp, "guestIp");
        if (!name.matches("[A-Za-z0-9][A-Za-z0-9._-]{0,63}")) {
            throw new IllegalArgumentException("a VM name is 1-64 characters of [A-Za-z0-9._-] starting with a letter or digit; got '"
                    + name + "'");
        }
        try {
            MachineType.parse(machine);
            Ipv4Address.parse(guestIp);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(e.getMessage(), e);
        }
    }

    /** A running (not incoming, not paused) endpoint on the latest q35 machine type. */
    public static VmSpec of(String name) {
        return new VmSpec(name, DEFAULT_MACHINE, false, false, DEFAULT_GUEST_IP);
    }

    /** {@code -machine TYPE}. */
    public VmSpec machine(String type) {
        return new VmSpec(name, type, incoming, paused, guestIp);
    }

    /** {@code -incoming defer}: the endpoint waits for {@code migrate-incoming}. */
    public VmSpec incoming(boolean on) {
        return new VmSpec(name, machine, on, paused, guestIp);
    }

    /** {@code -S}. */
    public VmSpec paused(boolean on) {
        return new VmSpec(name, machine, incoming, on, guestIp);
    }

    /** The guest stand-in's IPv4 address. */
    public VmSpec guestIp(String ipv4) {
        return new VmSpec(name, machine, incoming, paused, ipv4);
    }
}
