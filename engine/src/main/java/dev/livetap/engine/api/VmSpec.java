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
 * ARP and ICMP echo for, unless a {@code device_add} says otherwise ({@code x-guest-ip}).
 */
public record VmSpec(String name, MachineType machine, boolean incoming, boolean paused, Ipv4Address guestIp) {
    /** The guest stand-in's address unless configured: 10.0.1.2 (host side 10.0.1.1/24 in the docs and tests). */
    public static final String DEFAULT_GUEST_IP = "10.0.1.2";

    public VmSpec {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(machine, "machine");
        Objects.requireNonNull(guestIp, "guestIp");
        if (!name.matches("[A-Za-z0-9][A-Za-z0-9._-]{0,63}")) {
            throw new IllegalArgumentException("a VM name is 1-64 characters of [A-Za-z0-9._-] starting with a letter or digit; got '"
                    + name + "'");
        }
    }

    /** A running (not incoming, not paused) endpoint on the latest q35 machine type. */
    public static VmSpec of(String name) {
        return new VmSpec(name, MachineType.parse("q35"), false, false, Ipv4Address.parse(DEFAULT_GUEST_IP));
    }

    /** {@code -machine TYPE}: a name or alias as {@link MachineType#parse} accepts ({@code q35}, {@code pc-q35-10.2}, ...). */
    public VmSpec machine(String type) {
        return new VmSpec(name, MachineType.parse(type), incoming, paused, guestIp);
    }

    /** {@code -incoming defer}: the endpoint waits for {@code migrate-incoming}. */
    public VmSpec incoming(boolean on) {
        return new VmSpec(name, machine, on, paused, guestIp);
    }

    /** {@code -S}. */
    public VmSpec paused(boolean on) {
        return new VmSpec(name, machine, incoming, on, guestIp);
    }

    public VmSpec guestIp(String ipv4) {
        return new VmSpec(name, machine, incoming, paused, Ipv4Address.parse(ipv4));
    }
}
