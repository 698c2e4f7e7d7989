package dev.livetap.actors.tap;

import dev.livetap.actors.options.OptionException;
import dev.livetap.actors.options.TapNetdevOptions;
import dev.livetap.nativeio.FdKind;
import dev.livetap.nativeio.NativeException;
import dev.livetap.nativeio.Os;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.TunFlags;
import dev.livetap.nativeio.TunInfo;
import java.util.List;

/**
 * The already open TAP queue fds of a {@code netdev_add fd=NAME} / {@code fds=A:B:C} (QEMU's way,
 * used by libvirt: the fds come with {@code getfd}), checked as an incoming fd is checked before
 * the netdev takes them: a TUN character device (fstat), TUNGETIFF naming one interface, the flags
 * of a livetap queue (IFF_TAP, IFF_NO_PI; IFF_VNET_HDR as on every other fd; IFF_MULTI_QUEUE iff
 * more than one), attached, no open file twice (kcmp). {@code vnet_hdr} is taken from the fds, as
 * QEMU's {@code tap_probe_vnet_hdr} does (the option is invalid with {@code fd=}/{@code fds=}).
 *
 * @param names   the fd names, in queue order ({@code fd=} one, {@code fds=} several)
 * @param fds     the fds, one per name, owned by whoever holds this record
 * @param ifname  the interface the fds belong to (from TUNGETIFF)
 * @param vnetHdr whether the TAP has IFF_VNET_HDR
 */
public record PassedTapFds(List<String> names, List<OwnedFd> fds, String ifname, boolean vnetHdr) {
    /** QEMU's text (net/tap.c) for {@code fds=} whose TAPs disagree on IFF_VNET_HDR. */
    public static final String VNET_HDR_NOT_CONSISTENT = "vnet_hdr not consistent across given tap fds";
    /** The virtio_net_hdr length livetap's queues use (the kernel's default). */
    static final int VNET_HDR_LEN = 10;

    public PassedTapFds {
        names = List.copyOf(names);
        fds = List.copyOf(fds);
    }

    /** The fd names the options give, in queue order: {@code fd=} one, {@code fds=} several, else none. */
    public static List<String> namesOf(TapNetdevOptions o) {
        return o.fd().map(List::of).orElse(o.fds());
    }

    /**
     * Checks {@code fds} (one per name of {@link #namesOf}) for netdev {@code o} and takes them.
     * On any refusal every fd is closed and an {@link OptionException} names the fd and the
     * problem. Passing, each fd is made non-blocking (as QEMU makes passed fds) and, with
     * IFF_VNET_HDR, its device's TUNSETVNETHDRSZ is set to 10 (livetap's queues use 10 bytes).
     *
     * @return null when the options name no fd and none came (a netdev that opens its own queues)
     */
    public static PassedTapFds take(TapNetdevOptions o, List<OwnedFd> fds, Os os) {
        try {
            return check(o, fds, os);
        } catch (RuntimeException e) {
            OwnedFd.closeAll(fds);
            throw e;
        }
    }

    private static PassedTapFds check(TapNetdevOptions o, List<OwnedFd> fds, Os os) {
        List<String> names = namesOf(o);
        if (names.isEmpty()) {
            if (!fds.isEmpty()) {
                throw new OptionException("netdev '" + o.id() + "' names no fd= or fds=, but " + fds.size()
                        + " file descriptor(s) came with netdev_add; they were closed");
            }
            return null;
        }
        String option = o.fd().isPresent() ? "fd" : "fds";
        if (fds.size() != names.size()) {
            throw new OptionException(option + "=" + String.join(":", names) + " names " + names.size()
                    + " file descriptor(s) but " + fds.size() + " came with netdev_add");
        }
        String ifname = null;
        Boolean vnetHdr = o.vnetHdrOption().orElse(null);
        for (int q = 0; q < fds.size(); q++) {
            String what = "fd '" + names.get(q) + "' (" + option + "=, queue " + q + ")";
            OwnedFd fd = fds.get(q);
            TunInfo info;
            try {
                FdKind kind = os.fds().kind(fd);
                if (kind != FdKind.TUN) {
                    throw new OptionException(what + " is not a TAP queue (fstat: " + kind
                            + ", expected character device 10:200)");
                }
                info = os.tun().info(fd);
            } catch (NativeException e) {
                throw new OptionException(what + " is not an attached TAP queue: " + e.getMessage());
            }
            String expected = o.ifname().orElse(ifname);
            if (expected != null && !info.name().equals(expected)) {
                throw new OptionException(what + " belongs to interface " + info.name() + ", expected " + expected
                        + (o.ifname().isPresent() ? " (ifname=)" : " (as the fds before it)"));
            }
            ifname = info.name();
            int flags = info.flags();
            if ((flags & TunFlags.IFF_TAP) == 0) {
                throw new OptionException(what + " is a TUN (layer 3) queue, not a TAP (IFF_TAP)");
            }
            if ((flags & TunFlags.IFF_NO_PI) == 0) {
                throw new OptionException(what + " was opened without IFF_NO_PI (frames would carry packet information)");
            }
            boolean hdr = (flags & TunFlags.IFF_VNET_HDR) != 0;
            if (vnetHdr == null) {
                vnetHdr = hdr;
            } else if (vnetHdr != hdr) {
                throw new OptionException(VNET_HDR_NOT_CONSISTENT + ": " + what + (hdr ? " has" : " lacks")
                        + " IFF_VNET_HDR");
            }
            boolean mq = (flags & TunFlags.IFF_MULTI_QUEUE) != 0;
            if (fds.size() > 1 && !mq) {
                throw new OptionException(what + " was opened without IFF_MULTI_QUEUE, but " + option + "= names "
                        + fds.size() + " queues");
            }
            if (fds.size() == 1 && mq) {
                throw new OptionException(what + " has IFF_MULTI_QUEUE but the netdev has one queue (livetap keeps a"
                        + " one-queue TAP single-queue, as its incoming-fds targets expect)");
            }
            if (info.detached()) {
                throw new OptionException(what + " is a detached queue (IFF_DETACH_QUEUE): attach it (TUNSETQUEUE)"
                        + " before passing it");
            }
            for (int p = 0; p < q; p++) {
                if (os.fds().sameOpenFile(fds.get(p), fd)) {
                    throw new OptionException("fds '" + names.get(p) + "' and '" + names.get(q)
                            + "' are the same open file (kcmp): one TAP queue cannot serve two queues");
                }
            }
        }
        try {
            for (OwnedFd fd : fds) {
                if (!os.fds().isNonBlocking(fd)) {
                    os.fds().setNonBlocking(fd, true); // QEMU sets O_NONBLOCK on passed fds too
                }
            }
            if (vnetHdr && os.tun().vnetHdrSize(fds.get(0)) != VNET_HDR_LEN) {
                os.tun().setVnetHdrSize(fds.get(0), VNET_HDR_LEN); // per device: one call serves every queue
            }
        } catch (NativeException e) {
            throw new OptionException("the fds of " + option + "=" + String.join(":", names) + " could not be set up: "
                    + e.getMessage());
        }
        return new PassedTapFds(names, fds, ifname, vnetHdr);
    }
}
