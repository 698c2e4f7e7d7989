package dev.livetap.actors.realkernel;

import dev.livetap.nativeio.Availability;
import dev.livetap.nativeio.FdInspector;
import dev.livetap.nativeio.MonotonicClock;
import dev.livetap.nativeio.Os;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.Reactor;
import dev.livetap.nativeio.Tun;
import dev.livetap.nativeio.TunInfo;
import dev.livetap.nativeio.UnixSockets;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/** The real OS, counting TUNSETIFF (openQueues) calls: the migration target must make none. */
final class CountingOs implements Os {
    private final Os os;
    final AtomicInteger tunsetiff = new AtomicInteger();
    private final Tun tun;

    CountingOs(Os os) {
        this.os = os;
        Tun real = os.tun();
        this.tun = new Tun() {
            @Override
            public List<OwnedFd> openQueues(String ifname, int queues, int flags) {
                tunsetiff.addAndGet(queues);
                return real.openQueues(ifname, queues, flags);
            }

            @Override
            public TunInfo info(OwnedFd queue) {
                return real.info(queue);
            }

            @Override
            public int features() {
                return real.features();
            }

            @Override
            public void setVnetHdrSize(OwnedFd queue, int size) {
                real.setVnetHdrSize(queue, size);
            }

            @Override
            public int vnetHdrSize(OwnedFd queue) {
                return real.vnetHdrSize(queue);
            }

            @Override
            public void setQueueAttached(OwnedFd queue, boolean attached) {
                real.setQueueAttached(queue, attached);
            }

            @Override
            public void setOffload(OwnedFd queue, int offloads) {
                real.setOffload(queue, offloads);
            }

            @Override
            public void setPersist(OwnedFd queue, boolean persist) {
                real.setPersist(queue, persist);
            }

            @Override
            public int readFrame(OwnedFd queue, ByteBuffer into) {
                return real.readFrame(queue, into);
            }

            @Override
            public boolean writeFrame(OwnedFd queue, ByteBuffer frame) {
                return real.writeFrame(queue, frame);
            }
        };
    }

    @Override
    public Tun tun() {
        return tun;
    }

    @Override
    public UnixSockets unix() {
        return os.unix();
    }

    @Override
    public FdInspector fds() {
        return os.fds();
    }

    @Override
    public Reactor reactor() {
        return os.reactor();
    }

    @Override
    public MonotonicClock clock() {
        return os.clock();
    }

    @Override
    public Availability availability() {
        return os.availability();
    }

    @Override
    public boolean threadInProcessNetns() {
        return os.threadInProcessNetns();
    }
}
